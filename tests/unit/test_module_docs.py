"""Every module's DOCUMENTATION/EXAMPLES/RETURN parses and matches its argument spec (ansible-doc and
ansible-test's validate-modules are not available offline, so this is the part of them we can run)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
FILTERS = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.py") if p.stem != "__init__")


def text_only(doc, where=""):
    """Descriptions must be text: a list item with ': ' in it parses as a dict (ansible-doc --json accepts it, the
    text output and the docs site break on it)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "description":
                items = value if isinstance(value, list) else [value]
                bad = [i for i in items if not isinstance(i, str)]
                assert not bad, f"{where}.description has non-text items (': ' in a plain scalar?): {bad}"
            text_only(value, f"{where}.{key}")
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            text_only(value, f"{where}[{i}]")


def ansible_doc(*args, check=True):
    """ansible-doc --json *args; with check=False, {} when it fails."""
    out = subprocess.run([Path(sys.executable).parent / "ansible-doc", "--json", *args],
                         capture_output=True, text=True, check=False, cwd=REPO,
                         env=os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    if out.returncode and not check:
        return {}
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
RUNTIME = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())


@pytest.fixture(scope="module")
def module_docs():
    """ansible-doc of every module in one run (a run per module costs a second of CPU each). When that run fails (a
    module whose documentation does not load fails it), each test runs ansible-doc on its own module instead."""
    return ansible_doc(*(f"edgeml.wavelength.{m}" for m in MODULES), check=False)


@pytest.mark.parametrize("module", MODULES)
def test_module_documentation(module, module_docs):
    name = f"edgeml.wavelength.{module}"
    doc = module_docs[name] if name in module_docs else ansible_doc(name)[name]
    text_only(doc["doc"], module)
    text_only(doc["return"], f"{module} RETURN")
    assert doc["doc"]["version_added"] == "0.1.0"
    assert doc["doc"]["short_description"]
    assert doc["examples"].strip()
    assert doc["return"] is not None


def test_filter_documentation():
    docs = ansible_doc("-t", "filter", *(f"edgeml.wavelength.{f}" for f in FILTERS))
    assert set(docs) == {f"edgeml.wavelength.{f}" for f in FILTERS}
    for name, doc in docs.items():
        text_only(doc["doc"], name)
        assert doc["doc"]["short_description"] and doc["examples"].strip()


def test_aws_modules_are_in_the_action_group():
    aws = {m for m in MODULES if m not in ("k8s_validate", "k8s_objects", "endpoint_probe")}
    assert set(RUNTIME["action_groups"]["aws"]) == aws

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
RUNTIME = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())


@pytest.mark.parametrize("module", MODULES)
def test_module_documentation(module):
    out = subprocess.run([Path(sys.executable).parent / "ansible-doc", "--json", f"edgeml.wavelength.{module}"],
                         capture_output=True, text=True, check=False, cwd=REPO,
                         env=os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)[f"edgeml.wavelength.{module}"]
    assert doc["doc"]["version_added"] == "0.1.0"
    assert doc["doc"]["short_description"]
    assert doc["examples"].strip()
    assert doc["return"] is not None


def test_aws_modules_are_in_the_action_group():
    aws = {m for m in MODULES if m not in ("k8s_validate", "endpoint_probe")}
    assert set(RUNTIME["action_groups"]["aws"]) == aws

"""Helpers of the end-to-end tests: run site.yml / teardown.yml on the running lab as a user runs them."""

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = "http://127.0.0.1:4566/_lab"


def lab_api(path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{LAB}/{path}", data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc, self.out = proc.returncode, proc.stdout + proc.stderr

    def __repr__(self) -> str:
        return self.out[-3000:]


def playbook(name: str, extra: dict, env: dict | None = None, timeout: float = 900) -> Run:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(REPO / "inventories" / "lab"),
           str(REPO / name), "-e", json.dumps(extra)]
    base = os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    merged = {k: v for k, v in (base | (env or {})).items() if v is not None}  # None unsets a variable
    return Run(subprocess.run(cmd, env=merged, capture_output=True, text=True, timeout=timeout, check=False))


def leftovers(before: dict, after: dict) -> dict:
    """What exists now that did not exist before, per resource kind."""
    def flat(res):
        out = set()
        for kind, value in res.items():
            items = [i for ids in value.values() for i in ids] if isinstance(value, dict) else value
            out |= {(kind, i) for i in items}
        return out
    return sorted(flat(after) - flat(before))


@pytest.fixture
def deployment():
    """Inputs of one isolated deployment (own name, bucket); torn down (purged) after the test, whatever happened."""
    name = f"e2e{uuid.uuid4().hex[:6]}"
    extra = {"edge_name": name, "edge_artifact_bucket": f"{name}-artifacts"}
    before = lab_api("resources")
    yield extra, before
    if not leftovers(before, lab_api("resources")):
        return  # nothing was created (a bad input stopped the run): no teardown to run
    playbook("teardown.yml", extra | {"edge_teardown_purge_artifacts": True,
                                      "edge_zones": ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1",
                                                     "us-east-1-wl1-mia-wlz-1"]})

"""Shared by the lab benchmarks: run a playbook of this clone against inventories/lab."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

# What the demo model takes and gives (the SageMaker hosting contract).
CONTRACT = {"Content-Type": "application/x-text", "Accept": "application/json;verbose"}


def play(playbook: str, extra: dict) -> float:
    """Run a playbook of this clone on the lab; the seconds it took. Fails loudly with the run's tail."""
    env = os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    start = time.perf_counter()
    out = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(REPO / "inventories" / "lab"),
                          str(REPO / playbook), "-e", json.dumps(extra)], env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-4000:])
        raise SystemExit(f"{playbook} failed (rc {out.returncode})")
    return round(time.perf_counter() - start, 1)

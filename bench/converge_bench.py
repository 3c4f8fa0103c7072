"""Converge benchmark of site.yml on the edge lab (issues 6, 9): prints a JSON report.

Needs a running lab (`make lab-up`, images built). Measures: cold converge for 1 zone, the no-change re-run, the
node, deploy and endpoint stages each alone on the converged deployment,
cold converge for 3 zones, and a cold converge with the lab's EKS creation delay set to 60 s (does the rest of the
work overlap control-plane creation?). Tears down between runs (artifacts purged), and at the end.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLAYBOOK = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(REPO / "inventories" / "lab")]
LAB_API = "http://127.0.0.1:4566/_lab/config"
ONE_ZONE = ["us-east-1-wl1-bos-wlz-1"]
THREE_ZONES = ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"]
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def lab_config(body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(LAB_API, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 (loopback lab API)
        return json.loads(reply.read())


def play(playbook: str, extra: dict) -> dict:
    env = os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    start = time.perf_counter()
    out = subprocess.run([*PLAYBOOK, str(REPO / playbook), "-e", json.dumps(extra)], env=env,
                         capture_output=True, text=True, check=False)
    seconds = round(time.perf_counter() - start, 1)
    recap = RECAP.search(out.stdout)
    if out.returncode != 0 or not recap:
        sys.stderr.write(out.stdout[-4000:] + out.stderr[-2000:])
        raise SystemExit(f"{playbook} failed (rc {out.returncode})")
    return {"seconds": seconds, "changed": int(recap.group(2)), "tasks_ok": int(recap.group(1))}


def teardown() -> None:
    play("teardown.yml", {"edge_teardown_purge_artifacts": True, "edge_zones": THREE_ZONES})


def main() -> None:
    delays = lab_config()["delays"]
    report = {"lab_delays": delays}
    teardown()
    report["cold_1_zone"] = play("site.yml", {"edge_zones": ONE_ZONE})
    report["rerun_1_zone"] = play("site.yml", {"edge_zones": ONE_ZONE})
    # Each stage alone on the converged deployment (it finds what it needs itself): no change either.
    report["alone_no_change"] = {stage: play(f"playbooks/{stage}.yml", {"edge_zones": ONE_ZONE})
                                 for stage in ("nodes", "deploy", "endpoints")}
    teardown()
    report["cold_3_zones"] = play("site.yml", {"edge_zones": THREE_ZONES})
    teardown()
    lab_config({"delays": {"eks_create": 60}})
    try:
        report["cold_1_zone_eks_delay_60s"] = play("site.yml", {"edge_zones": ONE_ZONE})
    finally:
        lab_config({"delays": delays})
        teardown()
    cold, rerun, three = report["cold_1_zone"], report["rerun_1_zone"], report["cold_3_zones"]
    slow = report["cold_1_zone_eks_delay_60s"]["seconds"]
    report["targets"] = {
        "cold_1_zone_le_90s": cold["seconds"] <= 90,
        "rerun_le_20s_zero_changes": rerun["seconds"] <= 20 and rerun["changed"] == 0,
        "stages_alone_zero_changes": all(r["changed"] == 0 for r in report["alone_no_change"].values()),
        "three_zones_le_1.3x_one_zone": three["seconds"] <= 1.3 * cold["seconds"],
        "eks_delay_60s_total_le_90s": slow <= 1.5 * 60,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

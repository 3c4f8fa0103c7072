"""What a phone sees at a zone's stable address while its serving node is replaced (issues 10, 11): prints JSON.

Needs a running lab (`make lab-up`). Converges site.yml (1 zone), then a device client on the lab's carrier network
(127.0.2.10) sends one request every 50 ms to the zone's stable address, while the bench terminates the serving
instance through the EC2 API (as a hardware failure or a spot reclaim would) and re-runs site.yml, which moves the
address to the replacement node. Reports the requests sent, failed, the longest run of failures, when the address
answered again relative to the termination, and how long the converge took. Tears down at the end.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
from edgelab import awsclient, device  # device: a phone on the lab's carrier network

NAME = "failoverbench"
ZONE = "us-east-1-wl1-bos-wlz-1"
EXTRA = {"edge_name": NAME, "edge_artifact_bucket": f"{NAME}-artifacts", "edge_zones": [ZONE]}
CONTRACT = {"Content-Type": "application/x-text", "Accept": "application/json;verbose"}


def play(playbook: str, extra: dict) -> float:
    env = os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    start = time.perf_counter()
    out = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(REPO / "inventories" / "lab"),
                          str(REPO / playbook), "-e", json.dumps(extra)], env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-4000:])
        raise SystemExit(f"{playbook} failed (rc {out.returncode})")
    return round(time.perf_counter() - start, 1)


class Phone(threading.Thread):
    """Sends a request every `period` s; records (time, ok) of each."""

    def __init__(self, url: str, period: float = 0.05):
        super().__init__(daemon=True)
        self.url, self.period, self.results, self.stop = url, period, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                ok = device.request(self.url, b"A fine film.", headers=CONTRACT, timeout=1.0)[0] == 200
            except (OSError, ValueError):
                ok = False
            self.results.append((start, ok))
            self.stop.wait(max(0.0, self.period - (time.monotonic() - start)))


def main() -> None:
    ec2 = awsclient.client("ec2")
    report = {"cold_converge_s": play("site.yml", EXTRA)}
    try:
        [address] = ec2.describe_addresses(Filters=[{"Name": "tag:edgeml:deployment", "Values": [NAME]}])["Addresses"]
        phone = Phone(f"http://{address['CarrierIp']}:30007/invocations")
        phone.start()
        time.sleep(3)  # a baseline of good requests
        terminated_at = time.monotonic()
        ec2.terminate_instances(InstanceIds=[address["InstanceId"]])
        report["converge_after_termination_s"] = play("site.yml", EXTRA)
        time.sleep(3)
        phone.stop.set()
        phone.join()
        after = [(t - terminated_at, ok) for t, ok in phone.results if t >= terminated_at]
        longest, run = 0, 0
        for _, ok in after:
            run = 0 if ok else run + 1
            longest = max(longest, run)
        first_failure = next((t for t, ok in after if not ok), None)
        back = next((t for t, ok in after if ok and first_failure is not None and t > first_failure), None)
        report |= {
            "requests": len(phone.results), "failed": sum(1 for _, ok in phone.results if not ok),
            "longest_failure_run": longest,
            "first_failure_after_termination_s": None if first_failure is None else round(first_failure, 1),
            "answering_again_after_termination_s": None if back is None else round(back, 1),
            "same_address": ec2.describe_addresses(AllocationIds=[address["AllocationId"]])["Addresses"][0][
                "CarrierIp"] == address["CarrierIp"],
        }
    finally:
        play("teardown.yml", EXTRA | {"edge_teardown_purge_artifacts": True})
    report["targets"] = {"no_failed_request": report.get("failed") == 0}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

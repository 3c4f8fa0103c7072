"""What a phone sees at a zone's stable address while its serving node is replaced (issues 10, 11): prints JSON.

Needs a running lab (`make lab-up`). Converges site.yml (1 zone), then a device client on the lab's carrier network
(127.0.2.10) sends one request every 50 ms to the zone's stable address, while the bench terminates the serving
instance through the EC2 API (as a hardware failure or a spot reclaim would) and re-runs site.yml, which moves the
address to the replacement node. Reports the requests sent, failed, the longest run of failures, when the address
answered again relative to the termination, and how long the converge took. Tears down at the end.
"""

import json
import sys
import time

from benchlib import CONTRACT, REPO, play

sys.path.insert(0, str(REPO / "lab"))
from edgelab import awsclient
from edgelab.device import Phone, summary

NAME = "failoverbench"
ZONE = "us-east-1-wl1-bos-wlz-1"
EXTRA = {"edge_name": NAME, "edge_artifact_bucket": f"{NAME}-artifacts", "edge_zones": [ZONE]}


def main() -> None:
    ec2 = awsclient.client("ec2")
    report = {"cold_converge_s": play("site.yml", EXTRA)}
    try:
        [address] = ec2.describe_addresses(Filters=[{"Name": "tag:edgeml:deployment", "Values": [NAME]}])["Addresses"]
        phone = Phone(f"http://{address['CarrierIp']}:30007/invocations", headers=CONTRACT)
        phone.start()
        time.sleep(3)  # a baseline of good requests
        terminated_at = time.monotonic()
        ec2.terminate_instances(InstanceIds=[address["InstanceId"]])
        report["converge_after_termination_s"] = play("site.yml", EXTRA)
        time.sleep(3)
        phone.finish()
        after = [(t - terminated_at, ok) for t, ok in phone.results if t >= terminated_at]
        first_failure = next((t for t, ok in after if not ok), None)
        back = next((t for t, ok in after if ok and first_failure is not None and t > first_failure), None)
        report |= summary(phone.results) | {
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

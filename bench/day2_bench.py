"""Day-2 operations as a phone sees them (issue 11): prints JSON.

Needs a running lab (`make lab-up`). Converges site.yml on two zones, then runs each operation as a site.yml run with
changed inputs, while a phone on the lab's carrier network calls every zone's stable address (the zones present
before and after the operation) every 50 ms. Per operation: the converge's duration, requests sent and failed, and
the longest outage. Target: 0 failed requests in every operation. Tears down at the end.

    python bench/day2_bench.py [--ops model_version,nodes_2,...]
"""

import argparse
import copy
import json
import sys
import time

import requests
import yaml
from benchlib import CONTRACT, REPO, play

sys.path.insert(0, str(REPO / "lab"))
from edgelab import awsclient, config
from edgelab.device import Phone, summary

NAME = "day2bench"
ZONES = ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1"]
NEW_ZONE = "us-east-1-wl1-mia-wlz-1"
MODEL = {"name": "sentiment", "model_id": "edgeml-tc-minilm-l6-sentiment-int8", "model_version": "*",
         "node_port": 30007, "replicas_per_zone": 1}
BASE = {"edge_name": NAME, "edge_artifact_bucket": f"{NAME}-artifacts", "edge_zones": ZONES, "edge_models": [MODEL],
        "edge_nodes_per_zone": 1}


def with_model(**changes) -> dict:
    return {"edge_models": [MODEL | changes]}


# name -> the inputs it changes, applied in this order on top of the previous operation's inputs (the list).
OPERATIONS = {
    "model_version": with_model(model_version="0.9.0"),  # another artifact: every node must change
    "model_version_back": with_model(model_version="*"),
    "instance_type": {"edge_instance_type": "t3.medium"},
    "ami_update": {"edge_nodegroup_ami_update": True},  # after AWS published a newer recommended AMI (below)
    "nodes_2": {"edge_nodes_per_zone": 2},
    "nodes_1": {"edge_nodes_per_zone": 1},
    "replicas_2": with_model(replicas_per_zone=2),
    "replicas_1": with_model(replicas_per_zone=1),
    "add_zone": {"edge_zones": [*ZONES, NEW_ZONE]},
    "remove_zone": {"edge_zones": ZONES},
    # a second model on its own node port (the phones keep calling the first one)
    "add_model": {"edge_models": [MODEL, MODEL | {"name": "second", "node_port": 30008}]},
    "remove_model": {"edge_models": [MODEL]},
}


def publish_ami() -> None:
    """As AWS does now and then: a newer recommended EKS AMI for the Kubernetes version in use (lab API)."""
    version = yaml.safe_load((REPO / "roles/edge/defaults/main.yml").read_text())["edge_kubernetes_version"]
    requests.post(f"{config.AWS_URL}/_lab/ami", timeout=10, json={
        "region": "us-east-1", "version": version, "release": f"v-day2bench-{int(time.time())}"}).raise_for_status()


BEFORE = {"ami_update": publish_ami}


def addresses(ec2) -> dict:
    """Zone (border group) -> the deployment's stable carrier address."""
    found = ec2.describe_addresses(Filters=[{"Name": "tag:edgeml:deployment", "Values": [NAME]}])["Addresses"]
    return {a["NetworkBorderGroup"]: a["CarrierIp"] for a in found if a.get("CarrierIp")}


def measure(ec2, extra: dict) -> dict:
    before = addresses(ec2)
    phones = {zone: Phone(f"http://{ip}:{MODEL['node_port']}/invocations", headers=CONTRACT)
              for zone, ip in before.items()}
    for phone in phones.values():
        phone.start()
    time.sleep(2)  # a baseline of good requests
    duration = play("site.yml", extra)
    time.sleep(3)
    for phone in phones.values():
        phone.finish()
    kept = [z for z in phones if z in extra["edge_zones"]]  # a removed zone's address may go: not counted
    per_zone = {zone: summary(phones[zone].results) for zone in kept}
    return {"converge_s": duration, "requests": sum(s["requests"] for s in per_zone.values()),
            "failed": sum(s["failed"] for s in per_zone.values()),
            "longest_outage_s": max((s["longest_outage_s"] for s in per_zone.values()), default=0.0),
            "zones": per_zone}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default=",".join(OPERATIONS), help="comma-separated, from: " + ", ".join(OPERATIONS))
    ops = [op for op in parser.parse_args().ops.split(",") if op]
    unknown = [op for op in ops if op not in OPERATIONS]
    if unknown:
        raise SystemExit(f"unknown operations {unknown}; choose from {list(OPERATIONS)}")
    ec2 = awsclient.client("ec2")
    extra = copy.deepcopy(BASE)
    report = {"cold_converge_s": play("site.yml", extra), "operations": {}}
    try:
        for op in ops:
            extra |= copy.deepcopy(OPERATIONS[op])
            BEFORE.get(op, lambda: None)()
            report["operations"][op] = measure(ec2, extra)
            print(json.dumps({op: {k: v for k, v in report["operations"][op].items() if k != "zones"}}),
                  file=sys.stderr, flush=True)
    finally:
        play("teardown.yml", extra | {"edge_teardown_purge_artifacts": True})
    report["targets"] = {op: r["failed"] == 0 for op, r in report["operations"].items()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

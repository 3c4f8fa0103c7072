"""Infrastructure roles against the lab AWS endpoint (EDGELAB_AWS_URL, default http://127.0.0.1:4566).

Each test uses its own edge_name, so runs do not see each other's resources (everything is found by name/tags).
Bad inputs must fail before anything is created: checked with boto3 by the test's edge_name.
"""

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).parent / "playbooks"
AWS_URL = os.environ.get("EDGELAB_AWS_URL", "http://127.0.0.1:4566")
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "EDGELAB_AWS_URL": AWS_URL,
       "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}
BOS, NYC, MIA = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"


def play(playbook, check=False, **extra):
    cmd = [str(REPO / ".venv/bin/ansible-playbook"), str(PLAYBOOKS / playbook), "-e", json.dumps(extra)]
    if check:
        cmd += ["--check", "--diff"]
    proc = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900)
    recap = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", proc.stdout)
    assert recap, proc.stdout[-3000:] + proc.stderr[-2000:]
    return {"changed": int(recap[2]), "failed": int(recap[3]), "out": proc.stdout + proc.stderr}


def ec2(region="us-east-1"):
    return boto3.client("ec2", endpoint_url=AWS_URL, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def vpcs_named(name):
    return ec2().describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]


@pytest.fixture
def name():
    return "t" + uuid.uuid4().hex[:8]


def base(name, zones, **over):
    return {"edge_name": name, "edge_zones": zones, "edge_nodeport_allowed_cidrs": ["127.0.0.0/8"],
            "edge_api_allowed_cidrs": ["127.0.0.0/8"], **over}


def test_unknown_zone_fails_first(name):
    r = play("infra_converge.yml", **base(name, [BOS, "us-east-1-wl1-xxx-wlz-1"]))
    assert r["failed"] and "us-east-1-wl1-xxx-wlz-1" in r["out"] and "edge_zones" in r["out"]
    assert vpcs_named(name) == []


def test_type_not_offered_fails_first(name):
    r = play("infra_converge.yml", **base(name, [BOS, MIA], edge_instance_type="g4dn.2xlarge"))
    assert r["failed"] and f"not offered in {MIA}" in r["out"] and "edge_instance_type" in r["out"]
    assert vpcs_named(name) == []


def test_optin_disabled_fails_first(name):
    # us-west-2's group is never opted in by these tests.
    r = play("infra_converge.yml", **base(name, ["us-west-2-wl1-las-wlz-1"], edge_region="us-west-2",
                                          zone_optin_allow_optin=False))
    assert r["failed"] and "us-west-2-wl1" in r["out"] and "zone_optin_allow_optin" in r["out"]
    statuses = {z["OptInStatus"] for z in ec2("us-west-2").describe_availability_zones(
        AllAvailabilityZones=True, Filters=[{"Name": "group-name", "Values": ["us-west-2-wl1"]}])["AvailabilityZones"]}
    assert statuses == {"not-opted-in"}


def test_overlapping_cidrs_fail_first(name):
    r = play("infra_converge.yml", **base(name, [BOS, NYC], edge_network_regional_subnet_cidrs=[
        "10.0.0.0/20", "10.0.16.0/20"], edge_network_wavelength_subnet_cidrs={BOS: "10.0.8.0/24"}))
    assert r["failed"] and "10.0.0.0/20 overlaps 10.0.8.0/24" in r["out"]
    assert vpcs_named(name) == []


def test_open_nodeports_refused(name):
    r = play("infra_converge.yml", **base(name, [BOS], edge_nodeport_allowed_cidrs=["0.0.0.0/0"]))
    assert r["failed"] and "edge_network_allow_open_nodeports" in r["out"]
    assert vpcs_named(name) == []


def test_network_one_then_three_zones(name):
    one = base(name, [BOS], infra_stop_after="network")
    assert play("infra_converge.yml", **one)["changed"] > 0
    rerun = play("infra_converge.yml", **one)
    assert rerun["changed"] == 0 and rerun["failed"] == 0
    vpc = vpcs_named(name)[0]["VpcId"]
    subnets = ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(["us-east-1a", "us-east-1b", BOS])

    three = base(name, [BOS, NYC, MIA], infra_stop_after="network")
    check = play("infra_converge.yml", check=True, **three)
    assert check["changed"] > 0 and check["failed"] == 0
    assert len(ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]) == 3
    assert play("infra_converge.yml", **three)["changed"] > 0
    assert play("infra_converge.yml", **three)["changed"] == 0
    cagw = ec2().describe_carrier_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["CarrierGateways"]
    assert len(cagw) == 1
    wl_filter = [{"Name": "vpc-id", "Values": [vpc]}, {"Name": "tag:Name", "Values": [f"{name}-wavelength"]}]
    tables = ec2().describe_route_tables(Filters=wl_filter)["RouteTables"]
    assert any(r.get("CarrierGatewayId") == cagw[0]["CarrierGatewayId"] for r in tables[0]["Routes"])
    assert len(tables[0]["Associations"]) == 3


@pytest.mark.parametrize("zones", [[BOS], [BOS, NYC, MIA]], ids=["1zone", "3zones"])
def test_full_converge_nodes_ready(name, zones):
    """Needs the full lab (lab/bin/lab up: AWS, kmock API and the node agent)."""
    args = base(name, zones, edge_nodegroup_ready_retries=60, edge_nodegroup_ready_delay=2)
    first = play("infra_converge.yml", **args)
    assert first["failed"] == 0, first["out"][-4000:]
    again = play("infra_converge.yml", **args)
    assert again["changed"] == 0 and again["failed"] == 0, again["out"][-4000:]

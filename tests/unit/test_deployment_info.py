"""edgeml.wavelength.deployment_info: finds the network and the record of a deployment by name and tag.

Resources are built with boto3 the way the roles name and tag them (edge_network, model_artifacts, image_packaging).
Wavelength subnets need the lab extension (zones + opt-in).
"""

import json
import time

import pytest

BOS, NYC = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1"


def opt_in(ec2, group="us-east-1-wl1", timeout=30):
    ec2.modify_availability_zone_group(GroupName=group, OptInStatus="opted-in")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        zones = ec2.describe_availability_zones(AllAvailabilityZones=True, Filters=[
            {"Name": "group-name", "Values": [group]}])["AvailabilityZones"]
        if zones and all(z["OptInStatus"] == "opted-in" for z in zones):
            return
        time.sleep(0.2)
    pytest.fail(f"{group} not opted in after {timeout}s")


def tags(**kv):
    return [{"ResourceType": kv.pop("_type"), "Tags": [{"Key": k, "Value": v} for k, v in kv.items()]}]


def build_network(ec2, name, zones=(BOS,)):
    """The edge_network role's resources: VPC, 2 regional subnets, Wavelength subnets, 2 groups, carrier gateway."""
    dep = {"edgeml:deployment": name}
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16",
                         TagSpecifications=tags(_type="vpc", Name=name, **dep))["Vpc"]["VpcId"]
    regional = {}
    for i, az in enumerate(["us-east-1b", "us-east-1a"]):  # created out of order: the result is sorted by AZ
        regional[az] = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=az, TagSpecifications=tags(
                _type="subnet", Name=f"{name}-regional-{az}", **{"edgeml:tier": "regional"}, **dep)
        )["Subnet"]["SubnetId"]
    wavelength = {}
    for i, zone in enumerate(zones):
        wavelength[zone] = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.50.{16 + i}.0/24", AvailabilityZone=zone, TagSpecifications=tags(
                _type="subnet", Name=f"{name}-{zone}", **{"edgeml:tier": "wavelength", "edgeml:zone": zone}, **dep)
        )["Subnet"]["SubnetId"]
    # An untagged subnet of the same VPC is not reported.
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.99.0/24", AvailabilityZone="us-east-1c")
    groups = {role: ec2.create_security_group(GroupName=f"{name}-{role}", Description=f"edgeml {role}", VpcId=vpc,
                                              TagSpecifications=tags(_type="security-group", Name=f"{name}-{role}",
                                                                     **dep))["GroupId"]
              for role in ("node", "cluster")}
    cagw = ec2.create_carrier_gateway(VpcId=vpc, TagSpecifications=tags(_type="carrier-gateway", Name=name, **dep))[
        "CarrierGateway"]["CarrierGatewayId"]
    return dict(vpc_id=vpc, regional_subnet_ids=[regional["us-east-1a"], regional["us-east-1b"]],
                wavelength_subnets=wavelength, node_security_group_id=groups["node"],
                cluster_security_group_id=groups["cluster"], carrier_gateway_id=cagw)


@pytest.fixture
def deployment(lab_only, client, uid):
    ec2, s3 = client("ec2"), client("s3")
    opt_in(ec2)
    name = f"dep-{uid}"
    network = build_network(ec2, name)
    bucket = f"artifacts-{uid}"
    s3.create_bucket(Bucket=bucket)
    # exports as the artifacts stage writes them, images as the image stage adds them.
    record = {"name": name, "zones": [BOS], "exports": {"sentiment": {"model_version": "1.0.0"}},
              "images": {"sentiment": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}/sentiment@sha256:"
                                      + "0" * 64}}
    s3.put_object(Bucket=bucket, Key=f"{name}/deployment.json", Body=json.dumps(record).encode())
    return dict(name=name, network=network, bucket=bucket, record=record)


def test_everything_found_and_check_mode_is_the_same(deployment, run):
    args = dict(name=deployment["name"], zones=[BOS], bucket=deployment["bucket"])

    r = run("deployment_info", **args)  # default gather: network and record
    assert not r.get("failed"), r.get("msg")
    assert not r["changed"] and r["missing"] == []
    assert r["network"] == deployment["network"]
    assert r["record"] == deployment["record"]  # exports and images as the stages recorded them
    assert "images" not in r

    check = run("deployment_info", check=True, **args)
    assert {k: check[k] for k in ("changed", "network", "record", "missing")} == \
           {k: r[k] for k in ("changed", "network", "record", "missing")}


def test_wavelength_subnets_all_or_by_zone(deployment, run):
    name = deployment["name"]
    r = run("deployment_info", name=name, gather=["network"])
    assert r["network"]["wavelength_subnets"] == deployment["network"]["wavelength_subnets"]
    assert r["missing"] == [] and "record" not in r and "images" not in r

    r = run("deployment_info", name=name, zones=[NYC, BOS], gather=["network"])
    assert r["network"]["wavelength_subnets"] == {BOS: deployment["network"]["wavelength_subnets"][BOS]}
    assert r["missing"] == [f"wavelength subnet {NYC}"]


def test_partial_network_names_what_is_missing(lab_only, run, client, uid):
    ec2 = client("ec2")
    name = f"part-{uid}"
    vpc = ec2.create_vpc(CidrBlock="10.51.0.0/16", TagSpecifications=tags(
        _type="vpc", Name=name, **{"edgeml:deployment": name}))["Vpc"]["VpcId"]
    node = ec2.create_security_group(GroupName=f"{name}-node", Description="n", VpcId=vpc)["GroupId"]
    r = run("deployment_info", name=name, zones=[BOS], gather=["network"])
    assert not r.get("failed"), r.get("msg")
    assert r["network"] == dict(vpc_id=vpc, regional_subnet_ids=[], wavelength_subnets={}, node_security_group_id=node,
                                cluster_security_group_id="", carrier_gateway_id="")
    assert r["missing"] == ["regional subnets", f"wavelength subnet {BOS}", "cluster security group", "carrier gateway"]


def test_nothing_found_is_not_a_failure(run, uid):
    r = run("deployment_info", name=f"none-{uid}", zones=[BOS], bucket=f"no-bucket-{uid}")
    assert not r.get("failed"), r.get("msg")
    assert not r["changed"]
    assert r["network"] == dict(vpc_id="", regional_subnet_ids=[], wavelength_subnets={}, node_security_group_id="",
                                cluster_security_group_id="", carrier_gateway_id="")
    assert r["record"] == {} and "images" not in r
    assert r["missing"] == ["vpc", "regional subnets", f"wavelength subnet {BOS}", "node security group",
                            "cluster security group", "carrier gateway", "record"]


def test_record_present_missing_and_key(deployment, run, client):
    name, bucket = deployment["name"], deployment["bucket"]
    r = run("deployment_info", name=name, gather=["record"], bucket=bucket)
    assert r["record"] == deployment["record"] and r["missing"] == []

    r = run("deployment_info", name=name, gather=["record"], bucket=bucket, record_key="elsewhere/deployment.json")
    assert not r.get("failed") and r["record"] == {} and r["missing"] == ["record"]

    client("s3").put_object(Bucket=bucket, Key="elsewhere/deployment.json", Body=b'{"other": true}')
    r = run("deployment_info", name=name, gather=["record"], bucket=bucket, record_key="elsewhere/deployment.json")
    assert r["record"] == {"other": True} and r["missing"] == []


def test_record_access_denied_fails_naming_bucket_and_key(lab_only, run, client, uid):
    # The lab evaluates bucket policies: an unconditional Deny gives AccessDenied, as in AWS.
    s3, bucket = client("s3"), f"denied-{uid}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="x/deployment.json", Body=b"{}")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    r = run("deployment_info", name="x", gather=["record"], bucket=bucket)
    assert r["failed"] and f"s3://{bucket}/x/deployment.json" in r["msg"]
    # AWS answers AccessDenied; the lab's policy Deny is a bare 403 (no XML body), which botocore reports as '403'.
    assert r["error"]["code"] in ("AccessDenied", "403")


def test_record_not_json_fails(run, client, uid):
    s3, bucket = client("s3"), f"notjson-{uid}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="x/deployment.json", Body=b"not json")
    r = run("deployment_info", name="x", gather=["record"], bucket=bucket)
    assert r["failed"] and "is not JSON" in r["msg"]


def test_two_vpcs_with_the_deployment_tags_fail(run, client, uid):
    ec2, name = client("ec2"), f"dup-{uid}"
    ids = sorted(ec2.create_vpc(CidrBlock="10.52.0.0/16", TagSpecifications=tags(
        _type="vpc", Name=name, **{"edgeml:deployment": name}))["Vpc"]["VpcId"] for _ in range(2))
    r = run("deployment_info", name=name, gather=["network"])
    assert r["failed"] and all(i in r["msg"] for i in ids)


def test_argument_errors(run):
    r = run("deployment_info", name="x")
    assert r["failed"] and "bucket is required" in r["msg"]
    r = run("deployment_info", name="x", gather=["images"])  # images are in the record now
    assert r["failed"] and "gather" in r["msg"]
    for removed in (dict(models=[{"name": "sentiment"}]), dict(repository_prefix="edgeml")):
        r = run("deployment_info", name="x", gather=["network"], **removed)
        assert r["failed"] and next(iter(removed)) in r["msg"]
    r = run("deployment_info", name="x", gather=["bogus"])
    assert r["failed"] and "gather" in r["msg"]

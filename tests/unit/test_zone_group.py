"""edgeml.wavelength.zone_group: opt-in with wait (needs the lab AWS extension, which delays opt-in)."""

import boto3

SFO, LAS = "us-west-2-wl1-sfo-wlz-1", "us-west-2-wl1-las-wlz-1"


def status(aws_url, zone):
    ec2 = boto3.client("ec2", endpoint_url=aws_url, region_name="us-west-2")
    return ec2.describe_availability_zones(AllAvailabilityZones=True, ZoneNames=[zone])["AvailabilityZones"][0][
        "OptInStatus"]


def test_opt_in_waits_and_is_idempotent(lab_only, run, aws_url):
    # us-west-2-wl1 is used by this test only, so it starts not opted in on a fresh lab.
    assert status(aws_url, SFO) == "not-opted-in"
    check = run("zone_group", region="us-west-2", zone_names=[SFO, LAS], check=True, diff=True)
    assert check["changed"] and check["diff"] == {"before": {"us-west-2-wl1": "not-opted-in"},
                                                  "after": {"us-west-2-wl1": "opted-in"}}
    assert status(aws_url, SFO) == "not-opted-in"

    r = run("zone_group", region="us-west-2", zone_names=[SFO, LAS], wait_timeout=30)
    assert r["changed"]
    assert r["groups"] == [{"group_name": "us-west-2-wl1", "opt_in_status": "opted-in", "changed": True,
                            "zones": [LAS, SFO]}]
    assert status(aws_url, SFO) == "opted-in"  # waited: no 'opting-in' left

    again = run("zone_group", region="us-west-2", group_names=["us-west-2-wl1"])
    assert not again["changed"] and again["groups"][0]["opt_in_status"] == "opted-in"


def test_regional_zone_needs_no_opt_in(run):
    r = run("zone_group", zone_names=["us-east-1a"])
    assert not r["changed"] and r["groups"][0]["opt_in_status"] == "opt-in-not-required"


def test_unknown_zone_fails_with_its_name(run):
    r = run("zone_group", zone_names=["us-east-1-wl1-xxx-wlz-1"])
    assert r["failed"] and "us-east-1-wl1-xxx-wlz-1" in r["msg"]


def test_needs_groups_or_zones(run):
    r = run("zone_group")
    assert r["failed"] and "group_names" in r["msg"]

"""edgeml.wavelength.carrier_address: a stable Elastic carrier IP per zone, kept on a serving instance.

Runs against the lab AWS (Wavelength zones, Elastic carrier IPs with AWS's association rules).
"""

import pytest
from test_deployment_info import opt_in

BOS, NYC = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1"


@pytest.fixture
def world(lab_only, client, uid):
    """Two instances in bos, one in nyc, each with its own carrier IP (as the node groups launch them)."""
    ec2 = client("ec2")
    opt_in(ec2)
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    instances = {}
    for i, zone in enumerate((BOS, NYC)):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.61.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        launched = ec2.run_instances(ImageId="ami-12c6146b", MinCount=2 if zone == BOS else 1,
                                     MaxCount=2 if zone == BOS else 1, NetworkInterfaces=[{
                                         "DeviceIndex": 0, "SubnetId": subnet, "AssociateCarrierIpAddress": True}])
        instances[zone] = sorted(i["InstanceId"] for i in launched["Instances"])
    yield {"ec2": ec2, "name": f"ca{uid}", "instances": instances}
    for found in ec2.describe_addresses(Filters=[{"Name": "tag:edgeml:deployment", "Values": [f"ca{uid}"]}])[
            "Addresses"]:
        if found.get("AssociationId"):
            ec2.disassociate_address(AssociationId=found["AssociationId"])
        ec2.release_address(AllocationId=found["AllocationId"])


def addresses(world):
    found = world["ec2"].describe_addresses(Filters=[{"Name": "tag:edgeml:deployment", "Values": [world["name"]]}])
    return {next(t["Value"] for t in a["Tags"] if t["Key"] == "edgeml:zone"): a for a in found["Addresses"]}


def test_allocate_associate_keep_move_prune_release(world, run):
    bos, nyc = world["instances"][BOS], world["instances"][NYC]
    wanted = [{"zone": BOS, "instance_ids": bos}, {"zone": NYC, "instance_ids": nyc}]

    planned = run("carrier_address", check=True, diff=True, name=world["name"], addresses=wanted)
    assert planned["changed"] and addresses(world) == {}  # check mode allocates nothing
    assert [a["carrier_ip"] for a in planned["addresses"]] == ["", ""]

    first = run("carrier_address", diff=True, name=world["name"], addresses=wanted, tags={"team": "edge"})
    assert first["changed"] and first["released"] == []
    found = addresses(world)
    assert found[BOS]["InstanceId"] == bos[0] and found[NYC]["InstanceId"] == nyc[0]
    assert found[BOS]["NetworkBorderGroup"] == BOS and "PublicIp" not in found[BOS]
    assert {"Key": "team", "Value": "edge"} in found[BOS]["Tags"]
    assert [(a["zone"], a["carrier_ip"], a["instance_id"], a["serving"]) for a in first["addresses"]] == [
        (BOS, found[BOS]["CarrierIp"], bos[0], True), (NYC, found[NYC]["CarrierIp"], nyc[0], True)]
    # The address is now the instance's carrier IP (it replaced the one the instance had).
    described = world["ec2"].describe_instances(InstanceIds=[bos[0]])["Reservations"][0]["Instances"][0]
    assert described["NetworkInterfaces"][0]["Association"]["CarrierIp"] == found[BOS]["CarrierIp"]

    again = run("carrier_address", check=True, name=world["name"], addresses=wanted)
    assert not again["changed"]
    again = run("carrier_address", name=world["name"], addresses=wanted)
    assert not again["changed"]

    # Its instance no longer serves (the other one does): the same address moves; in check mode only reported.
    moved_wanted = [{"zone": BOS, "instance_ids": [bos[1]]}, {"zone": NYC, "instance_ids": nyc}]
    assert run("carrier_address", check=True, name=world["name"], addresses=moved_wanted)["changed"]
    assert addresses(world)[BOS]["InstanceId"] == bos[0]
    moved = run("carrier_address", diff=True, name=world["name"], addresses=moved_wanted)
    assert moved["changed"] and moved["diff"]["before"][BOS]["instance_id"] == bos[0]
    assert addresses(world)[BOS]["InstanceId"] == bos[1]
    assert addresses(world)[BOS]["CarrierIp"] == found[BOS]["CarrierIp"]

    # No serving instance: the address stays where it is, reported as not serving.
    idle = run("carrier_address", name=world["name"], addresses=[{"zone": BOS, "instance_ids": []},
                                                                  {"zone": NYC, "instance_ids": nyc}])
    assert not idle["changed"] and [a["serving"] for a in idle["addresses"]] == [False, True]

    # nyc dropped from the list: its address is released (prune).
    pruned = run("carrier_address", name=world["name"], addresses=[{"zone": BOS, "instance_ids": [bos[1]]}])
    assert pruned["changed"] and pruned["released"] == [found[NYC]["AllocationId"]]
    assert set(addresses(world)) == {BOS}

    gone = run("carrier_address", name=world["name"], state="absent")
    assert gone["changed"] and gone["released"] == [found[BOS]["AllocationId"]] and addresses(world) == {}
    assert not run("carrier_address", name=world["name"], state="absent")["changed"]


def test_terminated_instance_address_moves_to_the_replacement(world, run):
    bos = world["instances"][BOS]
    run("carrier_address", name=world["name"], addresses=[{"zone": BOS, "instance_ids": [bos[0]]}])
    world["ec2"].terminate_instances(InstanceIds=[bos[0]])
    assert not addresses(world)[BOS].get("InstanceId")  # AWS disassociates; the address stays allocated
    result = run("carrier_address", name=world["name"], addresses=[{"zone": BOS, "instance_ids": [bos[1]]}])
    assert result["changed"] and addresses(world)[BOS]["InstanceId"] == bos[1]


def test_wrong_zones_fail_before_anything_is_allocated(world, run):
    result = run("carrier_address", name=world["name"], addresses=[{"zone": "us-east-1a"}, {"zone": "xx-wlz-9"}])
    assert result["failed"] and addresses(world) == {}
    assert "us-east-1a, xx-wlz-9 is not a Wavelength zone" in result["msg"]
    result = run("carrier_address", name=world["name"], addresses=[{"zone": BOS}, {"zone": BOS}])
    assert result["failed"] and "zone us-east-1-wl1-bos-wlz-1 is listed more than once" in result["msg"]

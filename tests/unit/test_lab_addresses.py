"""Lab AWS, elastic carrier IPs (AllocateAddress in a Wavelength network border group) as AWS answers them,
through boto3 against the in-process lab AWS (no node needed)."""

import ipaddress
import time

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

BOS, NYC = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1"
CARRIER = ipaddress.ip_network("127.0.1.0/24")


@pytest.fixture(scope="module")
def ec2(aws_server):
    if aws_server[1] == "moto":
        pytest.fail("this test needs the lab AWS extension (lab/edgelab/aws), only plain moto is available")
    return boto3.client("ec2", endpoint_url=aws_server[0], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def net(ec2):
    """Instances with auto-assigned carrier IPs in bos (2) and nyc (1), and one regional instance."""
    ec2.modify_availability_zone_group(GroupName="us-east-1-wl1", OptInStatus="opted-in")
    deadline = time.monotonic() + 30
    while ec2.describe_availability_zones(ZoneNames=[BOS])["AvailabilityZones"][0]["OptInStatus"] != "opted-in":
        assert time.monotonic() < deadline, "opt-in"
        time.sleep(0.2)
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    ami = ec2.describe_images(Owners=["602401143452"])["Images"][0]["ImageId"]
    out = {"vpc": vpc}
    for i, zone in enumerate((BOS, NYC, "us-east-1a")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.61.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        name = f"eip-test-{zone}"
        nic = {"DeviceIndex": 0, "SubnetId": subnet}
        if zone != "us-east-1a":
            nic["AssociateCarrierIpAddress"] = True
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
            "ImageId": ami, "InstanceType": "t3.xlarge", "NetworkInterfaces": [nic]})
        count = 2 if zone == BOS else 1
        out[zone] = [i["InstanceId"] for i in ec2.run_instances(
            LaunchTemplate={"LaunchTemplateName": name}, MinCount=count, MaxCount=count)["Instances"]]
    yield out
    ids = [i for zone in (BOS, NYC, "us-east-1a") for i in out[zone]]
    ec2.terminate_instances(InstanceIds=ids)


def eni(ec2, instance_id: str) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0][
        "NetworkInterfaces"][0]


def carrier_ip(ec2, instance_id: str) -> str | None:
    return (eni(ec2, instance_id).get("Association") or {}).get("CarrierIp")


def allocate(ec2, nbg=BOS, **tags) -> dict:
    spec = [{"ResourceType": "elastic-ip", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    out = ec2.allocate_address(Domain="vpc", NetworkBorderGroup=nbg, TagSpecifications=spec)
    out.pop("ResponseMetadata")
    return out


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_allocate_carrier_ip_in_a_wavelength_border_group(ec2, net):
    auto = carrier_ip(ec2, net[BOS][0])
    a = allocate(ec2, deployment="d1")
    assert set(a) == {"AllocationId", "CarrierIp", "NetworkBorderGroup", "Domain"}  # no PublicIp
    assert a["NetworkBorderGroup"] == BOS and a["Domain"] == "vpc" and a["AllocationId"].startswith("eipalloc-")
    ip = ipaddress.ip_address(a["CarrierIp"])
    assert ip in CARRIER and a["CarrierIp"] != auto
    assert int(ip) > int(ipaddress.ip_address(auto))  # elastic ones are taken from the top of the pool
    (desc,) = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"]
    assert desc["CarrierIp"] == a["CarrierIp"] and desc["NetworkBorderGroup"] == BOS and "PublicIp" not in desc
    assert desc["Tags"] == [{"Key": "deployment", "Value": "d1"}]
    assert "InstanceId" not in desc and "AssociationId" not in desc
    ec2.create_tags(Resources=[a["AllocationId"]], Tags=[{"Key": "Name", "Value": "n"}])
    ec2.delete_tags(Resources=[a["AllocationId"]], Tags=[{"Key": "deployment"}])
    (desc,) = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"]
    assert desc["Tags"] == [{"Key": "Name", "Value": "n"}]
    ec2.release_address(AllocationId=a["AllocationId"])


def test_regional_allocation_keeps_moto_behaviour(ec2):
    a = ec2.allocate_address(Domain="vpc")
    assert a["PublicIp"] and "CarrierIp" not in a
    ec2.release_address(AllocationId=a["AllocationId"])


def test_associate_replaces_the_auto_carrier_ip_and_disassociate_gives_a_new_one(ec2, net, aws_server):
    instance_id = net[BOS][0]
    auto = carrier_ip(ec2, instance_id)
    a = allocate(ec2, deployment="d2")
    assoc = ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=instance_id)["AssociationId"]
    assert assoc.startswith("eipassoc-")
    nic = eni(ec2, instance_id)
    assert nic["Association"] == {"CarrierIp": a["CarrierIp"], "IpOwnerId": "123456789012"}
    (desc_eni,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[nic["NetworkInterfaceId"]])[
        "NetworkInterfaces"]
    assert desc_eni["Association"] == {"CarrierIp": a["CarrierIp"], "AllocationId": a["AllocationId"],
                                       "AssociationId": assoc, "IpOwnerId": "123456789012"}
    (desc,) = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"]
    assert desc["AssociationId"] == assoc and desc["InstanceId"] == instance_id
    assert desc["NetworkInterfaceId"] == nic["NetworkInterfaceId"]
    assert desc["PrivateIpAddress"] == nic["PrivateIpAddress"]
    # each filter finds it
    for name, value in (("tag:deployment", "d2"), ("tag-key", "deployment"), ("allocation-id", a["AllocationId"]),
                        ("association-id", assoc), ("instance-id", instance_id),
                        ("network-interface-id", nic["NetworkInterfaceId"]), ("network-border-group", BOS),
                        ("domain", "vpc"), ("carrier-ip", a["CarrierIp"])):
        found = ec2.describe_addresses(Filters=[{"Name": name, "Values": [value]}])["Addresses"]
        assert [x["AllocationId"] for x in found] == [a["AllocationId"]], name
    assert not ec2.describe_addresses(Filters=[{"Name": "network-border-group", "Values": [NYC]}])["Addresses"]
    # the lab's resource summary lists it
    res = requests.get(f"{aws_server[0]}/_lab/resources", timeout=5).json()
    assert a["AllocationId"] in res["elastic_addresses"]["us-east-1"]

    # still associated: release refused; unknown id: not found
    with pytest.raises(ClientError) as e:
        ec2.release_address(AllocationId=a["AllocationId"])
    assert code(e) == "InvalidIPAddress.InUse"
    with pytest.raises(ClientError) as e:
        ec2.release_address(AllocationId="eipalloc-00000000000000000")
    assert code(e) == "InvalidAllocationID.NotFound"

    ec2.disassociate_address(AssociationId=assoc)
    new = carrier_ip(ec2, instance_id)
    assert new and new != a["CarrierIp"] and ipaddress.ip_address(new) in CARRIER
    assert eni(ec2, instance_id)["Association"] == {"CarrierIp": new, "IpOwnerId": "amazon"}
    assert auto  # (the old auto address went back to the pool; the new one may reuse it)
    (desc,) = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"]
    assert "AssociationId" not in desc and "InstanceId" not in desc
    ec2.release_address(AllocationId=a["AllocationId"])
    assert not ec2.describe_addresses(Filters=[{"Name": "allocation-id", "Values": [a["AllocationId"]]}])[
        "Addresses"]
    res = requests.get(f"{aws_server[0]}/_lab/resources", timeout=5).json()
    assert a["AllocationId"] not in res.get("elastic_addresses", {}).get("us-east-1", [])


def test_association_across_border_groups_is_refused(ec2, net):
    a = allocate(ec2)
    for instance_id in (net[NYC][0], net["us-east-1a"][0]):
        with pytest.raises(ClientError) as e:
            ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=instance_id)
        assert code(e) == "InvalidParameterCombination" and "network border group" in str(e.value)
    nic_id = eni(ec2, net[NYC][0])["NetworkInterfaceId"]
    with pytest.raises(ClientError) as e:
        ec2.associate_address(AllocationId=a["AllocationId"], NetworkInterfaceId=nic_id)
    assert code(e) == "InvalidParameterCombination"
    ec2.release_address(AllocationId=a["AllocationId"])


def test_reassociation_needs_allow_reassociation(ec2, net):
    first, second = net[BOS]
    a = allocate(ec2)
    ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=first)
    assert ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=first)["AssociationId"]  # idempotent
    with pytest.raises(ClientError) as e:
        ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=second, AllowReassociation=False)
    assert code(e) == "Resource.AlreadyAssociated"
    nic2 = eni(ec2, second)["NetworkInterfaceId"]
    assoc = ec2.associate_address(AllocationId=a["AllocationId"], NetworkInterfaceId=nic2,
                                  AllowReassociation=True)["AssociationId"]
    assert carrier_ip(ec2, second) == a["CarrierIp"]
    assert carrier_ip(ec2, first) not in (None, a["CarrierIp"])  # the first got a new auto-assigned address
    ec2.disassociate_address(AssociationId=assoc)
    ec2.release_address(AllocationId=a["AllocationId"])


def test_terminating_the_instance_disassociates(ec2, net):
    lt = f"eip-test-{BOS}"
    instance_id = ec2.run_instances(LaunchTemplate={"LaunchTemplateName": lt}, MinCount=1, MaxCount=1)[
        "Instances"][0]["InstanceId"]
    a = allocate(ec2)
    ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=instance_id)
    ec2.terminate_instances(InstanceIds=[instance_id])
    (desc,) = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"]
    assert desc["CarrierIp"] == a["CarrierIp"] and "AssociationId" not in desc and "InstanceId" not in desc
    ec2.release_address(AllocationId=a["AllocationId"])

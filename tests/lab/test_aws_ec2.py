"""Lab AWS endpoint, EC2: Wavelength zones, opt-in, subnets, offerings, launch templates and carrier IPs."""

import pytest
from aws_helpers import client, lab_api, wait_for
from botocore.exceptions import ClientError

WL_BOS, WL_NYC, WL_MIA = (f"us-east-1-wl1-{c}-wlz-1" for c in ("bos", "nyc", "mia"))


@pytest.fixture(scope="module")
def ec2(lab_aws):
    lab_api(lab_aws, "POST", "reset")
    return client(lab_aws, "ec2")


def names(zones):
    return {z["ZoneName"] for z in zones["AvailabilityZones"]}


def test_wavelength_zones_listed_only_on_request_before_opt_in(ec2):
    assert not any("-wl1-" in n for n in names(ec2.describe_availability_zones()))
    zones = {z["ZoneName"]: z for z in ec2.describe_availability_zones(AllAvailabilityZones=True)["AvailabilityZones"]}
    bos = zones[WL_BOS]
    assert bos["ZoneType"] == "wavelength-zone" and bos["GroupName"] == "us-east-1-wl1"
    assert bos["NetworkBorderGroup"] == WL_BOS and bos["OptInStatus"] == "not-opted-in"
    assert bos["ParentZoneName"] == "us-east-1a" and bos["ZoneId"] == "use1-wl1-bos-wlz1"
    assert {WL_NYC, WL_MIA} <= set(zones)
    assert zones["us-east-1a"]["OptInStatus"] == "opt-in-not-required"
    # Asking by name, id or zone-name filter shows the zone anyway.
    assert names(ec2.describe_availability_zones(ZoneNames=[WL_NYC])) == {WL_NYC}
    assert names(ec2.describe_availability_zones(ZoneIds=["use1-wl1-mia-wlz1"])) == {WL_MIA}
    flt = ec2.describe_availability_zones(Filters=[{"Name": "zone-name", "Values": [WL_BOS]}])
    assert names(flt) == {WL_BOS}


def test_us_west_2_zones(lab_aws):
    west = client(lab_aws, "ec2", region="us-west-2")
    zones = west.describe_availability_zones(AllAvailabilityZones=True,
                                             Filters=[{"Name": "zone-type", "Values": ["wavelength-zone"]}])
    assert names(zones) == {"us-west-2-wl1-sfo-wlz-1", "us-west-2-wl1-las-wlz-1"}
    assert {z["GroupName"] for z in zones["AvailabilityZones"]} == {"us-west-2-wl1"}


def test_modify_zone_group_refusals(ec2):
    with pytest.raises(ClientError) as e:
        ec2.modify_availability_zone_group(GroupName="us-east-1-wl9", OptInStatus="opted-in")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.modify_availability_zone_group(GroupName="us-east-1-wl1", OptInStatus="not-opted-in")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_subnet_refused_until_opted_in(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24", AvailabilityZone=WL_BOS)
    assert e.value.response["Error"]["Code"] == "OptInRequired"
    # nor does AWS list what a zone offers before its group is opted in
    assert ec2.describe_instance_type_offerings(LocationType="availability-zone", Filters=[
        {"Name": "location", "Values": [WL_BOS]}])["InstanceTypeOfferings"] == []
    assert ec2.modify_availability_zone_group(GroupName="us-east-1-wl1", OptInStatus="opted-in")["Return"]
    status = ec2.describe_availability_zones(ZoneNames=[WL_BOS])["AvailabilityZones"][0]["OptInStatus"]
    assert status == "opting-in"  # the delay (0.5 s in tests) is not over yet
    with pytest.raises(ClientError):
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24", AvailabilityZone=WL_BOS)
    wait_for(lambda: WL_BOS in names(ec2.describe_availability_zones()))
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24", AvailabilityZone=WL_BOS)["Subnet"]
    assert subnet["AvailabilityZone"] == WL_BOS and subnet["AvailabilityZoneId"] == "use1-wl1-bos-wlz1"
    by_id = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.2.0/24", AvailabilityZoneId="use1-wl1-mia-wlz1")["Subnet"]
    assert by_id["AvailabilityZone"] == WL_MIA


def test_instance_type_offerings(ec2):
    def offered(zone):
        out = ec2.describe_instance_type_offerings(
            LocationType="availability-zone", Filters=[{"Name": "location", "Values": [zone]}])
        return {o["InstanceType"] for o in out["InstanceTypeOfferings"]}

    assert offered(WL_BOS) == {"t3.medium", "t3.xlarge", "r5.2xlarge", "g4dn.2xlarge"}
    assert offered(WL_MIA) == {"t3.medium", "t3.xlarge", "r5.2xlarge"}
    assert len(offered("us-east-1a")) > 100  # moto's regional data


@pytest.fixture(scope="module")
def wl_net(ec2):
    ec2.modify_availability_zone_group(GroupName="us-east-1-wl1", OptInStatus="opted-in")
    wait_for(lambda: WL_NYC in names(ec2.describe_availability_zones()))
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    sub = {z: ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)["Subnet"]["SubnetId"]
           for z, c in ((WL_NYC, "10.2.1.0/24"), (WL_MIA, "10.2.2.0/24"), ("us-east-1a", "10.2.3.0/24"))}
    sg = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
    ami = ec2.describe_images(Owners=["602401143452"])["Images"][0]["ImageId"]
    return {"vpc": vpc, "subnets": sub, "sg": sg, "ami": ami}


def template(ec2, name, net, zone, carrier, itype="t3.xlarge"):
    nic = {"DeviceIndex": 0, "SubnetId": net["subnets"][zone], "Groups": [net["sg"]]}
    if carrier is not None:
        nic["AssociateCarrierIpAddress"] = carrier
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": net["ami"], "InstanceType": itype, "NetworkInterfaces": [nic]})
    return {"LaunchTemplateName": name}


def test_run_instances_honours_template_interface_and_carrier_ip(ec2, wl_net):
    lt = template(ec2, "with-carrier", wl_net, WL_NYC, True)
    inst = ec2.run_instances(LaunchTemplate=lt, MinCount=2, MaxCount=2)["Instances"]
    ips = set()
    for i in inst:
        assert i["SubnetId"] == wl_net["subnets"][WL_NYC] and i["Placement"]["AvailabilityZone"] == WL_NYC
        assert [g["GroupId"] for g in i["SecurityGroups"]] == [wl_net["sg"]]
        assoc = i["NetworkInterfaces"][0]["Association"]
        assert assoc["CarrierIp"].startswith("127.0.1.") and "PublicIp" not in assoc
        assert "PublicIpAddress" not in i
        ips.add(assoc["CarrierIp"])
    assert len(ips) == 2
    desc = ec2.describe_instances(InstanceIds=[inst[0]["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert desc["NetworkInterfaces"][0]["Association"]["CarrierIp"] in ips
    # Terminating releases the address: the next instance reuses the lowest free one.
    ec2.terminate_instances(InstanceIds=[inst[0]["InstanceId"]])
    again = ec2.run_instances(LaunchTemplate=lt, MinCount=1, MaxCount=1)["Instances"][0]
    assert again["NetworkInterfaces"][0]["Association"]["CarrierIp"] == \
        inst[0]["NetworkInterfaces"][0]["Association"]["CarrierIp"]
    ec2.terminate_instances(InstanceIds=[inst[1]["InstanceId"], again["InstanceId"]])


@pytest.mark.parametrize("flag", [None, False])
def test_no_carrier_ip_without_the_flag(ec2, wl_net, flag):
    lt = template(ec2, f"no-carrier-{flag}", wl_net, WL_NYC, flag)
    inst = ec2.run_instances(LaunchTemplate=lt, MinCount=1, MaxCount=1)["Instances"][0]
    assert "CarrierIp" not in inst["NetworkInterfaces"][0].get("Association", {})
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])


def test_instance_type_not_offered_in_zone_is_refused(ec2, wl_net):
    lt = template(ec2, "gpu-mia", wl_net, WL_MIA, True, itype="g4dn.2xlarge")
    with pytest.raises(ClientError) as e:
        ec2.run_instances(LaunchTemplate=lt, MinCount=1, MaxCount=1)
    assert e.value.response["Error"]["Code"] == "Unsupported"


def test_default_vpc_has_no_wavelength_subnets(ec2):
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default]}])["Subnets"]
    assert subnets and not any("-wl1-" in s["AvailabilityZone"] for s in subnets)

"""Lab AWS endpoint, Auto Scaling: launch-template subnet and carrier IP, Pending -> InService, metrics
collection, instance refresh."""

import pytest
from aws_helpers import client, lab_api, wait_for

ZONE = "us-east-1-wl1-bos-wlz-1"


@pytest.fixture(scope="module")
def env(lab_aws):
    lab_api(lab_aws, "POST", "reset")
    ec2, asg = client(lab_aws, "ec2"), client(lab_aws, "autoscaling")
    ec2.modify_availability_zone_group(GroupName="us-east-1-wl1", OptInStatus="opted-in")
    wait_for(lambda: ec2.describe_availability_zones(ZoneNames=[ZONE])["AvailabilityZones"][0]["OptInStatus"]
             == "opted-in")
    vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    tmpl_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.1.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
    asg_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.2.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="n", Description="n", VpcId=vpc)["GroupId"]
    ami = ec2.describe_images(Owners=["602401143452"])["Images"][0]["ImageId"]
    lt = ec2.create_launch_template(LaunchTemplateName="nodes", LaunchTemplateData={
        "ImageId": ami, "InstanceType": "t3.xlarge", "UserData": "IyEvYmluL2Jhc2gK",
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": tmpl_subnet, "Groups": [sg],
                               "AssociateCarrierIpAddress": True}]})["LaunchTemplate"]["LaunchTemplateId"]
    return {"ec2": ec2, "asg": asg, "tmpl_subnet": tmpl_subnet, "asg_subnet": asg_subnet, "sg": sg, "lt": lt}


def group(asg, name):
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def test_instances_pending_then_in_service_in_the_asg_subnet_with_carrier_ip(env):
    asg, ec2 = env["asg"], env["ec2"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="edge-bos", MinSize=2, MaxSize=2, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": env["lt"], "Version": "$Latest"}, VPCZoneIdentifier=env["asg_subnet"])
    states = {i["LifecycleState"] for i in group(asg, "edge-bos")["Instances"]}
    assert states == {"Pending"}
    wait_for(lambda: {i["LifecycleState"] for i in group(asg, "edge-bos")["Instances"]} == {"InService"}, 5)
    ids = [i["InstanceId"] for i in group(asg, "edge-bos")["Instances"]]
    assert len(ids) == 2
    for inst in ec2.describe_instances(InstanceIds=ids)["Reservations"][0]["Instances"]:
        assert inst["SubnetId"] == env["asg_subnet"]  # the ASG's subnet wins over the template's
        assert inst["Placement"]["AvailabilityZone"] == ZONE
        assert inst["NetworkInterfaces"][0]["Association"]["CarrierIp"].startswith("127.0.1.")
        assert [g["GroupId"] for g in inst["SecurityGroups"]] == [env["sg"]]


def test_metrics_collection_toggles(env):
    asg = env["asg"]
    asg.enable_metrics_collection(AutoScalingGroupName="edge-bos", Granularity="1Minute")
    asg.disable_metrics_collection(AutoScalingGroupName="edge-bos", Metrics=["GroupMaxSize"])
    asg.disable_metrics_collection(AutoScalingGroupName="edge-bos")
    assert group(asg, "edge-bos").get("EnabledMetrics", []) == []


def test_instance_refresh_rolls_nodes_to_the_latest_template(env):
    asg, ec2 = env["asg"], env["ec2"]
    old = {i["InstanceId"] for i in group(asg, "edge-bos")["Instances"]}
    ec2.create_launch_template_version(LaunchTemplateId=env["lt"], SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.medium"})
    rid = asg.start_instance_refresh(AutoScalingGroupName="edge-bos",
                                     Preferences={"MinHealthyPercentage": 50})["InstanceRefreshId"]
    with pytest.raises(asg.exceptions.InstanceRefreshInProgressFault):
        asg.start_instance_refresh(AutoScalingGroupName="edge-bos")
    refresh = asg.describe_instance_refreshes(AutoScalingGroupName="edge-bos")["InstanceRefreshes"][0]
    assert refresh["InstanceRefreshId"] == rid and refresh["Status"] == "InProgress"
    wait_for(lambda: asg.describe_instance_refreshes(AutoScalingGroupName="edge-bos",
                                                     InstanceRefreshIds=[rid])["InstanceRefreshes"][0]["Status"]
             == "Successful", 30)  # two batches of one (50 % of 2 healthy), each waits for warm-up
    new = group(asg, "edge-bos")["Instances"]
    assert len(new) == 2 and not old & {i["InstanceId"] for i in new}
    assert {i["InstanceType"] for i in new} == {"t3.medium"}
    assert {i["LifecycleState"] for i in new} == {"InService"}
    terminated = ec2.describe_instances(InstanceIds=list(old))["Reservations"][0]["Instances"]
    assert {i["State"]["Name"] for i in terminated} == {"terminated"}


def test_delete_group_releases_instances(env, lab_aws):
    asg, ec2 = env["asg"], env["ec2"]
    asg.delete_auto_scaling_group(AutoScalingGroupName="edge-bos", ForceDelete=True)
    res = lab_api(lab_aws, "GET", "resources")
    assert res["autoscaling_groups"] == {} and res["instances_running"] == {}
    ec2.delete_launch_template(LaunchTemplateId=env["lt"])

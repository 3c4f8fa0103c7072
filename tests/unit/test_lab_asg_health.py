"""Lab AWS, the Auto Scaling EC2 health check: an instance terminated or stopped outside its group (EC2 API) is
shown Unhealthy, then replaced after the `asg_health` delay; the group's own terminations are left alone.
In-process lab AWS (boto3), no node needed."""

import time

import pytest
import requests

BOS = "us-east-1-wl1-bos-wlz-1"
DELAYS = {"asg_health": 1.0, "asg_instance": 0.3}


@pytest.fixture(scope="module")
def env(asg_lab):
    with asg_lab(DELAYS, "10.71", "ab") as lab:
        yield lab


def wait_for(check, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def instances(asg, name) -> list[dict]:
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]


def in_service(asg, name, count) -> list[dict] | None:
    found = instances(asg, name)
    ok = len(found) == count and all(i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"
                                     for i in found)
    return found if ok else None


def ec2_instance(ec2, instance_id) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def make_group(env, name, template, desired=2, subnets=None, version="$Latest"):
    env["asg"].create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=desired,
        LaunchTemplate={"LaunchTemplateId": template, "Version": version},
        VPCZoneIdentifier=",".join(subnets or env["subnets"]))
    return wait_for(lambda: in_service(env["asg"], name, desired), what=f"{name} InService")


def delete_group(env, name, template):
    env["asg"].delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    env["ec2"].delete_launch_template(LaunchTemplateId=template)


def test_instance_terminated_through_ec2_is_replaced(env):
    ec2, asg = env["ec2"], env["asg"]
    lt = ec2.create_launch_template(LaunchTemplateName="health-regional", LaunchTemplateData={
        "ImageId": env["ami"], "InstanceType": "t3.xlarge"})["LaunchTemplate"]["LaunchTemplateId"]
    first = make_group(env, "health-regional", lt)
    # a version only $Latest picks: replacements use the group's version, not the template's default (1)
    ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.medium"})
    victim = first[0]
    victim_subnet = ec2_instance(ec2, victim["InstanceId"])["SubnetId"]
    ec2.terminate_instances(InstanceIds=[victim["InstanceId"]])

    # detected at once, replaced only after the asg_health delay
    now = {i["InstanceId"]: i for i in instances(asg, "health-regional")}
    assert now[victim["InstanceId"]]["HealthStatus"] == "Unhealthy"
    (detail,) = asg.describe_auto_scaling_instances(InstanceIds=[victim["InstanceId"]])["AutoScalingInstances"]
    assert detail["HealthStatus"].upper() == "UNHEALTHY"
    assert len(now) == 2

    after = wait_for(lambda: in_service(asg, "health-regional", 2), what="replacement InService")
    ids = {i["InstanceId"] for i in after}
    assert victim["InstanceId"] not in ids and first[1]["InstanceId"] in ids
    (new_id,) = ids - {first[1]["InstanceId"]}
    new = ec2_instance(ec2, new_id)
    assert new["State"]["Name"] == "running"
    assert new["SubnetId"] == victim_subnet  # a subnet of the group, the zone of the lost instance
    assert new["InstanceType"] == "t3.medium"  # launched from the group's version ($Latest = 2)
    assert {i["LaunchTemplate"]["Version"] for i in after if i["InstanceId"] == new_id} == {"2"}
    assert {"Key": "aws:autoscaling:groupName", "Value": "health-regional"} in new["Tags"]
    assert ec2_instance(ec2, victim["InstanceId"])["State"]["Name"] == "terminated"

    activities = asg.describe_scaling_activities(AutoScalingGroupName="health-regional")["Activities"]
    descriptions = [a["Description"] for a in activities]
    assert f"Terminating EC2 instance: {victim['InstanceId']}" in descriptions
    assert f"Launching a new EC2 instance: {new_id}" in descriptions
    assert descriptions.index(f"Launching a new EC2 instance: {new_id}") < descriptions.index(
        f"Terminating EC2 instance: {victim['InstanceId']}")  # newest first
    assert all(a["StatusCode"] == "Successful" for a in activities)
    delete_group(env, "health-regional", lt)


def test_stopped_carrier_instance_is_replaced_with_a_carrier_ip(env):
    ec2, asg = env["ec2"], env["asg"]
    ec2.modify_availability_zone_group(GroupName="us-east-1-wl1", OptInStatus="opted-in")
    wait_for(lambda: ec2.describe_availability_zones(ZoneNames=[BOS])["AvailabilityZones"][0]["OptInStatus"]
             == "opted-in", what="opt-in")
    subnet = ec2.create_subnet(VpcId=env["vpc"], CidrBlock="10.71.10.0/24", AvailabilityZone=BOS)["Subnet"][
        "SubnetId"]
    lt = ec2.create_launch_template(LaunchTemplateName="health-bos", LaunchTemplateData={
        "ImageId": env["ami"], "InstanceType": "t3.xlarge",
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "AssociateCarrierIpAddress": True}]})[
        "LaunchTemplate"]["LaunchTemplateId"]
    first = make_group(env, "health-bos", lt, subnets=[subnet])
    victim = first[0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[victim])
    assert {i["InstanceId"]: i["HealthStatus"] for i in instances(asg, "health-bos")}[victim] == "Unhealthy"
    ec2.start_instances(InstanceIds=[victim])  # too late: once Unhealthy, the group replaces it (as AWS)
    after = wait_for(lambda: in_service(asg, "health-bos", 2), what="replacement InService")
    ids = {i["InstanceId"] for i in after}
    assert victim not in ids
    assert ec2_instance(ec2, victim)["State"]["Name"] == "terminated"  # the group terminates a stopped one
    ips = set()
    for instance_id in ids:
        inst = ec2_instance(ec2, instance_id)
        assert inst["SubnetId"] == subnet and inst["Placement"]["AvailabilityZone"] == BOS
        ips.add(inst["NetworkInterfaces"][0]["Association"]["CarrierIp"])
        assert "PublicIpAddress" not in inst
    assert len(ips) == 2 and all(ip.startswith("127.0.1.") for ip in ips)
    delete_group(env, "health-bos", lt)


def test_group_terminations_are_not_health_replacements(env):
    ec2, asg = env["ec2"], env["asg"]
    lt = ec2.create_launch_template(LaunchTemplateName="health-own", LaunchTemplateData={
        "ImageId": env["ami"], "InstanceType": "t3.xlarge"})["LaunchTemplate"]["LaunchTemplateId"]
    old = {i["InstanceId"] for i in make_group(env, "health-own", lt)}

    # instance refresh terminates the instances itself (capacity kept) and ends Successful
    ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.medium"})
    rid = asg.start_instance_refresh(AutoScalingGroupName="health-own")["InstanceRefreshId"]
    wait_for(lambda: asg.describe_instance_refreshes(AutoScalingGroupName="health-own", InstanceRefreshIds=[rid])[
        "InstanceRefreshes"][0]["Status"] == "Successful", what="refresh Successful")
    refreshed = in_service(asg, "health-own", 2)
    assert refreshed and not old & {i["InstanceId"] for i in refreshed}
    assert {i["InstanceType"] for i in refreshed} == {"t3.medium"}

    # TerminateInstanceInAutoScalingGroup with decrement: no replacement, even after the health delay
    gone = refreshed[0]["InstanceId"]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=gone, ShouldDecrementDesiredCapacity=True)
    time.sleep(DELAYS["asg_health"] + 0.5)
    left = in_service(asg, "health-own", 1)
    assert left and left[0]["InstanceId"] == refreshed[1]["InstanceId"]

    # without decrement: the group launches the replacement itself (capacity 1 again)
    asg.terminate_instance_in_auto_scaling_group(InstanceId=left[0]["InstanceId"],
                                                 ShouldDecrementDesiredCapacity=False)
    again = wait_for(lambda: in_service(asg, "health-own", 1), what="replacement")
    assert again[0]["InstanceId"] != left[0]["InstanceId"]

    # scale out then scale in via UpdateAutoScalingGroup: the removed instance is not replaced
    asg.update_auto_scaling_group(AutoScalingGroupName="health-own", DesiredCapacity=2)
    wait_for(lambda: in_service(asg, "health-own", 2), what="scale-out")
    asg.update_auto_scaling_group(AutoScalingGroupName="health-own", DesiredCapacity=1)
    assert len(instances(asg, "health-own")) == 1
    time.sleep(DELAYS["asg_health"] + 0.5)
    assert in_service(asg, "health-own", 1)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["health-own"])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 1
    activities = asg.describe_scaling_activities(AutoScalingGroupName="health-own")["Activities"]
    assert not [a for a in activities if "status check" in a["Cause"]]
    delete_group(env, "health-own", lt)


def test_asg_health_delay_is_a_lab_setting(env):
    cfg = requests.get(f"{env['url']}/_lab/config", timeout=5).json()
    assert cfg["delays"]["asg_health"] == DELAYS["asg_health"]
    from edgelab.aws.state import DEFAULT_DELAYS
    from edgelab.aws.testing import TEST_DELAYS
    assert DEFAULT_DELAYS["asg_health"] == 3.0 and TEST_DELAYS["asg_health"] < DEFAULT_DELAYS["asg_health"]

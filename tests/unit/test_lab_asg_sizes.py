"""Lab AWS, the Auto Scaling size checks moto skips: SetDesiredCapacity outside MinSize..MaxSize and a
TerminateInstanceInAutoScalingGroup that would decrement the desired capacity below MinSize are refused as AWS
refuses them; an instance of no group is a ValidationError. In-process lab AWS (boto3), no node needed."""

import time

import pytest
from botocore.exceptions import ClientError

DELAYS = {"asg_instance": 0.2}


@pytest.fixture(scope="module")
def env(asg_lab):
    with asg_lab(DELAYS, "10.73") as lab:
        yield lab


def group(env, name):
    return env["asg"].describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def test_desired_capacity_and_decrement_stay_within_the_sizes(env):
    ec2, asg = env["ec2"], env["asg"]
    lt = ec2.create_launch_template(LaunchTemplateName="sizes", LaunchTemplateData={
        "ImageId": env["ami"], "InstanceType": "t3.xlarge"})["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(AutoScalingGroupName="sizes", MinSize=1, MaxSize=2, DesiredCapacity=1,
                                  LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Default"},
                                  VPCZoneIdentifier=env["subnet"])

    with pytest.raises(ClientError, match="New SetDesiredCapacity value 3 is above max value 2"):
        asg.set_desired_capacity(AutoScalingGroupName="sizes", DesiredCapacity=3, HonorCooldown=False)
    with pytest.raises(ClientError, match="New SetDesiredCapacity value 0 is below min value 1"):
        asg.set_desired_capacity(AutoScalingGroupName="sizes", DesiredCapacity=0)
    assert group(env, "sizes")["DesiredCapacity"] == 1 and len(group(env, "sizes")["Instances"]) == 1

    only = group(env, "sizes")["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError, match=r"desiredSize equals minSize \(1\).*lower group's min size"):
        asg.terminate_instance_in_auto_scaling_group(InstanceId=only, ShouldDecrementDesiredCapacity=True)
    assert [i["InstanceId"] for i in group(env, "sizes")["Instances"]] == [only]

    asg.set_desired_capacity(AutoScalingGroupName="sizes", DesiredCapacity=2, HonorCooldown=False)  # within: fine
    assert len(group(env, "sizes")["Instances"]) == 2
    asg.terminate_instance_in_auto_scaling_group(InstanceId=only, ShouldDecrementDesiredCapacity=True)  # 2 -> 1
    assert group(env, "sizes")["DesiredCapacity"] == 1

    asg.update_auto_scaling_group(AutoScalingGroupName="sizes", MinSize=0)  # a lower minimum allows it
    last = group(env, "sizes")["Instances"][0]["InstanceId"]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=last, ShouldDecrementDesiredCapacity=True)
    time.sleep(0.5)
    assert group(env, "sizes")["DesiredCapacity"] == 0 and group(env, "sizes")["Instances"] == []

    with pytest.raises(ClientError, match="No managed instance found for instance ID: i-0000000000000000f"):
        asg.terminate_instance_in_auto_scaling_group(InstanceId="i-0000000000000000f",
                                                     ShouldDecrementDesiredCapacity=True)
    with pytest.raises(ClientError, match="AutoScalingGroup name not found - no-such-group"):
        asg.set_desired_capacity(AutoScalingGroupName="no-such-group", DesiredCapacity=1)
    asg.delete_auto_scaling_group(AutoScalingGroupName="sizes", ForceDelete=True)
    ec2.delete_launch_template(LaunchTemplateId=lt)

"""Lab AWS, instance refresh as AWS runs it: the healthy percentages decide between terminate-then-launch batches
and launch-before-terminate, new instances count once warm, SkipMatching, validation, cancellation.
In-process lab AWS (boto3), no node needed; the group's capacity is sampled while the refresh runs."""

import time

import pytest
from botocore.exceptions import ClientError

DELAYS = {"asg_instance": 0.3, "refresh_warmup": 0.6}


@pytest.fixture(scope="module")
def env(asg_lab):
    with asg_lab(DELAYS, "10.72") as lab:
        yield lab


def group(env, name, desired):
    """A group of `desired` InService instances on template version 1, then a version 2 (t3.medium) as $Latest."""
    ec2, asg = env["ec2"], env["asg"]
    lt = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": env["ami"], "InstanceType": "t3.xlarge"})["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=desired,
                                  LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
                                  VPCZoneIdentifier=env["subnet"])
    deadline = time.monotonic() + 15
    while len([i for i in instances(env, name) if i["LifecycleState"] == "InService"]) < desired:
        assert time.monotonic() < deadline, "group not InService"
        time.sleep(0.1)
    ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.medium"})
    return {i["InstanceId"] for i in instances(env, name)}


def instances(env, name):
    return env["asg"].describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]


def refresh(env, name, rid):
    return env["asg"].describe_instance_refreshes(AutoScalingGroupName=name, InstanceRefreshIds=[rid])[
        "InstanceRefreshes"][0]


def run(env, name, prefs, timeout=20.0):
    """Start a refresh and sample the group until it ends: (final refresh, samples of (old InService, new
    InService, all instances))."""
    old = {i["InstanceId"] for i in instances(env, name)}
    rid = env["asg"].start_instance_refresh(AutoScalingGroupName=name, Preferences=prefs)["InstanceRefreshId"]
    samples, deadline = [], time.monotonic() + timeout
    while True:
        state = refresh(env, name, rid)
        found = instances(env, name)
        samples.append((sum(i["InstanceId"] in old and i["LifecycleState"] == "InService" for i in found),
                        sum(i["InstanceId"] not in old and i["LifecycleState"] == "InService" for i in found),
                        len(found)))
        if state["Status"] not in ("Pending", "InProgress"):
            return state, samples
        assert time.monotonic() < deadline, f"refresh still {state['Status']}: {state}"
        time.sleep(0.05)


def test_minimum_zero_replaces_everything_at_once(env):
    old = group(env, "refresh-zero", 2)
    state, samples = run(env, "refresh-zero", {"MinHealthyPercentage": 0, "InstanceWarmup": 60})
    assert state["Status"] == "Successful" and state["PercentageComplete"] == 100
    assert (0, 0, 2) in samples  # both old ones gone before a new one is in service: an outage
    now = instances(env, "refresh-zero")
    assert not old & {i["InstanceId"] for i in now} and {i["InstanceType"] for i in now} == {"t3.medium"}


def test_maximum_above_100_launches_before_it_terminates(env):
    old = group(env, "refresh-surge", 1)
    state, samples = run(env, "refresh-surge", {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200,
                                                "InstanceWarmup": 60})
    assert state["Status"] == "Successful"
    assert all(o + n >= 1 for o, n, _ in samples)  # never without a healthy instance
    assert max(total for *_, total in samples) == 2  # one extra instance at most (200 % of 1)
    assert (1, 1, 2) in samples  # the new one was in service while the old one still was
    assert not old & {i["InstanceId"] for i in instances(env, "refresh-surge")}


def test_minimum_100_without_surge_replaces_one_at_a_time(env):
    group(env, "refresh-one", 2)
    state, samples = run(env, "refresh-one", {"MinHealthyPercentage": 100, "InstanceWarmup": 60})
    assert state["Status"] == "Successful"
    assert all(o + n >= 1 for o, n, _ in samples) and any(o + n == 1 for o, n, _ in samples)
    assert max(total for *_, total in samples) == 2  # never above the desired capacity


def test_skip_matching_and_validation(env):
    group(env, "refresh-skip", 1)
    run(env, "refresh-skip", {"MinHealthyPercentage": 0})
    rid = env["asg"].start_instance_refresh(AutoScalingGroupName="refresh-skip",
                                            Preferences={"SkipMatching": True})["InstanceRefreshId"]
    assert refresh(env, "refresh-skip", rid)["Status"] == "Successful"  # every instance already matches
    assert refresh(env, "refresh-skip", rid)["InstancesToUpdate"] == 0
    for prefs, message in (({"MaxHealthyPercentage": 250}, "between 100 and 200"),
                           ({"MinHealthyPercentage": 0, "MaxHealthyPercentage": 150}, "cannot be greater than 100"),
                           ({"MinHealthyPercentage": 101}, "between 0 and 100")):
        with pytest.raises(ClientError, match=message):
            env["asg"].start_instance_refresh(AutoScalingGroupName="refresh-skip", Preferences=prefs)


def test_cancel_stops_the_replacement(env):
    old = group(env, "refresh-cancel", 2)
    asg = env["asg"]
    prefs = {"MinHealthyPercentage": 100, "InstanceWarmup": 60}
    rid = asg.start_instance_refresh(AutoScalingGroupName="refresh-cancel", Preferences=prefs)["InstanceRefreshId"]
    with pytest.raises(ClientError, match="already in progress"):
        asg.start_instance_refresh(AutoScalingGroupName="refresh-cancel")
    assert asg.cancel_instance_refresh(AutoScalingGroupName="refresh-cancel")["InstanceRefreshId"] == rid
    assert refresh(env, "refresh-cancel", rid)["Status"] == "Cancelled"
    time.sleep(DELAYS["asg_instance"] + DELAYS["refresh_warmup"] + 0.5)
    remaining = {i["InstanceId"] for i in instances(env, "refresh-cancel")} & old
    assert len(remaining) == 1  # the first batch (one instance) was replaced, the second never started
    with pytest.raises(ClientError, match="No in progress or pending Instance Refresh"):
        asg.cancel_instance_refresh(AutoScalingGroupName="refresh-cancel")

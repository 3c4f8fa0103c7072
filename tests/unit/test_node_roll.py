"""edgeml.wavelength.node_roll against the in-process lab AWS: surge launches the current template version next to
the old instances, retire terminates the old ones (and any surplus) once N fresh ones are InService, never an
instance in keep. The lab starts new instances Pending (asg_instance delay), refuses sizes outside MinSize..MaxSize
as AWS does, and does not replace instances terminated with ShouldDecrementDesiredCapacity."""

import contextlib
import time

import pytest

DELAYS = {"asg_instance": 0.3, "asg_health": 0.5}


@pytest.fixture(scope="module")
def lab(lab_delays):
    with lab_delays(DELAYS) as url:
        yield url


@pytest.fixture
def zone(lab, client, subnets, uid):
    """make(min_size, max_size, desired) -> a group `roll-<uid>` on version 1 of its template ($Default), InService."""
    ec2, asg = client("ec2"), client("autoscaling")
    ami = ec2.describe_images(Owners=["602401143452"])["Images"][0]["ImageId"]
    name = f"roll-{uid}"
    lt = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": ami, "InstanceType": "t3.xlarge"})["LaunchTemplate"]["LaunchTemplateId"]

    def make(min_size=1, max_size=2, desired=1):
        asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=min_size, MaxSize=max_size,
                                      DesiredCapacity=desired, VPCZoneIdentifier=subnets[0],
                                      LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Default"})
        wait_in_service(client, name, desired)
        return {"name": name, "lt": lt}

    yield make
    with contextlib.suppress(Exception):
        asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    with contextlib.suppress(Exception):
        ec2.delete_launch_template(LaunchTemplateId=lt)


def group(client, name):
    return client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def ids(client, name):
    return sorted(i["InstanceId"] for i in group(client, name)["Instances"])


def wait_in_service(client, name, count, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        found = group(client, name)["Instances"]
        if len(found) == count and all(i["LifecycleState"] == "InService" for i in found):
            return found
        assert time.monotonic() < deadline, f"{name}: not {count} InService: {found}"
        time.sleep(0.1)


def new_default_version(client, lt, instance_type="t3.medium"):
    """A new template version made the default (what launch_template does for a new model artifact)."""
    ec2 = client("ec2")
    number = ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={
        "InstanceType": instance_type})["LaunchTemplateVersion"]["VersionNumber"]
    ec2.modify_launch_template(LaunchTemplateId=lt, DefaultVersion=str(number))
    return number


def test_surge_then_retire_keeps_what_is_kept(run, client, zone):
    z = zone()
    name = z["name"]
    (old,) = ids(client, name)
    same = run("node_roll", name=name, size=1, state="surge")
    assert not same["changed"] and same["fresh"] == [old] and same["stale"] == [] and same["desired"] == 1
    assert same["current_version"] == 1 and same["launch_template_id"] == z["lt"]

    assert new_default_version(client, z["lt"]) == 2
    check = run("node_roll", name=name, size=1, state="surge", check=True, diff=True)
    assert check["changed"] and check["desired"] == 2 and check["stale"] == [old] and check["fresh"] == []
    assert check["current_version"] == 2
    assert check["diff"]["before"]["desired"] == 1 and check["diff"]["after"]["desired"] == 2
    assert check["diff"]["before"]["stale"] == check["diff"]["after"]["stale"] == [old]
    assert ids(client, name) == [old] and group(client, name)["DesiredCapacity"] == 1  # check mode: nothing

    surge = run("node_roll", name=name, size=1, state="surge", diff=True)
    assert surge["changed"] and surge["desired"] == 2 and surge["stale"] == [old] and surge["terminated"] == []
    found = group(client, name)
    assert found["DesiredCapacity"] == 2 and found["MaxSize"] == 2 and len(found["Instances"]) == 2
    (new,) = [i for i in found["Instances"] if i["InstanceId"] != old]
    assert new["LaunchTemplate"]["Version"] == "2" and new["InstanceType"] == "t3.medium"  # current version
    again = run("node_roll", name=name, size=1, state="surge")
    assert not again["changed"] and again["fresh"] == [new["InstanceId"]] and again["stale"] == [old]
    assert again["desired"] == 2

    wait_in_service(client, name, 2)
    kept = run("node_roll", name=name, size=1, state="retire", keep=[old], diff=True)
    assert not kept["changed"] and kept["kept"] == [old] and kept["terminated"] == [] and not kept["waiting"]
    assert kept["desired"] == 2 and kept["diff"]["before"] == {**kept["diff"]["after"], "terminated": []}
    assert len(ids(client, name)) == 2

    check = run("node_roll", name=name, size=1, state="retire", keep=[new["InstanceId"]], check=True, diff=True)
    assert check["changed"] and check["terminated"] == [old] and check["desired"] == 1
    assert check["diff"]["after"]["stale"] == [] and check["diff"]["after"]["terminated"] == [old]
    assert len(ids(client, name)) == 2 and group(client, name)["DesiredCapacity"] == 2  # check mode: nothing

    retire = run("node_roll", name=name, size=1, state="retire", keep=[new["InstanceId"]], diff=True)
    assert retire["changed"] and retire["terminated"] == [old] and retire["kept"] == [] and retire["desired"] == 1
    assert retire["diff"]["before"]["desired"] == 2 and retire["diff"]["after"]["desired"] == 1
    assert retire["diff"]["after"]["fresh"] == [new["InstanceId"]]
    time.sleep(DELAYS["asg_health"] + 0.5)  # the group does not replace it (decremented), not even after a check
    found = group(client, name)
    assert found["DesiredCapacity"] == 1 and [i["InstanceId"] for i in found["Instances"]] == [new["InstanceId"]]
    assert not run("node_roll", name=name, size=1, state="retire")["changed"]
    assert not run("node_roll", name=name, size=1, state="surge")["changed"]


def test_scale_up_then_down(run, client, zone):
    z = zone(min_size=1, max_size=2, desired=1)
    name = z["name"]
    (first,) = ids(client, name)
    up = run("node_roll", name=name, size=2, state="surge")
    assert up["changed"] and up["desired"] == 2 and up["max_size"] == 2 and up["stale"] == []
    assert group(client, name)["DesiredCapacity"] == 2
    assert not run("node_roll", name=name, size=2, state="surge")["changed"]
    more = run("node_roll", name=name, size=3, state="surge")  # above MaxSize 2: raised (the lab refuses otherwise)
    assert more["changed"] and more["desired"] == 3 and more["max_size"] == 3
    found = group(client, name)
    assert found["DesiredCapacity"] == 3 and found["MaxSize"] == 3
    assert not run("node_roll", name=name, size=1, state="surge")["changed"]  # a surge never scales in
    wait_in_service(client, name, 3)

    client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=name, MinSize=3)  # as the role sets N=3
    before = ids(client, name)
    last = [i for i in before if i != first][-1]
    down = run("node_roll", name=name, size=1, state="retire", keep=[last])
    assert down["changed"] and sorted(down["terminated"]) == sorted(set(before) - {last}) and down["kept"] == []
    assert down["desired"] == 1 and down["min_size"] == 1  # MinSize lowered: AWS refuses to decrement below it
    found = group(client, name)
    assert [i["InstanceId"] for i in found["Instances"]] == [last]
    assert found["DesiredCapacity"] == 1 and found["MinSize"] == 1 and found["MaxSize"] == 3  # MaxSize left


def test_surplus_without_keep_terminates_one(run, client, zone):
    z = zone(min_size=0, max_size=2, desired=2)
    name = z["name"]
    down = run("node_roll", name=name, size=1, state="retire")
    assert down["changed"] and len(down["terminated"]) == 1 and down["desired"] == 1
    assert ids(client, name) == sorted(set(down["fresh"]) - set(down["terminated"]))


def test_retire_waits_until_fresh_ones_are_in_service(run, client, zone, lab_delays):
    z = zone()
    name = z["name"]
    (old,) = ids(client, name)
    new_default_version(client, z["lt"])
    # The new instance stays Pending long enough that the runs below still find it Pending on a loaded machine
    # (parallel workers, other jobs): at 4 s it was InService before the retire runs under `pytest -n`.
    with lab_delays({**DELAYS, "asg_instance": 10.0}):
        run("node_roll", name=name, size=1, state="surge")
        (new,) = [i for i in ids(client, name) if i != old]
        wait = run("node_roll", name=name, size=1, state="retire", diff=True)
        assert wait["waiting"] and not wait["changed"] and wait["terminated"] == [] and wait["kept"] == []
        assert f"0 of the 1 fresh instances needed are InService and Healthy ({new} Pending/Healthy)" in wait["msg"]
        assert wait["desired"] == 2 and wait["diff"]["before"] == {**wait["diff"]["after"], "terminated": []}
        assert ids(client, name) == sorted([old, new])
        assert run("node_roll", name=name, size=1, state="retire", check=True)["waiting"]
    wait_in_service(client, name, 2)
    done = run("node_roll", name=name, size=1, state="retire")
    assert done["changed"] and not done["waiting"] and done["terminated"] == [old] and "msg" not in done
    assert ids(client, name) == [new]


def test_errors_name_what_is_missing(run, client, zone):
    r = run("node_roll", name="no-such-group-x", size=1, state="surge")
    assert r["failed"] and "Auto Scaling group no-such-group-x not found" in r["msg"]

    z = zone()
    assert run("node_roll", name=z["name"], size=-1, state="surge")["failed"]
    client("ec2").delete_launch_template(LaunchTemplateId=z["lt"])
    r = run("node_roll", name=z["name"], size=1, state="retire")
    assert r["failed"] and r["msg"] == f"Launch template {z['lt']} of Auto Scaling group {z['name']} not found"


def test_symbolic_instance_versions():
    """AWS may show an instance's version as the group's $Default: the EC2 tag tells, else the symbol now."""
    from ansible_collections.edgeml.wavelength.plugins.modules import node_roll

    template = {"LaunchTemplateId": "lt-1", "LaunchTemplateName": "t", "DefaultVersionNumber": 2,
                "LatestVersionNumber": 3}
    spec = {"LaunchTemplateId": "lt-1", "LaunchTemplateName": "t", "Version": "$Default"}
    tagged = {"Tags": [{"Key": "aws:ec2launchtemplate:version", "Value": "1"}]}
    assert node_roll.instance_version({"LaunchTemplate": spec}, template, tagged) == 1
    assert node_roll.instance_version({"LaunchTemplate": spec}, template, None) == 2
    assert node_roll.instance_version({"LaunchTemplate": {**spec, "Version": "$Latest"}}, template, {}) == 3
    assert node_roll.instance_version({"LaunchTemplate": {**spec, "Version": "2"}}, template, tagged) == 2
    assert node_roll.instance_version({"LaunchTemplate": {**spec, "LaunchTemplateId": "lt-2"}}, template, {}) is None
    assert node_roll.instance_version({}, template, {}) is None  # launch configuration: stale

    group = {"DesiredCapacity": 3, "MinSize": 1, "MaxSize": 3, "Instances": [
        {"InstanceId": "i-a", "LifecycleState": "InService", "HealthStatus": "Healthy", "LaunchTemplate": spec},
        {"InstanceId": "i-b", "LifecycleState": "Pending:Wait", "HealthStatus": "Healthy",
         "LaunchTemplate": {**spec, "Version": "2"}},
        {"InstanceId": "i-c", "LifecycleState": "Terminating", "HealthStatus": "Healthy",
         "LaunchTemplate": {**spec, "Version": "1"}},
        {"InstanceId": "i-d", "LifecycleState": "InService", "HealthStatus": "Unhealthy",
         "LaunchTemplate": {**spec, "Version": "2"}},
    ]}
    found = node_roll.classify(group, template, 2, {"i-a": tagged})
    assert [(i["instance_id"], i["live"], i["fresh"], i["ready"]) for i in found] == [
        ("i-a", True, False, False), ("i-b", True, True, False), ("i-c", False, False, False),
        ("i-d", True, True, False)]
    plan = node_roll.plan_retire(group, found, 1, set())
    assert plan["waiting"] and "i-b Pending:Wait/Healthy, i-d InService/Unhealthy" in plan["msg"]
    assert node_roll.plan_surge(group, found, 1)["desired"] == 3  # 1 stale + 1, but never below the 3 live

"""edgeml.wavelength.launch_template against the lab AWS endpoint."""

import base64


def args(uid, **over):
    base = dict(name=f"lt-{uid}", image_id="ami-12c6146b", instance_type="t3.xlarge", instance_profile="edgeml-node",
                user_data="#!/bin/bash\necho hi\n", security_group_ids=["sg-2", "sg-1"],
                tags={"edgeml:deployment": uid}, instance_tags={"Name": "edge-node"})
    return {**base, **over}


def current(client, name):
    ec2 = client("ec2")
    lt = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"][0]
    data = ec2.describe_launch_template_versions(LaunchTemplateName=name, Versions=["$Default"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    return lt, data


def test_check_mode_creates_nothing(run, client, uid):
    r = run("launch_template", check=True, diff=True, **args(uid))
    assert r["changed"] and r["version_changed"]
    assert r["diff"]["before"] == {} and r["diff"]["after"]["UserData"] == "#!/bin/bash\necho hi\n"
    found = client("ec2").describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [f"lt-{uid}"]}])
    assert found["LaunchTemplates"] == []


def test_create_then_idempotent(run, client, uid):
    r = run("launch_template", **args(uid))
    assert r["changed"] and r["template_id"].startswith("lt-") and r["default_version"] == 1
    lt, data = current(client, f"lt-{uid}")
    nic = data["NetworkInterfaces"][0]
    assert nic["AssociateCarrierIpAddress"] is True and nic["DeviceIndex"] == 0
    assert sorted(nic["Groups"]) == ["sg-1", "sg-2"]
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1,
                                       "HttpEndpoint": "enabled"}
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeType"] == "gp2"
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert base64.b64decode(data["UserData"]).decode() == "#!/bin/bash\necho hi\n"
    assert data["IamInstanceProfile"] == {"Name": "edgeml-node"}
    assert {"Key": "edgeml:deployment", "Value": uid} in lt["Tags"]

    again = run("launch_template", diff=True, **args(uid, security_group_ids=["sg-1", "sg-2"]))
    assert not again["changed"] and not again["version_changed"]
    assert again["diff"]["before"] == again["diff"]["after"]
    assert again["default_version"] == again["latest_version"] == 1


def test_changed_data_makes_new_default_version(run, client, uid):
    run("launch_template", **args(uid))
    check = run("launch_template", check=True, diff=True, **args(uid, user_data="#!/bin/bash\necho v2\n"))
    assert check["changed"] and check["latest_version"] == 2
    assert current(client, f"lt-{uid}")[0]["LatestVersionNumber"] == 1  # check mode wrote nothing
    assert check["diff"]["before"]["UserData"] != check["diff"]["after"]["UserData"]

    r = run("launch_template", **args(uid, user_data="#!/bin/bash\necho v2\n", http_put_response_hop_limit=2,
                                      subnet_id="subnet-123"))
    assert r["changed"] and r["version_changed"]
    assert r["default_version"] == r["latest_version"] == 2
    _, data = current(client, f"lt-{uid}")
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    assert data["NetworkInterfaces"][0]["SubnetId"] == "subnet-123"
    assert not run("launch_template", **args(uid, user_data="#!/bin/bash\necho v2\n", http_put_response_hop_limit=2,
                                             subnet_id="subnet-123"))["changed"]


def test_tag_change_is_not_a_new_version(run, uid):
    run("launch_template", **args(uid))
    r = run("launch_template", **args(uid, tags={"edgeml:deployment": uid, "extra": "1"}))
    assert r["changed"] and not r["version_changed"] and r["latest_version"] == 1


def test_absent(run, client, uid):
    run("launch_template", **args(uid))
    assert run("launch_template", name=f"lt-{uid}", state="absent", check=True)["changed"]
    assert run("launch_template", name=f"lt-{uid}", state="absent")["changed"]
    assert not run("launch_template", name=f"lt-{uid}", state="absent")["changed"]
    found = client("ec2").describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [f"lt-{uid}"]}])
    assert found["LaunchTemplates"] == []


def test_present_needs_image_and_type(run, uid):
    r = run("launch_template", name=f"lt-{uid}")
    assert r["failed"] and "image_id" in r["msg"]


def test_template_tags_are_not_version_data(run, client, uid):
    """As in AWS, CreateLaunchTemplate's TagSpecifications tag the template; the version data holds only the
    LaunchTemplateData TagSpecifications (instance and volume tags), so re-runs compare equal without filtering."""
    run("launch_template", **args(uid))
    lt, data = current(client, f"lt-{uid}")
    assert {"Key": "edgeml:deployment", "Value": uid} in lt["Tags"]
    assert sorted(s["ResourceType"] for s in data["TagSpecifications"]) == ["instance", "volume"]
    assert all(s["Tags"] == [{"Key": "Name", "Value": "edge-node"}] for s in data["TagSpecifications"])
    assert not run("launch_template", **args(uid))["changed"]

    # Template tags but no instance tags: no TagSpecifications in the version data at all.
    run("launch_template", **args(f"{uid}-b", instance_tags={}))
    lt, data = current(client, f"lt-{uid}-b")
    assert {"Key": "edgeml:deployment", "Value": f"{uid}-b"} in lt["Tags"]
    assert "TagSpecifications" not in data
    again = run("launch_template", diff=True, **args(f"{uid}-b", instance_tags={}))
    assert not again["changed"] and again["latest_version"] == 1
    assert "TagSpecifications" not in again["diff"]["before"]


def test_image_pin_keeps_the_image_until_asked(lab_only, run, client, uid, aws_url):
    """AWS publishes a new recommended AMI (lab: POST /_lab/ami): a pinned template keeps its image (no roll) until
    image_pin_refresh or a new pin (Kubernetes version)."""
    import json
    import urllib.request

    ssm = client("ssm")
    param = "/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/standard/recommended/image_id"
    old = ssm.get_parameter(Name=param)["Parameter"]["Value"]
    first = run("launch_template", **args(uid, image_id=old, image_pin="1.33"))
    assert first["changed"] and first["image_id"] == old and not first["image_update_available"]
    lt, _ = current(client, f"lt-{uid}")
    assert {"Key": "edgeml:image-pin", "Value": "1.33"} in lt["Tags"]

    request = urllib.request.Request(f"{aws_url}/_lab/ami", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"version": "1.33", "release": f"v-{uid}"}).encode())
    with urllib.request.urlopen(request) as reply:
        new = json.loads(reply.read())["image_id"]
    assert new != old and ssm.get_parameter(Name=param)["Parameter"]["Value"] == new
    assert client("ec2").describe_images(ImageIds=[new])["Images"][0]["Name"].endswith(f"-1.33-v-{uid}")

    kept = run("launch_template", **args(uid, image_id=new, image_pin="1.33"))
    assert not kept["changed"] and kept["image_id"] == old and kept["image_update_available"]
    assert current(client, f"lt-{uid}")[1]["ImageId"] == old

    check = run("launch_template", check=True, **args(uid, image_id=new, image_pin="1.33", image_pin_refresh=True))
    assert check["changed"] and current(client, f"lt-{uid}")[1]["ImageId"] == old
    rolled = run("launch_template", **args(uid, image_id=new, image_pin="1.33", image_pin_refresh=True))
    assert rolled["version_changed"] and rolled["image_id"] == new and rolled["default_version"] == 2
    assert not run("launch_template", **args(uid, image_id=new, image_pin="1.33"))["changed"]

    upgraded = run("launch_template", **args(uid, image_id="ami-12c6146b", image_pin="1.34"))  # a new pin
    assert upgraded["version_changed"] and upgraded["image_id"] == "ami-12c6146b"
    lt, _ = current(client, f"lt-{uid}")
    assert {"Key": "edgeml:image-pin", "Value": "1.34"} in lt["Tags"]


def test_generation_names_the_content(run, client, uid):
    """The placeholder becomes a digest of the content: same content, same generation (no new version); any
    change, a new one."""
    user_data = "#!/bin/bash\necho generation=@@GEN@@\n"
    first = run("launch_template", **args(uid, user_data=user_data, generation_placeholder="@@GEN@@"))
    gen = first["generation"]
    assert first["changed"] and len(gen) == 12 and int(gen, 16) >= 0
    _, data = current(client, f"lt-{uid}")
    assert base64.b64decode(data["UserData"]).decode() == f"#!/bin/bash\necho generation={gen}\n"
    again = run("launch_template", check=True, **args(uid, user_data=user_data, generation_placeholder="@@GEN@@"))
    assert not again["changed"] and again["generation"] == gen
    bigger = run("launch_template", **args(uid, user_data=user_data, generation_placeholder="@@GEN@@",
                                           instance_type="r5.2xlarge"))
    assert bigger["version_changed"] and bigger["generation"] != gen and bigger["default_version"] == 2
    missing = run("launch_template", **args(uid, generation_placeholder="@@GEN@@"))
    assert missing["failed"] and "does not contain generation_placeholder '@@GEN@@'" in missing["msg"]

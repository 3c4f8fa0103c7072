"""edgeml.wavelength.iam_instance_role: the nodes' role, policies and instance profile in one module run (issue 9)."""

import json

import pytest
from ansible_collections.edgeml.wavelength.plugins.modules.iam_instance_role import normalized

TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
WORKER = "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"
CNI = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"


def read_policy(bucket):
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{bucket}/models/*"]}]}


def args(name, bucket="b1", managed=(WORKER, CNI), **extra):
    return {"name": name, "assume_role_policy_document": TRUST, "managed_policies": list(managed),
            "inline_policies": {"model-artifacts-read": read_policy(bucket)},
            "tags": {"edgeml:deployment": name}, **extra}


@pytest.fixture
def iam(client):
    return client("iam")


def test_normalized_policies_compare_equal_in_either_form():
    other_form = {"Statement": [{"Action": ["sts:AssumeRole"], "Effect": "Allow",
                                 "Principal": {"Service": ["ec2.amazonaws.com"]}}], "Version": "2012-10-17"}
    assert normalized(TRUST) == normalized(other_form) == normalized(json.dumps(other_form))
    assert normalized(TRUST) != normalized(dict(TRUST, Statement=[dict(TRUST["Statement"][0], Effect="Deny")]))


def test_creates_then_changes_nothing_then_repairs(iam, run, uid):
    name = f"node-{uid}"
    planned = run("iam_instance_role", check=True, **args(name))
    assert planned["changed"] and planned["role_arn"] == ""
    assert planned["changes"][:1] == [f"create role {name}"] and f"create instance profile {name}" in planned["changes"]
    assert not iam.list_roles()["Roles"] or name not in {r["RoleName"] for r in iam.list_roles()["Roles"]}

    made = run("iam_instance_role", **args(name))
    assert made["changed"] and made["role_arn"].endswith(f":role/{name}")
    assert {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]} == {WORKER, CNI}
    assert iam.get_role_policy(RoleName=name, PolicyName="model-artifacts-read")["PolicyDocument"] == read_policy("b1")
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [name] and profile["Arn"] == made["instance_profile_arn"]

    again = run("iam_instance_role", **args(name))
    assert not again["changed"], again["changes"]
    assert (again["role_arn"], again["instance_profile_arn"]) == (made["role_arn"], made["instance_profile_arn"])

    # Drift: a policy detached and another attached, the role out of its profile, a stray tag.
    iam.detach_role_policy(RoleName=name, PolicyArn=CNI)
    iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=name)
    iam.tag_role(RoleName=name, Tags=[{"Key": "stray", "Value": "x"}])
    fixed = run("iam_instance_role", **args(name))
    assert sorted(fixed["changes"]) == sorted([
        f"attach {CNI} to role {name}", f"detach arn:aws:iam::aws:policy/AdministratorAccess from role {name}",
        f"add role {name} to instance profile {name}", f"untag role {name}: stray"])
    assert {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]} == {WORKER, CNI}
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]] == [
        name]

    # Another bucket: only the inline policy changes.
    moved = run("iam_instance_role", **args(name, bucket="b2"))
    assert moved["changes"] == [f"update policy model-artifacts-read of role {name}"]
    assert iam.get_role_policy(RoleName=name, PolicyName="model-artifacts-read")["PolicyDocument"] == read_policy("b2")
    assert not run("iam_instance_role", **args(name, bucket="b2"))["changed"]

"""edgeml.wavelength.eks_cluster with wait=true sets the cluster up in the same run: access entries
(access_entries, admin_principal_arns, grant_caller) and add-ons (addons), as eks_access_entry and eks_addon make them
(needs the lab AWS extension: moto has neither access entries nor add-ons)."""

import json
from pathlib import Path
from unittest import mock

import botocore.client
import pytest
import yaml

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/edgeml-cluster"
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
CLUSTER_SCOPE = [{"policy_arn": ADMIN, "access_scope": {"type": "cluster"}}]
NP_ON = {"enableNetworkPolicy": "true"}
EDGE = Path(__file__).resolve().parents[2] / "roles" / "edge"
VERSION = yaml.safe_load((EDGE / "defaults" / "main.yml").read_text())["edge_kubernetes_version"]
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
READS = ("Describe", "List", "Get")


def args(uid, subnets, **over):
    base = dict(name=f"s-{uid}", version=VERSION, role_arn=ROLE, subnets=subnets, public_access_cidrs=["127.0.0.0/8"],
                tags={"edgeml:deployment": uid}, wait_timeout=60)
    return {**base, **over}


def setup(uid):
    """Setup options as the eks_cluster role passes them, plus an entry of another kind."""
    return dict(
        admin_principal_arns=[f"arn:aws:iam::{ACCOUNT}:role/admin-{uid}", f"arn:aws:iam::{ACCOUNT}:role/admin-{uid}"],
        admin_policy_associations=CLUSTER_SCOPE,
        access_entries=[{"principal_arn": f"arn:aws:iam::{ACCOUNT}:role/viewer-{uid}", "policy_associations": [
            {"policy_arn": VIEW, "access_scope": {"type": "namespace", "namespaces": ["edgeml"]}}]}],
        addons=[{"name": "vpc-cni", "configuration_values": NP_ON}, {"name": "kube-proxy"}],
    )


@pytest.fixture
def calls():
    """Records the AWS operations of the module runs in its block: `with calls() as ops: ...`."""
    real = botocore.client.BaseClient._make_api_call

    class Recorder:
        def __init__(self):
            self.ops = []

        def __enter__(self):
            def record(client, operation, params):
                self.ops.append(operation)
                return real(client, operation, params)
            self.patch = mock.patch.object(botocore.client.BaseClient, "_make_api_call", record)
            self.patch.start()
            return self.ops

        def __exit__(self, *exc):
            self.patch.stop()

    return Recorder


def writes(ops):
    return [op for op in ops if not op.startswith(READS)]


def test_await_sets_up_entries_and_addons(lab_only, run, client, uid, subnets, calls):
    started = run("eks_cluster", wait=False, **args(uid, subnets))
    assert started["changed"] and started["access_entries"] == [] and started["addons"] == []
    done = run("eks_cluster", diff=True, **args(uid, subnets), **setup(uid))  # waits on the CREATING cluster
    assert done["changed"] and not done.get("failed"), done
    assert done["cluster"]["status"] == "ACTIVE" and done["updates"] == []
    admin, viewer = f"arn:aws:iam::{ACCOUNT}:role/admin-{uid}", f"arn:aws:iam::{ACCOUNT}:role/viewer-{uid}"
    assert [(e["principal_arn"], e["changed"]) for e in done["access_entries"]] == [(admin, True), (viewer, True)]
    assert done["access_entries"][0]["access_entry"]["policy_associations"] == [
        {"policy_arn": ADMIN, "access_scope": {"type": "cluster", "namespaces": []}}]
    assert done["access_entries"][1]["access_entry"]["type"] == "STANDARD"
    assert [(a["name"], a["changed"], a["addon"]["status"]) for a in done["addons"]] == [
        ("vpc-cni", True, "ACTIVE"), ("kube-proxy", True, "ACTIVE")]
    assert done["diff"]["before"]["access_entries"] == {admin: {}, viewer: {}}
    assert done["diff"]["after"]["addons"]["vpc-cni"] == {"version": "(default)", "configuration_values": NP_ON}
    assert "caller" not in done

    eks = client("eks")
    assert {admin, viewer} <= set(eks.list_access_entries(clusterName=f"s-{uid}")["accessEntries"])
    scopes = eks.list_associated_access_policies(clusterName=f"s-{uid}", principalArn=viewer)
    assert [(a["policyArn"], a["accessScope"]) for a in scopes["associatedAccessPolicies"]] == [
        (VIEW, {"type": "namespace", "namespaces": ["edgeml"]})]
    cni = eks.describe_addon(clusterName=f"s-{uid}", addonName="vpc-cni")["addon"]
    assert json.loads(cni["configurationValues"]) == NP_ON and cni["tags"]["edgeml:deployment"] == uid

    again = run("eks_cluster", diff=True, **args(uid, subnets), **setup(uid))
    assert not again["changed"], again["diff"]
    assert not any(r["changed"] for r in again["access_entries"] + again["addons"])
    assert again["diff"] == {"before": {}, "after": {}}
    assert again["addons"][0]["addon"]["addonVersion"]

    # A change to one of them is planned in check mode (without a write), then made.
    changed = {**setup(uid), "addons": [{"name": "vpc-cni", "configuration_values": {}}, {"name": "kube-proxy"}]}
    with calls() as ops:
        check = run("eks_cluster", check=True, diff=True, **args(uid, subnets), **changed)
    assert "DescribeAddon" in ops and not writes(ops), ops
    assert check["changed"] and [a["changed"] for a in check["addons"]] == [True, False]
    assert check["diff"]["after"] == {"addons": {"vpc-cni": {"version": cni["addonVersion"],
                                                             "configuration_values": {}}}}
    assert json.loads(eks.describe_addon(clusterName=f"s-{uid}", addonName="vpc-cni")["addon"][
        "configurationValues"]) == NP_ON
    assert run("eks_cluster", **args(uid, subnets), **changed)["changed"]
    assert not run("eks_cluster", **args(uid, subnets), **changed)["changed"]
    assert run("eks_cluster", name=f"s-{uid}", state="absent", wait_timeout=60)["changed"]


def test_check_mode_on_a_missing_cluster_plans_everything_and_writes_nothing(lab_only, run, client, uid, subnets,
                                                                             calls):
    with calls() as ops:
        check = run("eks_cluster", check=True, diff=True, grant_caller=True, **args(uid, subnets), **setup(uid))
    assert check["changed"] and not check.get("failed"), check
    assert ops and not writes(ops), ops
    assert "CreateAccessEntry" not in ops and "DescribeAccessEntry" not in ops  # no cluster: nothing to read
    assert check["cluster"] == {}
    caller = check["caller"]["principal_arn"]
    assert [e["principal_arn"] for e in check["access_entries"]] == [
        caller, f"arn:aws:iam::{ACCOUNT}:role/admin-{uid}", f"arn:aws:iam::{ACCOUNT}:role/viewer-{uid}"]
    assert all(e["changed"] for e in check["access_entries"] + check["addons"])
    assert [a["name"] for a in check["addons"]] == ["vpc-cni", "kube-proxy"]
    assert check["diff"]["after"]["access_entries"][caller]["policies"] == {ADMIN: ["cluster", []]}
    assert set(check["diff"]["after"]["addons"]) == {"vpc-cni", "kube-proxy"}
    assert f"s-{uid}" not in client("eks").list_clusters()["clusters"]


def test_check_mode_on_a_creating_cluster_writes_nothing(lab_only, run, client, uid, subnets, calls, lab_delays):
    with lab_delays({"eks_create": 30}):
        run("eks_cluster", wait=False, **args(uid, subnets))
        with calls() as ops:
            check = run("eks_cluster", check=True, **args(uid, subnets), **setup(uid))
        assert check["changed"] and check["cluster"]["status"] == "CREATING", check
        assert not writes(ops), ops
        assert all(r["changed"] for r in check["access_entries"] + check["addons"])
        assert client("eks").list_addons(clusterName=f"s-{uid}")["addons"] == []
    assert run("eks_cluster", name=f"s-{uid}", state="absent", wait_timeout=60)["changed"]


@pytest.fixture
def session(client, uid):
    """A role with a path and a session of it (module credentials)."""
    arn = client("iam").create_role(RoleName=f"deployer-{uid}", Path="/teams/ops/",
                                    AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    creds = client("sts").assume_role(RoleArn=arn, RoleSessionName="ci-42")["Credentials"]
    return arn, {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                 "session_token": creds["SessionToken"]}


def test_grant_caller_names_the_role_of_an_assumed_role_session(lab_only, run, client, uid, subnets, session):
    role, creds = session
    assert role == f"arn:aws:iam::{ACCOUNT}:role/teams/ops/deployer-{uid}"
    # The caller is among the admins too: one entry.
    r = run("eks_cluster", grant_caller=True, admin_principal_arns=[role], admin_policy_associations=CLUSTER_SCOPE,
            **args(uid, subnets), **creds)
    assert r["changed"] and not r.get("failed"), r
    assert (r["caller"]["principal_arn"], r["caller"]["principal_type"], r["caller"]["session_name"]) == (
        role, "role", "ci-42")
    assert r["caller"]["caller_arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-{uid}/ci-42"
    assert [e["principal_arn"] for e in r["access_entries"]] == [role]
    entries = client("eks").list_access_entries(clusterName=f"s-{uid}")["accessEntries"]
    assert role in entries
    again = run("eks_cluster", grant_caller=True, admin_policy_associations=CLUSTER_SCOPE, **args(uid, subnets),
                **creds)
    assert not again["changed"] and again["access_entries"][0]["principal_arn"] == role, again
    assert run("eks_cluster", name=f"s-{uid}", state="absent", wait_timeout=60)["changed"]


@pytest.mark.parametrize("option,value", [
    ("access_entries", [{"principal_arn": f"arn:aws:iam::{ACCOUNT}:role/x"}]),
    ("admin_principal_arns", [f"arn:aws:iam::{ACCOUNT}:role/x"]),
    ("grant_caller", True),
    ("admin_policy_associations", CLUSTER_SCOPE),
    ("addons", [{"name": "vpc-cni"}]),
])
def test_setup_options_need_wait(run, client, uid, subnets, option, value):
    r = run("eks_cluster", wait=False, **args(uid, subnets), **{option: value})
    assert r["failed"] and option in r["msg"] and "wait=true" in r["msg"], r
    assert f"s-{uid}" not in client("eks").list_clusters()["clusters"]


@pytest.mark.parametrize("over,message", [
    ({"admin_principal_arns": [f"arn:aws:iam::{ACCOUNT}:role/x"]}, "admin_policy_associations is required"),
    ({"grant_caller": True}, "admin_policy_associations is required"),
    ({"access_entries": [{"principal_arn": "arn:x"}, {"principal_arn": "arn:x"}]}, "arn:x is listed twice"),
    ({"access_entries": [{"principal_arn": "arn:x"}], "admin_principal_arns": ["arn:x"],
      "admin_policy_associations": CLUSTER_SCOPE}, "in both admin_principal_arns and access_entries"),
    ({"access_entries": [{"principal_arn": "arn:x", "type": "EC2_LINUX", "policy_associations": CLUSTER_SCOPE}]},
     "type EC2_LINUX take no policy_associations"),
    ({"addons": [{"name": "vpc-cni"}, {"name": "vpc-cni"}]}, "vpc-cni listed more than once"),
])
def test_setup_options_refused_before_any_call(run, client, uid, subnets, over, message):
    r = run("eks_cluster", **args(uid, subnets), **over)
    assert r["failed"] and message in r["msg"], r
    assert f"s-{uid}" not in client("eks").list_clusters()["clusters"]

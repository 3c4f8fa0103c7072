"""edgeml.wavelength.eks_access_entry (needs the lab AWS extension: moto has no access entries)."""

import pytest

ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


@pytest.fixture
def cluster(lab_only, run, uid, subnets):
    run("eks_cluster", name=f"c-{uid}", role_arn="arn:aws:iam::123456789012:role/r", subnets=subnets,
        wait_timeout=60)
    return f"c-{uid}"


def test_node_role_entry(run, client, cluster, uid):
    node = f"arn:aws:iam::123456789012:role/node-{uid}"
    check = run("eks_access_entry", cluster_name=cluster, principal_arn=node, type="EC2_LINUX", check=True)
    assert check["changed"]
    assert client("eks").list_access_entries(clusterName=cluster)["accessEntries"] == []
    r = run("eks_access_entry", cluster_name=cluster, principal_arn=node, type="EC2_LINUX")
    assert r["changed"] and r["access_entry"]["type"] == "EC2_LINUX"
    assert node in client("eks").list_access_entries(clusterName=cluster)["accessEntries"]
    # EKS reads the node entry back with its own group and refuses groups from the caller: a re-run changes nothing
    assert r["access_entry"]["kubernetes_groups"] == ["system:nodes"]
    with pytest.raises(client("eks").exceptions.InvalidParameterException):
        client("eks").update_access_entry(clusterName=cluster, principalArn=node, kubernetesGroups=["system:nodes"])
    again = run("eks_access_entry", cluster_name=cluster, principal_arn=node, type="EC2_LINUX", diff=True)
    assert not again["changed"], again.get("diff")
    bad = run("eks_access_entry", cluster_name=cluster, principal_arn=node, type="STANDARD")
    assert bad["failed"] and "EC2_LINUX" in bad["msg"]
    assert run("eks_access_entry", cluster_name=cluster, principal_arn=node, state="absent")["changed"]
    assert not run("eks_access_entry", cluster_name=cluster, principal_arn=node, state="absent")["changed"]


def test_admin_policy_associations(run, client, cluster, uid):
    admin = f"arn:aws:iam::123456789012:role/admin-{uid}"
    cluster_scope = [{"policy_arn": ADMIN, "access_scope": {"type": "cluster"}}]
    r = run("eks_access_entry", cluster_name=cluster, principal_arn=admin, policy_associations=cluster_scope)
    assert r["changed"] and [a["policy_arn"] for a in r["access_entry"]["policy_associations"]] == [ADMIN]
    assert not run("eks_access_entry", cluster_name=cluster, principal_arn=admin,
                   policy_associations=cluster_scope)["changed"]

    both = [*cluster_scope, {"policy_arn": VIEW, "access_scope": {"type": "namespace", "namespaces": ["edgeml"]}}]
    check = run("eks_access_entry", cluster_name=cluster, principal_arn=admin, policy_associations=both,
                check=True, diff=True)
    assert check["changed"] and VIEW in check["diff"]["after"]["policies"]
    assert not run("eks_access_entry", cluster_name=cluster, principal_arn=admin, policy_associations=both,
                   check=True, diff=True)["diff"]["before"]["policies"].get(VIEW)
    assert run("eks_access_entry", cluster_name=cluster, principal_arn=admin, policy_associations=both)["changed"]
    listed = client("eks").list_associated_access_policies(clusterName=cluster, principalArn=admin)
    scopes = {a["policyArn"]: a["accessScope"] for a in listed["associatedAccessPolicies"]}
    assert scopes[VIEW]["type"] == "namespace" and scopes[VIEW]["namespaces"] == ["edgeml"]

    # Purge: back to the admin policy only.
    purged = run("eks_access_entry", cluster_name=cluster, principal_arn=admin, policy_associations=cluster_scope)
    assert purged["changed"]
    listed = client("eks").list_associated_access_policies(clusterName=cluster, principalArn=admin)
    assert [a["policyArn"] for a in listed["associatedAccessPolicies"]] == [ADMIN]


def test_node_entry_takes_no_policies(run, uid):
    r = run("eks_access_entry", cluster_name="x", principal_arn="arn:aws:iam::123456789012:role/n", type="EC2_LINUX",
            policy_associations=[{"policy_arn": ADMIN}])
    assert r["failed"] and "EC2_LINUX" in r["msg"]

"""edgeml.wavelength.eks_addon against the lab's EKS add-on API (lab/edgelab/aws/eks_addons.py), on a cluster of
the product's default Kubernetes version."""

from pathlib import Path

import pytest
import yaml
from edgelab.aws import eks as lab_eks
from edgelab.aws import eks_addons

NP_ON = {"enableNetworkPolicy": "true"}
DEFAULTS = Path(__file__).resolve().parents[2] / "roles" / "edge" / "defaults" / "main.yml"
VERSION = yaml.safe_load(DEFAULTS.read_text())["edge_kubernetes_version"]


@pytest.fixture
def cluster(lab_only, client, uid, subnets):
    name = f"a-{uid}"
    client("eks").create_cluster(name=name, version=VERSION, roleArn="arn:aws:iam::123456789012:role/r",
                                 resourcesVpcConfig={"subnetIds": subnets})
    return name


def test_addon_lifecycle(cluster, run, client, lab_delays):
    eks = client("eks")
    check = run("eks_addon", check=True, diff=True, cluster_name=cluster, name="vpc-cni", configuration_values=NP_ON)
    assert check["changed"] and check["diff"]["after"] == {"version": "(default)", "configuration_values": NP_ON}
    assert eks.list_addons(clusterName=cluster)["addons"] == []

    created = run("eks_addon", cluster_name=cluster, name="vpc-cni", configuration_values=NP_ON, wait_timeout=30)
    assert created["changed"] and created["addon"]["status"] == "ACTIVE"
    assert created["addon"]["addonVersion"] == "v1.20.4-eksbuild.1"  # the default for the cluster's Kubernetes
    assert eks_addons.network_policy_enabled("us-east-1", cluster)
    # Compared as data: the same values are no change, whatever their formatting.
    assert not run("eks_addon", cluster_name=cluster, name="vpc-cni", configuration_values=NP_ON)["changed"]
    assert not run("eks_addon", cluster_name=cluster, name="vpc-cni")["changed"]  # values not managed

    off = run("eks_addon", diff=True, cluster_name=cluster, name="vpc-cni", version="v1.19.6-eksbuild.7",
              configuration_values={"enableNetworkPolicy": "false"}, wait_timeout=30)
    assert off["changed"] and off["addon"]["status"] == "ACTIVE"
    assert off["diff"] == {"before": {"version": "v1.20.4-eksbuild.1", "configuration_values": NP_ON},
                           "after": {"version": "v1.19.6-eksbuild.7",
                                     "configuration_values": {"enableNetworkPolicy": "false"}}}
    assert not eks_addons.network_policy_enabled("us-east-1", cluster)

    cleared = run("eks_addon", cluster_name=cluster, name="vpc-cni", configuration_values={}, wait_timeout=30)
    assert cleared["changed"] and cleared["addon"]["configurationValues"] == "{}"  # "{}", never ""
    assert not run("eks_addon", cluster_name=cluster, name="vpc-cni", configuration_values={})["changed"]

    # DELETING, then gone: the module waits; a new one cannot be created meanwhile. The delete lasts long enough
    # that a module run on a loaded machine still finds it DELETING.
    with lab_delays({"addon": 8.0}):
        eks.delete_addon(clusterName=cluster, addonName="vpc-cni")
    assert eks.describe_addon(clusterName=cluster, addonName="vpc-cni")["addon"]["status"] == "DELETING"
    busy = run("eks_addon", cluster_name=cluster, name="vpc-cni", wait=False)
    assert busy["failed"] and "is being deleted" in busy["msg"]
    assert run("eks_addon", cluster_name=cluster, name="vpc-cni", state="absent", wait_timeout=30)["changed"] is False
    assert eks.list_addons(clusterName=cluster)["addons"] == []
    assert run("eks_addon", cluster_name=cluster, name="vpc-cni", wait_timeout=30)["changed"]  # again after the delete
    assert run("eks_addon", cluster_name=cluster, name="vpc-cni", state="absent", wait_timeout=30)["changed"]
    assert eks.list_addons(clusterName=cluster)["addons"] == []
    assert not run("eks_addon", cluster_name=cluster, name="vpc-cni", state="absent")["changed"]


def test_addon_refusals(cluster, run):
    bad = run("eks_addon", cluster_name=cluster, name="vpc-cni", configuration_values={"enableNetworkPolicyy": "true"})
    assert bad["failed"] and "ConfigurationValue provided in request is not supported" in bad["msg"]
    assert "enableNetworkPolicyy" in bad["msg"]
    typed = run("eks_addon", cluster_name=cluster, name="vpc-cni", configuration_values={"enableNetworkPolicy": True})
    assert typed["failed"] and "$.enableNetworkPolicy" in typed["msg"]
    old = run("eks_addon", cluster_name=cluster, name="coredns", version="v1.13.2-eksbuild.11")
    assert not old.get("failed"), old  # older than the default, still accepted
    kube_proxy = run("eks_addon", cluster_name=cluster, name="kube-proxy", version="v1.33.10-eksbuild.13")
    assert kube_proxy["failed"] and f"not supported by the cluster (Kubernetes {VERSION})" in kube_proxy["msg"]
    assert "No cluster found" in run("eks_addon", cluster_name="nope", name="vpc-cni")["msg"]


def test_addon_versions_and_schema(lab_only, client):
    eks = client("eks")
    [cni] = eks.describe_addon_versions(kubernetesVersion=VERSION, addonName="vpc-cni")["addons"]
    defaults = [v["addonVersion"] for v in cni["addonVersions"] if v["compatibilities"][0]["defaultVersion"]]
    assert defaults == ["v1.20.4-eksbuild.1"]
    schema = eks.describe_addon_configuration(addonName="vpc-cni", addonVersion="v1.20.4-eksbuild.1")
    assert "enableNetworkPolicy" in schema["configurationSchema"]


def test_every_offered_kubernetes_version_has_a_default(lab_only, client):
    """Each add-on has one default for each Kubernetes version EKS offers (standard and extended support), and the
    add-on tables name no other Kubernetes version."""
    eks = client("eks")
    offered = lab_eks.supported_versions()
    assert VERSION in offered
    for kubernetes in offered:
        for addon in eks.describe_addon_versions(kubernetesVersion=kubernetes)["addons"]:
            defaults = [v["addonVersion"] for v in addon["addonVersions"] for c in v["compatibilities"]
                        if c["clusterVersion"] == kubernetes and c["defaultVersion"]]
            assert len(defaults) == 1, (kubernetes, addon["addonName"], defaults)
    named = {k for rows in eks_addons.VERSIONS.values() for _, ks in rows for k in ks}
    assert named == set(offered)

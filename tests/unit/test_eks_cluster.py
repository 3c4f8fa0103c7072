"""edgeml.wavelength.eks_cluster: create without waiting, await, update in place, delete; the product's default
Kubernetes version is one EKS offers in standard support, the lab refuses the versions EKS does not offer."""

from pathlib import Path

import yaml

ROLE = "arn:aws:iam::123456789012:role/edgeml-cluster"
EDGE = Path(__file__).resolve().parents[2] / "roles" / "edge"
VERSION = yaml.safe_load((EDGE / "defaults" / "main.yml").read_text())["edge_kubernetes_version"]


def args(uid, subnets, **over):
    base = dict(name=f"c-{uid}", version=VERSION, role_arn=ROLE, subnets=subnets,
                public_access_cidrs=["127.0.0.0/8"], tags={"edgeml:deployment": uid}, wait_timeout=60)
    return {**base, **over}


def test_check_mode_creates_nothing(run, client, uid, subnets):
    r = run("eks_cluster", check=True, diff=True, **args(uid, subnets))
    assert r["changed"] and r["diff"]["before"] == {}
    assert f"c-{uid}" not in client("eks").list_clusters()["clusters"]


def test_start_await_idempotent(run, client, uid, subnets):
    started = run("eks_cluster", wait=False, **args(uid, subnets))
    assert started["changed"] and started["cluster"]["status"] in ("CREATING", "ACTIVE")
    awaited = run("eks_cluster", **args(uid, subnets))  # wait-only on a creating cluster
    assert not awaited["changed"] and awaited["cluster"]["status"] == "ACTIVE"
    c = awaited["cluster"]
    assert c["endpoint"] and c["certificate_authority_data"] and c["arn"].endswith(f"cluster/c-{uid}")
    assert c["version"] == VERSION
    described = client("eks").describe_cluster(name=f"c-{uid}")["cluster"]
    assert described["resourcesVpcConfig"]["publicAccessCidrs"] == ["127.0.0.0/8"]
    assert described["tags"]["edgeml:deployment"] == uid
    again = run("eks_cluster", diff=True, **args(uid, subnets))
    assert not again["changed"] and again["updates"] == []


def test_update_cidrs_and_tags_in_place(run, client, uid, subnets):
    run("eks_cluster", **args(uid, subnets))
    new = args(uid, subnets, public_access_cidrs=["127.0.0.0/8", "127.1.0.0/16"],
               tags={"edgeml:deployment": uid, "x": "1"})
    check = run("eks_cluster", check=True, diff=True, **new)
    assert check["changed"] and set(check["updates"]) == {"endpoint_access", "tags"}
    assert check["diff"]["after"]["endpoint_access"]["cidrs"] == ["127.0.0.0/8", "127.1.0.0/16"]
    eks = client("eks")
    vpc = eks.describe_cluster(name=f"c-{uid}")["cluster"]["resourcesVpcConfig"]
    assert vpc["publicAccessCidrs"] == ["127.0.0.0/8"]
    r = run("eks_cluster", **new)
    assert r["changed"]
    described = eks.describe_cluster(name=f"c-{uid}")["cluster"]
    assert sorted(described["resourcesVpcConfig"]["publicAccessCidrs"]) == ["127.0.0.0/8", "127.1.0.0/16"]
    assert described["tags"]["x"] == "1"
    assert not run("eks_cluster", **new)["changed"]


def test_delete(run, client, uid, subnets):
    run("eks_cluster", **args(uid, subnets))
    assert run("eks_cluster", name=f"c-{uid}", state="absent", check=True)["changed"]
    assert run("eks_cluster", name=f"c-{uid}", state="absent", wait_timeout=60)["changed"]
    assert f"c-{uid}" not in client("eks").list_clusters()["clusters"]
    assert not run("eks_cluster", name=f"c-{uid}", state="absent")["changed"]


def test_create_needs_role_and_subnets(run, uid, subnets):
    r = run("eks_cluster", name=f"c-{uid}")
    assert r["failed"] and "role_arn" in r["msg"] and "subnets" in r["msg"]


def test_check_mode_plans_without_role_and_subnets(run, client, uid):
    # In a check run of a new deployment the role and subnets are only planned by earlier tasks (no ids yet).
    r = run("eks_cluster", check=True, name=f"c-{uid}")
    assert r["changed"] and not r.get("failed")
    assert f"c-{uid}" not in client("eks").list_clusters()["clusters"]


def test_control_plane_zone_eks_refuses(lab_only, run, client, uid):
    """use1-az3 takes no EKS control plane (UnsupportedAvailabilityZoneException, with the zones EKS would take)."""
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.98.{i}.0/24", AvailabilityZoneId=z)["Subnet"]["SubnetId"]
               for i, z in enumerate(("use1-az3", "use1-az6"))]
    r = run("eks_cluster", **args(uid, subnets))
    assert r["failed"] and "UnsupportedAvailabilityZoneException" in str(r.get("error", r["msg"]))
    assert "us-east-1e, the targeted availability zone" in r["msg"] and "us-east-1a" in r["msg"]
    assert f"c-{uid}" not in client("eks").list_clusters()["clusters"]


def test_default_version_is_in_eks_standard_support():
    """The product default: the argument spec says the same, EKS offers it in standard support on the lab's day
    (lab/edgelab/aws/eks.py CALENDAR), and kubernetes-validate has its schemas (the manifests are validated with
    them)."""
    from edgelab.aws import eks
    from kubernetes_validate.utils import all_versions

    specs = yaml.safe_load((EDGE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert specs["main"]["options"]["edge_kubernetes_version"]["default"] == VERSION
    assert eks.support(VERSION) == "standard"
    assert VERSION in {v.rsplit(".", 1)[0] for v in all_versions()}


def test_versions_eks_does_not_offer_are_refused(lab_only, run, client, uid, subnets):
    """1.31 left EKS extended support on 2026-11-26, 1.38 is not released: CreateCluster refuses both, as EKS does;
    a version in extended support (1.32) is still created."""
    for version in ("1.31", "1.38"):
        refused = run("eks_cluster", **args(uid, subnets, version=version))
        assert refused["failed"] and f"unsupported Kubernetes version {version}" in refused["msg"], refused
        assert f"c-{uid}" not in client("eks").list_clusters()["clusters"]
    extended = run("eks_cluster", wait=False, **args(uid, subnets, version="1.32"))
    assert extended["changed"] and extended["cluster"]["version"] == "1.32"
    assert run("eks_cluster", name=f"c-{uid}", state="absent", wait_timeout=60)["changed"]


def test_version_steps_eks_refuses_fail_before_any_change(run, client, uid, subnets):
    """EKS upgrades the control plane one minor version at a time and never downgrades: a jump (1.34 -> 1.36) and a
    downgrade fail before anything changes, naming the next step; one step ahead is an update (the lab's
    UpdateClusterVersion refuses the others as EKS does: the test below)."""
    run("eks_cluster", **args(uid, subnets, version="1.34"))
    jump = run("eks_cluster", **args(uid, subnets, version="1.36"))
    assert jump["failed"] and "set version (edge_kubernetes_version) to 1.35" in jump["msg"], jump
    down = run("eks_cluster", check=True, **args(uid, subnets, version="1.33"))
    assert down["failed"] and "cannot be downgraded to 1.33" in down["msg"], down
    assert client("eks").describe_cluster(name=f"c-{uid}")["cluster"]["version"] == "1.34"
    step = run("eks_cluster", check=True, diff=True, **args(uid, subnets, version="1.35"))
    assert step["changed"] and step["updates"] == ["version"] and step["diff"]["after"]["version"] == "1.35", step
    done = run("eks_cluster", **args(uid, subnets, version="1.35"))  # waits while the cluster is UPDATING
    assert done["changed"] and done["cluster"]["version"] == "1.35" and done["cluster"]["status"] == "ACTIVE", done
    assert run("eks_cluster", name=f"c-{uid}", state="absent", wait_timeout=60)["changed"]


def test_lab_update_cluster_version_refuses_what_eks_refuses(lab_only, run, client, uid, subnets):
    """The lab's UpdateClusterVersion, called directly: EKS's errors for a jump, a downgrade, the same version and an
    update while one runs; the cluster is UPDATING, then runs the new version (DescribeUpdate: Successful)."""
    from botocore.exceptions import ClientError

    eks = client("eks")
    run("eks_cluster", **args(uid, subnets, version="1.34"))
    for version, message in (("1.36", "Unsupported Kubernetes minor version update from 1.34 to 1.36"),
                             ("1.33", "Unsupported Kubernetes minor version update from 1.34 to 1.33"),
                             ("1.34", "already at the desired configuration")):
        try:
            eks.update_cluster_version(name=f"c-{uid}", version=version)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidParameterException" and message in str(e), e
        else:
            raise AssertionError(f"{version} accepted")
    update = eks.update_cluster_version(name=f"c-{uid}", version="1.35")["update"]
    assert update["type"] == "VersionUpdate" and update["status"] == "InProgress"
    described = eks.describe_cluster(name=f"c-{uid}")["cluster"]
    assert described["status"] == "UPDATING" and described["version"] == "1.34"
    try:
        eks.update_cluster_version(name=f"c-{uid}", version="1.35")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceInUseException", e
    else:
        raise AssertionError("a second update was accepted while the first runs")
    awaited = run("eks_cluster", **args(uid, subnets, version="1.35"))  # waits for ACTIVE, then nothing to do
    assert not awaited["changed"] and awaited["cluster"]["version"] == "1.35", awaited
    assert eks.describe_update(name=f"c-{uid}", updateId=update["id"])["update"]["status"] == "Successful"
    assert run("eks_cluster", name=f"c-{uid}", state="absent", wait_timeout=60)["changed"]

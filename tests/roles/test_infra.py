"""Infrastructure roles against the lab AWS endpoint (EDGELAB_AWS_URL, default http://127.0.0.1:4566).

Each test uses its own edge_name, so runs do not see each other's resources (everything is found by name/tags),
and other helpers may use the lab at the same time: nothing here resets the lab. Bad inputs must fail before
anything is created: checked with boto3 by the test's edge_name. The node tests need the full lab (kmock API and
the node agent, `lab/bin/lab up`).
"""

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))
from edgelab import kube as labkube

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).parent / "playbooks"
AWS_URL = os.environ.get("EDGELAB_AWS_URL", "http://127.0.0.1:4566")
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "EDGELAB_AWS_URL": AWS_URL,
       "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}
BOS, NYC, MIA = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"
LAS = "us-west-2-wl1-las-wlz-1"
# Short lab delays: the wait logic still runs (CREATING, Pending), only faster. Restored after the module.
FAST_DELAYS = {"eks_create": 1.0, "eks_delete": 0.5, "asg_instance": 0.5, "optin": 0.5}


def play(playbook, check=False, env=None, **extra):
    cmd = [str(REPO / ".venv/bin/ansible-playbook"), str(PLAYBOOKS / playbook), "-e", json.dumps(extra)]
    if check:
        cmd += ["--check", "--diff"]
    proc = subprocess.run(cmd, cwd=REPO, env=env or ENV, capture_output=True, text=True, timeout=900)
    recap = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", proc.stdout)
    assert recap, proc.stdout[-3000:] + proc.stderr[-2000:]
    return {"changed": int(recap[2]), "failed": int(recap[3]), "out": proc.stdout + proc.stderr}


def aws(service, region="us-east-1"):
    return boto3.client(service, endpoint_url=AWS_URL, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def ec2(region="us-east-1"):
    return aws("ec2", region)


def vpcs_named(name):
    return ec2().describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]


def http_json(url, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


@pytest.fixture(scope="module", autouse=True)
def fast_lab():
    old = http_json(f"{AWS_URL}/_lab/config")["delays"]
    http_json(f"{AWS_URL}/_lab/config", "POST", {"delays": FAST_DELAYS})
    yield
    http_json(f"{AWS_URL}/_lab/config", "POST", {"delays": old})


@pytest.fixture
def name():
    return "infratest-" + uuid.uuid4().hex[:6]


def base(name, zones, **over):
    return {"edge_name": name, "edge_zones": zones, "edge_nodeport_allowed_cidrs": ["127.0.0.0/8"],
            "edge_api_allowed_cidrs": ["127.0.0.0/8"], **over}


def test_unknown_zone_fails_first(name):
    r = play("infra_converge.yml", **base(name, [BOS, "us-east-1-wl1-xxx-wlz-1"]))
    assert r["failed"] and "us-east-1-wl1-xxx-wlz-1" in r["out"] and "edge_zones" in r["out"]
    assert vpcs_named(name) == []


def test_type_not_offered_fails_first(name):
    r = play("infra_converge.yml", **base(name, [BOS, MIA], edge_instance_type="g4dn.2xlarge"))
    assert r["failed"] and f"not offered in {MIA}" in r["out"] and "edge_instance_type" in r["out"]
    assert vpcs_named(name) == []


def test_fresh_account_opts_in_before_it_checks_offerings(name):
    """AWS lists no instance types for a zone whose group is not opted in: on a fresh account the type is checked
    right after the opt-in, before anything is created. A private lab AWS; moto's state is per process and the
    in-process lab AWS of earlier role tests opted in us-east-1's group, so this uses us-west-2's (never opted in)."""
    from edgelab.aws.testing import lab_aws_server

    with lab_aws_server() as server:
        fresh = boto3.client("ec2", region_name="us-west-2", endpoint_url=server.url, aws_access_key_id="testing",
                             aws_secret_access_key="testing")
        assert fresh.describe_instance_type_offerings(LocationType="availability-zone", Filters=[
            {"Name": "location", "Values": [LAS]}])["InstanceTypeOfferings"] == []
        env = {**ENV, "EDGELAB_AWS_URL": server.url}
        bad = play("infra_zone_optin.yml", env=env, lab_region="us-west-2", zone_optin_zone_names=[LAS],
                   zone_optin_instance_type="g4dn.2xlarge")
        assert bad["failed"] and f"not offered in {LAS}" in bad["out"] and "checked there right after the opt-in" \
            in bad["out"]
        ok = play("infra_zone_optin.yml", env=env, lab_region="us-west-2", zone_optin_zone_names=[LAS],
                  zone_optin_instance_type="t3.xlarge")
        assert not ok["failed"] and ok["changed"] == 0, ok["out"][-2000:]  # the group was opted in by the first run
        assert [v for v in fresh.describe_vpcs()["Vpcs"] if not v.get("IsDefault")] == []  # nothing created


def test_optin_disabled_fails_first(name):
    # us-west-2's group is never opted in by these tests.
    r = play("infra_converge.yml", **base(name, ["us-west-2-wl1-las-wlz-1"], edge_region="us-west-2",
                                          zone_optin_allow_optin=False))
    assert r["failed"] and "us-west-2-wl1" in r["out"] and "zone_optin_allow_optin" in r["out"]
    statuses = {z["OptInStatus"] for z in ec2("us-west-2").describe_availability_zones(
        AllAvailabilityZones=True, Filters=[{"Name": "group-name", "Values": ["us-west-2-wl1"]}])["AvailabilityZones"]}
    assert statuses == {"not-opted-in"}


def test_overlapping_cidrs_fail_first(name):
    r = play("infra_converge.yml", **base(name, [BOS, NYC], edge_network_regional_subnet_cidrs=[
        "10.0.0.0/20", "10.0.16.0/20"], edge_network_wavelength_subnet_cidrs={BOS: "10.0.8.0/24"}))
    assert r["failed"] and "10.0.0.0/20 overlaps 10.0.8.0/24" in r["out"]
    assert vpcs_named(name) == []


def test_open_nodeports_refused(name):
    r = play("infra_converge.yml", **base(name, [BOS], edge_nodeport_allowed_cidrs=["0.0.0.0/0"]))
    assert r["failed"] and "edge_network_allow_open_nodeports" in r["out"]
    assert vpcs_named(name) == []


def test_network_one_then_three_zones_then_absent(name, cleanup):
    cleanup[name] = [BOS, NYC, MIA]
    one = base(name, [BOS], infra_stop_after="network")
    assert play("infra_converge.yml", **one)["changed"] > 0
    rerun = play("infra_converge.yml", **one)
    assert rerun["changed"] == 0 and rerun["failed"] == 0
    vpc = vpcs_named(name)[0]["VpcId"]
    subnets = ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(["us-east-1a", "us-east-1b", BOS])
    # Only the models' node ports (the lab inventory: 30007) are open to the allowed CIDRs, not the NodePort range.
    [node_sg] = ec2().describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                        {"Name": "group-name", "Values": [f"{name}-node"]}])[
        "SecurityGroups"]
    from_cidrs = [(r.get("FromPort"), r.get("ToPort")) for r in node_sg["IpPermissions"] if r.get("IpRanges")]
    assert from_cidrs == [(30007, 30007)], node_sg["IpPermissions"]

    three = base(name, [BOS, NYC, MIA], infra_stop_after="network")
    check = play("infra_converge.yml", check=True, **three)
    assert check["changed"] > 0 and check["failed"] == 0
    assert len(ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]) == 3
    assert play("infra_converge.yml", **three)["changed"] > 0
    assert play("infra_converge.yml", **three)["changed"] == 0
    cagw = ec2().describe_carrier_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["CarrierGateways"]
    assert len(cagw) == 1
    wl_filter = [{"Name": "vpc-id", "Values": [vpc]}, {"Name": "tag:Name", "Values": [f"{name}-wavelength"]}]
    tables = ec2().describe_route_tables(Filters=wl_filter)["RouteTables"]
    assert any(r.get("CarrierGatewayId") == cagw[0]["CarrierGatewayId"] for r in tables[0]["Routes"])
    assert len(tables[0]["Associations"]) == 3
    # Teardown after a partial converge (no cluster, no node groups), twice.
    ids = deployment_ids(name, [BOS, NYC, MIA])
    assert_absent(name, [BOS, NYC, MIA], ids)


# ---- teardown and node groups ----

def play_absent(name, zones):
    return play("infra_absent.yml", edge_name=name, edge_zones=zones)


def deployment_ids(name, zones, instances=()):
    """What the deployment made, keyed like GET /_lab/resources (ids where it lists ids, else names)."""
    vpcs = [v["VpcId"] for v in vpcs_named(name)]
    in_vpcs = [{"Name": "vpc-id", "Values": vpcs}]
    return {
        "vpcs": vpcs,
        "subnets": [s["SubnetId"] for s in ec2().describe_subnets(Filters=in_vpcs)["Subnets"]] if vpcs else [],
        "carrier_gateways": [c["CarrierGatewayId"] for c in
                             ec2().describe_carrier_gateways(Filters=in_vpcs)["CarrierGateways"]] if vpcs else [],
        "launch_templates": [f"{name}-{z}" for z in zones],
        "autoscaling_groups": [f"{name}-{z}" for z in zones],
        "instances_running": list(instances),
        "eks_clusters": [name],
        "iam_roles": [f"{name}-cluster", f"{name}-node"],
        "iam_instance_profiles": [f"{name}-node"],
    }


def assert_absent(name, zones, ids):
    """Teardown removes everything the deployment made, and a second teardown changes nothing."""
    first = play_absent(name, zones)
    assert first["failed"] == 0, first["out"][-4000:]
    second = play_absent(name, zones)
    assert second["changed"] == 0 and second["failed"] == 0, second["out"][-4000:]
    res = http_json(f"{AWS_URL}/_lab/resources")
    for kind, mine in ids.items():
        listed = res.get(kind, [])
        listed = {x for ids_ in listed.values() for x in ids_} if isinstance(listed, dict) else set(listed)
        assert not listed & set(mine), (kind, listed & set(mine))
    assert vpcs_named(name) == []


@pytest.fixture
def cleanup():
    """Zones to tear down after the test whatever happened (a no-op when the test already did)."""
    todo = {}
    yield todo
    for name, zones in todo.items():
        play_absent(name, zones)


@pytest.fixture
def artifacts(name):
    """A bucket for model artifacts; put(text) uploads a tar.gz with weights.txt under the deployment's prefix and
    returns the edge_nodegroup_models entry."""
    s3, bucket = aws("s3"), f"{name}-artifacts"
    s3.create_bucket(Bucket=bucket)

    def put(text):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo("weights.txt")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
        body = buf.getvalue()
        sha = hashlib.sha256(body).hexdigest()
        key = f"{name}/test/{sha[:12]}/model.tar.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        return {"name": "test", "artifact_s3_uri": f"s3://{bucket}/{key}", "artifact_sha256": sha}

    yield bucket, put
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)


def group_instances(name, zones):
    """{zone: [instance ids]} of the deployment's groups (not terminating)."""
    groups = aws("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"{name}-{z}" for z in zones])["AutoScalingGroups"]
    return {g["AutoScalingGroupName"].removeprefix(f"{name}-"): sorted(
        i["InstanceId"] for i in g["Instances"] if not i["LifecycleState"].startswith("Terminat")) for g in groups}


def node_ready(instance_id):
    """The Ready condition, labels and taint keys of the instance's Node (as the lab's admin: TLS with the lab CA)."""
    with labkube.admin_urlopen(f"{labkube.config.KUBE_URL}/api/v1/nodes") as reply:
        nodes = json.loads(reply.read())["items"]
    node = next(n for n in nodes if n["spec"].get("providerID", "").endswith(f"/{instance_id}"))
    return (next(c for c in node["status"]["conditions"] if c["type"] == "Ready"), node["metadata"]["labels"],
            [t["key"] for t in node["spec"].get("taints") or []])


def placed(instance_id, model):
    """The model file as the node's user data unpacked it on the node disk."""
    path = (REPO / ".lab/nodes" / instance_id / "var-lib-edgeml/models" / model["name"] / model["artifact_sha256"]
            / "weights.txt")
    return path.read_text()


def test_nodegroup_one_zone_bad_then_good_model(name, artifacts, cleanup):
    bucket, put = artifacts
    good = put(f"weights of {name}")
    bad = {**good, "artifact_sha256": "0" * 64}
    # Artifacts under a customer managed key (given by alias): the node role may decrypt with it, through S3 only.
    key = aws("kms").create_key(Description=name)["KeyMetadata"]["Arn"]
    aws("kms").create_alias(AliasName=f"alias/{name}", TargetKeyId=key)
    args = base(name, [BOS], edge_artifact_bucket=bucket, edge_nodegroup_ready_delay=1,
                edge_artifact_encryption="aws:kms", edge_artifact_kms_key=f"alias/{name}")
    cleanup[name] = [BOS]

    check = play("infra_converge.yml", check=True, edge_nodegroup_models=[good], **args)
    assert check["changed"] > 0 and check["failed"] == 0, check["out"][-4000:]
    assert vpcs_named(name) == [] and name not in aws("eks").list_clusters()["clusters"]
    assert aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{name}-{BOS}"])[
        "AutoScalingGroups"] == []

    # A wrong sha256: the user data fails loudly; the node joins (AL2023) but keeps the pending taint, so it gets no
    # model pods, and the play stops naming the node and zone with the reason read from the node's console output.
    broken = play("infra_converge.yml", edge_nodegroup_models=[bad], **args)
    [bad_instance] = group_instances(name, [BOS])[BOS]
    assert broken["failed"] and "edge_nodegroup_models" in broken["out"], broken["out"][-4000:]
    assert re.search(rf"node \S+ \(instance {bad_instance}, zone {BOS}\) joined with the edgeml.io/models-pending "
                     r"taint, its models are not in place; console: edgeml: model placement failed: \S+: sha256 "
                     "mismatch", broken["out"]), broken["out"][-4000:]
    ready, _, taints = node_ready(bad_instance)
    assert ready["status"] == "True" and taints == ["edgeml.io/models-pending"]

    # The right sha256: a new template version rolls the node; the new one is Ready with the model in place.
    fixed = play("infra_converge.yml", edge_nodegroup_models=[good], **args)
    assert fixed["failed"] == 0, fixed["out"][-4000:]
    [instance] = group_instances(name, [BOS])[BOS]
    assert instance != bad_instance
    ready, labels, taints = node_ready(instance)
    assert ready["status"] == "True" and taints == []  # the user data's last step registered it without the taint
    assert labels["edgeml.io/zone"] == labels["topology.kubernetes.io/zone"] == BOS
    assert labels["edgeml.io/deployment"] == name
    assert placed(instance, good) == f"weights of {name}"
    policy = aws("iam").get_role_policy(RoleName=f"{name}-node", PolicyName="model-artifacts-read")["PolicyDocument"]
    assert {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}} in policy["Statement"]

    again = play("infra_converge.yml", edge_nodegroup_models=[good], **args)
    assert again["changed"] == 0 and again["failed"] == 0, again["out"][-4000:]

    # A changed model in check mode: reported, and no template version is made, no node rolls.
    # (Three zones converge, change nothing on a re-run and tear down in tests/e2e/test_installed.py.)
    versions = ec2().describe_launch_templates(LaunchTemplateNames=[f"{name}-{BOS}"])["LaunchTemplates"][0][
        "LatestVersionNumber"]
    check = play("infra_converge.yml", check=True, edge_nodegroup_models=[put(f"v2 of {name}")], **args)
    assert check["changed"] > 0 and check["failed"] == 0, check["out"][-4000:]
    assert re.search(r"Launch template per zone.*\n(.*\n)*?changed: \[localhost\] => \(item=" + BOS, check["out"])
    assert ec2().describe_launch_templates(LaunchTemplateNames=[f"{name}-{BOS}"])["LaunchTemplates"][0][
        "LatestVersionNumber"] == versions
    assert group_instances(name, [BOS])[BOS] == [instance]
    assert_absent(name, [BOS], deployment_ids(name, [BOS], [bad_instance, instance]))


def test_zone_groups_of_either_layout_are_read_not_assumed(name):
    """AWS's API reference shows a shared Wavelength group (us-east-1-wl1) and one group per zone: with per-zone
    groups (a private lab AWS), opting in two zones opts in exactly their two groups."""
    from edgelab.aws.testing import lab_aws_server

    with lab_aws_server() as server:
        http_json(f"{server.url}/_lab/config", "POST", {"zone_groups": "per-zone"})
        try:
            check_per_zone_groups(server)
        finally:  # moto and the lab state are per process: later in-process servers expect the default layout
            http_json(f"{server.url}/_lab/config", "POST", {"zone_groups": "shared"})


def check_per_zone_groups(server):
    fresh = boto3.client("ec2", region_name="us-east-1", endpoint_url=server.url, aws_access_key_id="testing",
                         aws_secret_access_key="testing")
    ok = play("infra_zone_optin.yml", env={**ENV, "EDGELAB_AWS_URL": server.url},
              zone_optin_zone_names=[BOS, MIA], zone_optin_instance_type="t3.xlarge")
    assert not ok["failed"], ok["out"][-3000:]
    zones = {z["ZoneName"]: z for z in fresh.describe_availability_zones(AllAvailabilityZones=True, Filters=[
        {"Name": "zone-type", "Values": ["wavelength-zone"]}, {"Name": "region-name", "Values": ["us-east-1"]}])[
        "AvailabilityZones"]}
    assert zones[BOS]["GroupName"] == BOS and zones[BOS]["OptInStatus"] == "opted-in"
    assert zones[MIA]["OptInStatus"] == "opted-in" and zones[NYC]["OptInStatus"] == "not-opted-in"

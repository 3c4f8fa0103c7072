"""Fixtures and helpers for the lab tests: a running lab, lab AWS clients, node groups (ASG + launch template).

Import the fixtures into a test module (`from fixtures_cluster import lab, aws, kube, node_group  # noqa: F401`).
The session fixture runs `lab up` unless EDGELAB_REUSE=1 (then the running lab is used as is).
"""

import base64
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "lab" / "bin" / "lab"
sys.path.insert(0, str(REPO / "lab"))

from edgelab import config
from edgelab import kube as labkube

REGION = "us-east-1"
WL_ZONE = "us-east-1-wl1-bos-wlz-1"
WL_GROUP = "us-east-1-wl1"


def run_lab(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(LAB), *args], capture_output=True, text=True, timeout=timeout)


def wait_for(predicate, timeout: float = 60, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def lab():
    if os.environ.get("EDGELAB_REUSE") != "1":
        proc = run_lab("up")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return config


def _client(service: str, region: str = REGION):
    return boto3.client(service, region_name=region, endpoint_url=config.AWS_URL,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="session")
def aws(lab):
    """Lab clients; the tests opt out of fault injection like the lab itself (faults are tested elsewhere)."""
    class Clients:
        def __call__(self, service: str, region: str = REGION):
            c = _client(service, region)
            c.meta.events.register("before-send.*.*",
                                   lambda request, **_: request.headers.__setitem__("X-Edgelab-No-Faults", "1"))
            return c
    return Clients()


class Kube:
    """Tiny REST helper for assertions against the lab Kubernetes API (TLS with the lab CA, lab-only admin token)."""

    def __init__(self, url: str):
        self.url = url
        self.http = labkube.admin_server(url).session()

    def get(self, path: str):
        resp = self.http.get(self.url + path, timeout=5)
        return resp.json() if resp.status_code == 200 else None

    def create(self, path: str, obj: dict) -> dict:
        resp = self.http.post(self.url + path, json=obj, timeout=5)
        assert resp.status_code in (200, 201), resp.text
        return resp.json()

    def patch(self, path: str, obj: dict) -> dict:
        resp = self.http.patch(self.url + path, json=obj, timeout=5,
                               headers={"Content-Type": "application/merge-patch+json"})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def delete(self, path: str) -> None:
        self.http.delete(self.url + path, timeout=5)

    def node(self, instance_id: str) -> dict | None:
        items = (self.get("/api/v1/nodes") or {}).get("items", [])
        return next((n for n in items if n["metadata"].get("labels", {}).get("edgelab.lab/instance-id")
                     == instance_id), None)


def ready_status(node: dict | None) -> str | None:
    if not node:
        return None
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["status"]


@pytest.fixture(scope="session")
def kube(lab):
    return Kube(config.KUBE_URL)


@pytest.fixture(scope="session")
def wavelength_subnet(aws):
    """A VPC with a subnet in an opted-in Wavelength zone (needs the lab's Wavelength extension)."""
    ec2 = aws("ec2")
    ec2.modify_availability_zone_group(GroupName=WL_GROUP, OptInStatus="opted-in")
    wait_for(lambda: any(z["OptInStatus"] == "opted-in" for z in ec2.describe_availability_zones(
        AllAvailabilityZones=True, ZoneNames=[WL_ZONE])["AvailabilityZones"]), 60, what="zone opt-in")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24", AvailabilityZone=WL_ZONE)["Subnet"]["SubnetId"]


def mime_user_data(*scripts: str, nodeconfig: str | None = None) -> str:
    parts = []
    if nodeconfig is not None:
        parts.append(f"Content-Type: application/node.eks.aws\n\n{nodeconfig}")
    parts += [f'Content-Type: text/x-shellscript; charset="us-ascii"\n\n{script}' for script in scripts]
    body = "".join(f"--BOUNDARY\n{part}\n" for part in parts)
    return f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="BOUNDARY"\n\n{body}--BOUNDARY--\n'


NODECONFIG = """apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: lab
    apiServerEndpoint: http://127.0.0.1:6443
    certificateAuthority: Y2E=
    cidr: 10.100.0.0/16
  kubelet:
    flags:
      - --node-labels=edgeml/pool={pool}
      - --register-with-taints=edgeml/dedicated={pool}:NoSchedule
"""


NODE_PROFILE = "lab-test-node"  # the test nodes' instance profile and role: may read the test buckets only


@pytest.fixture(scope="session")
def node_profile(aws):
    """An instance profile whose role may read s3://lab-test-*/ (the node agent gives its user data only that)."""
    import json
    iam = aws("iam")
    if NODE_PROFILE in [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]:
        return NODE_PROFILE  # a reused lab (EDGELAB_REUSE) keeps it
    iam.create_role(RoleName=NODE_PROFILE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=NODE_PROFILE, PolicyName="read-test-buckets", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                "Resource": "arn:aws:s3:::lab-test-*/*"}]}))
    iam.create_instance_profile(InstanceProfileName=NODE_PROFILE)
    iam.add_role_to_instance_profile(InstanceProfileName=NODE_PROFILE, RoleName=NODE_PROFILE)
    time.sleep(3)  # the lab's iam_propagation delay (2 s): a new profile is not usable by Auto Scaling yet, as on AWS
    return NODE_PROFILE


@pytest.fixture
def node_group(aws, wavelength_subnet, node_profile):
    """Factory: an ASG of `size` t3.xlarge instances with carrier IPs, from a launch template with user data and the
    test instance profile. Returns (asg name, [instance ids]) once the instances are InService; deletes the ASG
    afterwards."""
    ec2, asg = aws("ec2"), aws("autoscaling")
    created = []

    def make(user_data: str, size: int = 1) -> tuple[str, list[str]]:
        name = f"lab-test-{uuid.uuid4().hex[:8]}"
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.xlarge", "IamInstanceProfile": {"Name": node_profile},
            "UserData": base64.b64encode(user_data.encode()).decode(),
            "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": wavelength_subnet,
                                   "AssociateCarrierIpAddress": True}]})
        asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=size, MaxSize=size, DesiredCapacity=size,
                                      LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
                                      VPCZoneIdentifier=wavelength_subnet)
        created.append(name)

        def in_service():
            group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
            ids = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
            return ids if len(ids) == size else None
        return name, wait_for(in_service, 90, what=f"{name} InService")

    yield make
    for name in created:  # a test may have deleted its group already
        if asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]:
            asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
        ec2.delete_launch_template(LaunchTemplateName=name)


@pytest.fixture(scope="session")
def test_image(lab):
    """The test pod image, pushed to the lab "ECR" registry; returns the digest reference repo@sha256:..."""
    from edgelab import images

    images.build_from_dockerfile("edgelab/testhttp:latest", Path(__file__).parent / "testimage")
    return images.push_by_digest("edgelab/testhttp:latest", f"{config.ECR_REGISTRY}/lab/testhttp")


def deployment(name: str, image: str, pool: str, env: dict | None = None, replicas: int = 1) -> dict:
    """A Deployment shaped like the product's: nodeSelector + toleration for the pool, read-only hostPath model
    volume, args, readiness probe on /ping."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "nodeSelector": {"edgeml/pool": pool},
                "tolerations": [{"key": "edgeml/dedicated", "operator": "Equal", "value": pool,
                                 "effect": "NoSchedule"}],
                "containers": [{
                    "name": "main", "image": image, "args": ["serve", "--flag"],
                    "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/ping", "port": 8080}, "periodSeconds": 1},
                    "volumeMounts": [{"name": "model", "mountPath": "/opt/ml/model", "readOnly": True}]}],
                "volumes": [{"name": "model", "hostPath": {"path": "/var/lib/edgeml/models/m",
                                                           "type": "Directory"}}]}}}}


def node_port_service(name: str, node_port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "NodePort", "externalTrafficPolicy": "Local", "selector": {"app": name},
                     "ports": [{"port": 8080, "targetPort": 8080, "nodePort": node_port}]}}

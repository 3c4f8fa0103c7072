"""Cluster DNS on Wavelength nodes, as the node agent runs it (lab/edgelab/nodes/dns.py): the coredns add-on's
replicas are placed like the scheduler places them, each node's pods ask cluster DNS at the node's private address,
and a query kube-proxy sends to a replica in another Wavelength zone is dropped (two Wavelength zones of one VPC
cannot reach each other). One cluster with a node in each of three zones:
1. EKS's default coredns (2 replicas, no zone spread): a zone without a replica cannot resolve cluster names;
2. the product's values (plugins/filter/cluster_dns_values.py) and the kube-dns Service's trafficDistribution
   PreferClose: every zone resolves them;
3. beyond DNS, nothing a pod sends to a node of another Wavelength zone gets an answer (nodes/isolation.py)."""

import base64
import json
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
pytest.register_assert_rewrite("fixtures_cluster")
from ansible_collections.edgeml.wavelength.plugins.filter.cluster_dns_values import cluster_dns_values
from fixtures_cluster import NODECONFIG, REGION, WL_GROUP, mime_user_data, wait_for

pytest_plugins = ["fixtures_cluster"]  # fixtures: lab, aws, kube, test_image

ZONES = ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"]
CLUSTER = "dnslab"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
DNS_PODS = f"/api/v1/namespaces/kube-system/pods?labelSelector=edgelab.lab/dns-replica%3D{CLUSTER}"
# What a pod does first: resolve a cluster name through the search list (the pod's resolv.conf, ndots:5).
LOOKUP = """
import socket, sys
try:
    address = socket.getaddrinfo("kubernetes.default", 443, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
except OSError as exc:
    open("/dev/termination-log", "w").write(f"unresolved: {exc}")
    sys.exit(1)
open("/dev/termination-log", "w").write(f"resolved {address}")
"""


@pytest.fixture(scope="module")
def zone_nodes(aws, kube):
    """A cluster (NodeConfig name CLUSTER) with one untainted node in each of ZONES: {zone: node name}."""
    ec2, asg, eks = aws("ec2"), aws("autoscaling"), aws("eks")
    ec2.modify_availability_zone_group(GroupName=WL_GROUP, OptInStatus="opted-in")
    wait_for(lambda: all(z["OptInStatus"] == "opted-in" for z in ec2.describe_availability_zones(
        AllAvailabilityZones=True, ZoneNames=ZONES)["AvailabilityZones"]), 60, what="zone opt-in")
    vpc = ec2.create_vpc(CidrBlock="10.44.0.0/16")["Vpc"]["VpcId"]
    regional = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.44.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
        "Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    eks.create_cluster(name=CLUSTER, roleArn="arn:aws:iam::123456789012:role/lab", version="1.33",
                       resourcesVpcConfig={"subnetIds": regional})
    nodeconfig = NODECONFIG.format(pool="dns").replace("name: lab", f"name: {CLUSTER}").replace(
        "      - --register-with-taints=edgeml/dedicated=dns:NoSchedule\n", "")
    user_data = base64.b64encode(mime_user_data("true", nodeconfig=nodeconfig).encode()).decode()
    groups = {}
    for i, zone in enumerate(ZONES):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.44.{10 + i}.0/24", AvailabilityZone=zone)[
            "Subnet"]["SubnetId"]
        name = f"lab-dns-{uuid.uuid4().hex[:6]}"
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.xlarge", "UserData": user_data,
            "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "AssociateCarrierIpAddress": True}]})
        asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, MaxSize=1, DesiredCapacity=1,
                                      LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
                                      VPCZoneIdentifier=subnet)
        groups[zone] = name

    def ready_nodes():
        nodes = {}
        for node in (kube.get("/api/v1/nodes") or {}).get("items", []):
            labels = node["metadata"].get("labels", {})
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
            if ready and labels.get("edgeml/pool") == "dns":
                nodes[labels["topology.kubernetes.io/zone"]] = node["metadata"]["name"]
        return nodes if len(nodes) == len(ZONES) else None
    try:
        yield wait_for(ready_nodes, 180, interval=1, what="a Ready node in each zone")
    finally:
        for name in groups.values():
            asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
            ec2.delete_launch_template(LaunchTemplateName=name)
        eks.delete_cluster(name=CLUSTER)  # its add-ons go with it, and the agent removes their replicas


def run_jobs(kube, image: str, zone_nodes: dict, script: str, env: dict | None = None) -> dict:
    """Run a Python script in a Job on each zone's node: {zone: (succeeded, termination message, node address)}."""
    names = {}
    for zone, node in zone_nodes.items():
        names[zone] = f"job-{uuid.uuid4().hex[:6]}"
        kube.create(JOBS, {"apiVersion": "batch/v1", "kind": "Job",
                           "metadata": {"name": names[zone], "namespace": "default"},
                           "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 60, "template": {"spec": {
                               "nodeName": node, "restartPolicy": "Never",
                               "containers": [{"name": "run", "image": image, "imagePullPolicy": "IfNotPresent",
                                               "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                                               "command": ["python3", "-c", script]}]}}}})

    def finished(name):
        job = kube.get(f"{JOBS}/{name}") or {}
        return job if any(c.get("status") == "True" for c in (job.get("status") or {}).get("conditions") or []) \
            else None
    results = {}
    try:
        for zone, name in names.items():
            job = wait_for(lambda n=name: finished(n), 90, what=f"Job in {zone}")
            [pod] = (kube.get(f"/api/v1/namespaces/default/pods?labelSelector=job-name%3D{name}") or {})["items"]
            message = pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
            results[zone] = (job["status"].get("succeeded") == 1, message, pod["status"]["hostIP"])
    finally:
        for name in names.values():
            kube.delete(f"{JOBS}/{name}")
    return results


def lookups(kube, image: str, zone_nodes: dict) -> dict:
    """Run LOOKUP in a Job on each zone's node: {zone: (succeeded, termination message)}."""
    return {zone: result[:2] for zone, result in run_jobs(kube, image, zone_nodes, LOOKUP).items()}


def replica_zones(kube, zone_nodes: dict) -> list[str]:
    zone_of = {node: zone for zone, node in zone_nodes.items()}
    return sorted(zone_of[p["spec"]["nodeName"]] for p in (kube.get(DNS_PODS) or {}).get("items", []))


def test_dns_per_zone_only_with_a_replica_in_each_zone(aws, kube, zone_nodes, test_image):
    eks = aws("eks")
    eks.create_addon(clusterName=CLUSTER, addonName="coredns")  # EKS's default: 2 replicas, no zone spread
    placed = wait_for(lambda: replica_zones(kube, zone_nodes) if len(replica_zones(kube, zone_nodes)) == 2 else None,
                      30, what="2 CoreDNS replicas")
    [bare] = set(ZONES) - set(placed)
    before = lookups(kube, test_image, zone_nodes)
    assert before[bare][0] is False and before[bare][1].startswith("unresolved"), before
    # what the node stage configures: a replica per zone (hard zone spread) and zone-local routing
    values = cluster_dns_values(ZONES, 1)
    kube.patch("/api/v1/namespaces/kube-system/services/kube-dns", {"spec": {"trafficDistribution": "PreferClose"}})
    eks.update_addon(clusterName=CLUSTER, addonName="coredns", configurationValues=json.dumps(values))
    wait_for(lambda: replica_zones(kube, zone_nodes) == sorted(ZONES), 30, what="a CoreDNS replica in each zone")
    after = lookups(kube, test_image, zone_nodes)
    assert all(ok and message == "resolved 172.20.0.1" for ok, message in after.values()), after


# Connect over TCP to port 53 (cluster DNS's TCP listener) of each address in TARGETS: open, dropped (no answer
# within 2 s) or refused.
CONNECT = """
import json, os, socket
result = {}
for address in json.loads(os.environ["TARGETS"]):
    c = socket.socket()
    c.settimeout(2)
    try:
        c.connect((address, 53))
        result[address] = "open"
    except TimeoutError:
        result[address] = "dropped"
    except OSError as exc:
        result[address] = f"refused: {exc}"
open("/dev/termination-log", "w").write(json.dumps(result))
"""


def test_nodes_of_two_wavelength_zones_cannot_reach_each_other(kube, zone_nodes, test_image):
    """A pod reaches its own node and the region (the lab's AWS endpoint on 127.0.0.1) but gets no answer from a
    node in another Wavelength zone, on any port: the packets are dropped, as between two Wavelength zones."""
    addresses = {zone: address for zone, (_, _, address) in
                 run_jobs(kube, test_image, zone_nodes, "pass").items()}
    assert len(set(addresses.values())) == len(ZONES), addresses
    region = "127.0.0.1"
    results = run_jobs(kube, test_image, zone_nodes, CONNECT,
                       {"TARGETS": json.dumps([*addresses.values(), region])})
    for zone, (ok, message, _) in results.items():
        assert ok, message
        seen = json.loads(message)
        assert seen[addresses[zone]] == "open", (zone, seen)
        assert {seen[addresses[other]] for other in ZONES if other != zone} == {"dropped"}, (zone, seen)
        assert seen[region] != "dropped", (zone, seen)  # a refused port still answers: the region is reachable

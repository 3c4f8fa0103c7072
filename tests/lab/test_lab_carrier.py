"""The last mile as AWS enforces it, on the running lab: a node's NodePort on its carrier address answers devices on
the carrier network (127.0.2.0/24) and nodes (127.0.1.0/24), nobody else (127.0.0.1 gets no answer); an elastic
carrier IP associated with the node takes the traffic over. Jobs pinned to the node reach its NodePort on the node's
private address (what endpoint_check's cluster mode does), with the pod's securityContext enforced."""

import base64
import ipaddress
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError
from edgelab import config, device

pytest.register_assert_rewrite("fixtures_cluster")
from fixtures_cluster import (
    LAB,
    NODECONFIG,
    WL_ZONE,
    deployment,
    mime_user_data,
    node_port_service,
    ready_status,
    wait_for,
)

pytest_plugins = ["fixtures_cluster"]  # fixtures: lab, aws, kube, wavelength_subnet, test_image

NODE_PORT = 30234
NAME = "lab-carrier"
OTHER_NBG = "us-east-1-wl1-nyc-wlz-1"
BOOT = "#!/bin/bash\nset -eu\nmkdir -p /var/lib/edgeml/models/m\necho weights > /var/lib/edgeml/models/m/model.txt\n"


@pytest.fixture(scope="module")
def node(aws, kube, wavelength_subnet, test_image):
    """One node (ASG of 1 in bos) serving the test image on NODE_PORT: (instance id, its auto carrier IP, ASG name)."""
    ec2, asg = aws("ec2"), aws("autoscaling")
    name = f"lab-carrier-{uuid.uuid4().hex[:8]}"
    user_data = mime_user_data(BOOT, nodeconfig=NODECONFIG.format(pool="carrier"))
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.xlarge",
        "UserData": base64.b64encode(user_data.encode()).decode(),
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": wavelength_subnet, "AssociateCarrierIpAddress": True}]})
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, MaxSize=1, DesiredCapacity=1,
                                  LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
                                  VPCZoneIdentifier=wavelength_subnet)
    kube.delete(f"/apis/apps/v1/namespaces/default/deployments/{NAME}")  # leftovers of an interrupted run
    kube.delete(f"/api/v1/namespaces/default/services/{NAME}")
    try:
        def in_service():
            group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
            return [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
        (instance_id,) = wait_for(in_service, 90, what="instance InService")
        wait_for(lambda: ready_status(kube.node(instance_id)) == "True", 60, what="Node Ready")
        kube.create("/api/v1/namespaces/default/services", node_port_service(NAME, NODE_PORT))
        kube.create("/apis/apps/v1/namespaces/default/deployments", deployment(NAME, test_image, "carrier"))
        yield instance_id, carrier_ip(aws, instance_id), name
    finally:
        kube.delete(f"/apis/apps/v1/namespaces/default/deployments/{NAME}")
        kube.delete(f"/api/v1/namespaces/default/services/{NAME}")
        for address in ec2.describe_addresses(Filters=[{"Name": "tag:test", "Values": [name]}])["Addresses"]:
            if address.get("AssociationId"):
                ec2.disassociate_address(AssociationId=address["AssociationId"])
            ec2.release_address(AllocationId=address["AllocationId"])
        asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
        ec2.delete_launch_template(LaunchTemplateName=name)


def carrier_ip(aws, instance_id: str) -> str:
    inst = aws("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return inst["NetworkInterfaces"][0]["Association"]["CarrierIp"]


def answer(ip: str, source: str = config.DEVICE_ADDRESS, timeout: float = 2.0):
    """The NodePort's answer (status, body) from `source`, or None when nothing answers."""
    try:
        status, _, body = device.request(f"http://{ip}:{NODE_PORT}/ping", source=source, timeout=timeout)
        return status, body
    except OSError:
        return None


def allocate(ec2, nbg: str, tag: str) -> dict:
    return ec2.allocate_address(Domain="vpc", NetworkBorderGroup=nbg, TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": "test", "Value": tag}]}])


def test_carrier_address_answers_devices_and_nodes_only(node):
    _, ip, _ = node
    assert wait_for(lambda: answer(ip), 60, what="NodePort answers a device")[0] == 200
    assert answer(ip, source="127.0.2.77")[0] == 200  # any device address
    assert answer(ip, source="127.0.1.200")[0] == 200  # from inside the VPC (a node's address)
    with pytest.raises(TimeoutError):  # the internet / the region: no answer at all (no reply, no reset)
        device.request(f"http://{ip}:{NODE_PORT}/ping", source="127.0.0.1", timeout=2)


def test_lab_device_cli(node):
    _, ip, _ = node
    url = f"http://{ip}:{NODE_PORT}/ping"
    wait_for(lambda: answer(ip), 60, what="NodePort answers a device")
    ok = subprocess.run([str(LAB), "device", url], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and ok.stdout.startswith("200\n"), ok.stdout + ok.stderr
    bad = subprocess.run([str(LAB), "device", "--from", "127.0.0.1", url], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 2 and "not in the device network 127.0.2.0/24" in bad.stderr
    silent = subprocess.run([str(LAB), "device", "--from", "127.0.2.10", "--timeout", "1",
                             f"http://127.0.0.1:{NODE_PORT + 1}/"], capture_output=True, text=True, timeout=30)
    assert silent.returncode == 1 and "ConnectionRefusedError" in silent.stderr


def test_elastic_carrier_ip_takes_the_traffic(aws, kube, node):
    instance_id, auto_ip, tag = node
    ec2 = aws("ec2")
    wait_for(lambda: answer(auto_ip), 60, what="NodePort answers on the auto-assigned address")
    eip = allocate(ec2, WL_ZONE, tag)
    assert "PublicIp" not in eip and eip["NetworkBorderGroup"] == WL_ZONE
    assert eip["AllocationId"] in lab_resources()["elastic_addresses"]["us-east-1"]

    # another border group's address cannot be associated with the node
    other = allocate(ec2, OTHER_NBG, tag)
    with pytest.raises(ClientError) as e:
        ec2.associate_address(AllocationId=other["AllocationId"], InstanceId=instance_id)
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"
    ec2.release_address(AllocationId=other["AllocationId"])

    assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=instance_id)["AssociationId"]
    elastic = eip["CarrierIp"]
    assert carrier_ip(aws, instance_id) == elastic
    assert wait_for(lambda: answer(elastic), 30, what="NodePort answers on the elastic carrier IP")[0] == 200
    wait_for(lambda: answer(auto_ip) is None, 30, what="the old auto-assigned address stops answering")
    with pytest.raises(TimeoutError):
        device.request(f"http://{elastic}:{NODE_PORT}/ping", source="127.0.0.1", timeout=2)
    addresses = wait_for(lambda: [a for a in (kube.node(instance_id) or {}).get("status", {}).get("addresses", [])
                                  if a == {"type": "ExternalIP", "address": elastic}], 30, what="ExternalIP")
    assert addresses

    with pytest.raises(ClientError) as e:
        ec2.release_address(AllocationId=eip["AllocationId"])
    assert e.value.response["Error"]["Code"] == "InvalidIPAddress.InUse"

    ec2.disassociate_address(AssociationId=assoc)
    new_auto = carrier_ip(aws, instance_id)
    assert new_auto != elastic and new_auto.startswith(config.CARRIER_IP_PREFIX)
    wait_for(lambda: answer(new_auto), 30, what="NodePort answers on the new auto-assigned address")
    ec2.release_address(AllocationId=eip["AllocationId"])
    assert eip["AllocationId"] not in lab_resources().get("elastic_addresses", {}).get("us-east-1", [])


def lab_resources() -> dict:
    import requests
    return requests.get(f"{config.AWS_URL}/_lab/resources", timeout=5).json()


# ---- Jobs: what endpoint_check's cluster mode runs (a pod pinned to a node, calling the node's private address) ----
JOB_PROGRAM = """
import os, urllib.request
body = urllib.request.urlopen(f"http://{os.environ['NODE_IP']}:{os.environ['PORT']}/ping", timeout=5).read()
open("/dev/termination-log", "w").write(os.environ["NODE_IP"] + " " + body.decode()[:100])
"""
JOBS = "/apis/batch/v1/namespaces/default/jobs"


def job(name: str, node_name: str, security: dict, deadline: int = 60, ttl: int | None = None) -> dict:
    spec = {"backoffLimit": 0, "activeDeadlineSeconds": deadline, "template": {
        "metadata": {"labels": {"test": name}},
        "spec": {"nodeName": node_name, "restartPolicy": "Never", "securityContext": security,
                 "containers": [{"name": "probe", "image": "IMAGE", "imagePullPolicy": "IfNotPresent",
                                 "command": ["python3", "-c", JOB_PROGRAM],
                                 "env": [{"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                                         {"name": "PORT", "value": str(NODE_PORT)}],
                                 "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                     "capabilities": {"drop": ["ALL"]}}}]}}}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def job_pods(kube, name: str) -> list[dict]:
    return (kube.get(f"/api/v1/namespaces/default/pods?labelSelector=job-name%3D{name}") or {}).get("items", [])


def finished(kube, name: str) -> dict | None:
    obj = kube.get(f"{JOBS}/{name}") or {}
    conds = [c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
    return obj if conds else None


def test_job_on_a_node_reaches_its_nodeport_on_the_private_address(kube, node, test_image):
    instance_id, ip, _ = node
    wait_for(lambda: answer(ip), 60, what="NodePort answers a device")
    node_name = kube.node(instance_id)["metadata"]["name"]
    name = f"probe-{uuid.uuid4().hex[:6]}"
    manifest = job(name, node_name, {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001}, ttl=5)
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = test_image
    kube.create(JOBS, manifest)
    try:
        done = wait_for(lambda: finished(kube, name), 60, what="probe Job finished")
        assert done["status"]["succeeded"] == 1 and done["status"]["conditions"][0]["type"] == "Complete"
        [pod] = job_pods(kube, name)
        assert pod["status"]["phase"] == "Succeeded" and pod["spec"]["nodeName"] == node_name
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        host_ip, answer_body = terminated["message"].split(" ", 1)
        assert terminated["exitCode"] == 0 and pod["status"]["hostIP"] == host_ip
        assert ipaddress.ip_address(host_ip) in ipaddress.ip_network(config.VPC_NETWORK)
        assert answer_body == "ok"  # the test server's /ping answer, through the NodePort
        # ttlSecondsAfterFinished: the Job goes, and with it its pod and container
        wait_for(lambda: kube.get(f"{JOBS}/{name}") is None, 30, what="Job deleted after its TTL")
        wait_for(lambda: not job_pods(kube, name), 30, what="the Job's pod deleted")
    finally:
        kube.delete(f"{JOBS}/{name}")


def test_job_pod_security_is_enforced_and_the_deadline_fails_it(kube, node):
    instance_id, _, _ = node
    node_name = kube.node(instance_id)["metadata"]["name"]
    name = f"probe-root-{uuid.uuid4().hex[:6]}"
    manifest = job(name, node_name, {"runAsNonRoot": True}, deadline=4)  # the node image runs as root
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "edgelab/node:latest"
    kube.create(JOBS, manifest)
    try:
        waiting = wait_for(lambda: [p for p in job_pods(kube, name) if "waiting" in
                                    p["status"]["containerStatuses"][0]["state"] and p["status"]
                                    ["containerStatuses"][0]["state"]["waiting"]["reason"]
                                    == "CreateContainerConfigError"], 30, what="pod refused")
        assert "runAsNonRoot" in waiting[0]["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        done = wait_for(lambda: finished(kube, name), 30, what="deadline exceeded")
        assert done["status"]["failed"] == 1
        assert (done["status"]["conditions"][0]["type"], done["status"]["conditions"][0]["reason"]) == \
            ("Failed", "DeadlineExceeded")
    finally:
        kube.delete(f"{JOBS}/{name}")
    wait_for(lambda: not job_pods(kube, name), 30, what="a deleted Job's pod goes")

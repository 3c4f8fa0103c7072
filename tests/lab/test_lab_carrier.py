"""The last mile as AWS enforces it, on the running lab: a node's NodePort on its carrier address answers devices on
the carrier network (127.0.2.0/24) and nodes (127.0.1.0/24), nobody else (127.0.0.1 gets no answer); an elastic
carrier IP associated with the node takes the traffic over."""

import base64
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

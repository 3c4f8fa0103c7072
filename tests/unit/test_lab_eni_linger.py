"""Lab AWS, teardown as AWS makes it hard (issue 14, item 6): EKS's cluster interfaces and the VPC CNI's node
interfaces outlive their owner (lab delay eni_linger) and block DeleteSubnet / DeleteSecurityGroup / DeleteVpc with
AWS's DependencyViolation; carrier gateways pass through `deleting` (cagw_delete) and stay listed as `deleted`.
In-process lab AWS (boto3): the calls the old teardown made, and what they answer now."""

import time

import pytest
import requests
from botocore.exceptions import ClientError

DELAYS = {"eks_delete": 0.3, "eni_linger": 1.0, "cagw_delete": 0.5, "iam_propagation": 0}
ROLE = "arn:aws:iam::123456789012:role/eks"


@pytest.fixture(scope="module")
def lab(lab_delays):
    with lab_delays(DELAYS) as url:
        yield url


@pytest.fixture
def net(lab, client, uid):
    """A VPC with two regional subnets and a security group."""
    ec2 = client("ec2")
    n = int(uid[:2], 16) % 200
    vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{n}.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
        "Subnet"]["SubnetId"] for i, z in enumerate("ab")]
    group = ec2.create_security_group(GroupName=f"g-{uid}", Description="x", VpcId=vpc)["GroupId"]
    return {"ec2": ec2, "vpc": vpc, "subnets": subnets, "group": group}


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def enis(ec2, vpc):
    return ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]


def test_cluster_interfaces_outlive_the_cluster_and_block_deletion(net, client, uid):
    ec2, eks, vpc, group = net["ec2"], client("eks"), net["vpc"], net["group"]
    eks.create_cluster(name=f"c-{uid}", roleArn=ROLE,
                       resourcesVpcConfig={"subnetIds": net["subnets"], "securityGroupIds": [group]})
    found = enis(ec2, vpc)
    assert sorted(e["SubnetId"] for e in found) == sorted(net["subnets"])
    for eni in found:
        assert eni["Description"] == f"Amazon EKS c-{uid}"
        assert eni["RequesterManaged"] and eni["Status"] == "in-use"
        assert [g["GroupId"] for g in eni["Groups"]] == [group]
        assert error(lambda eni=eni: ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])) == (
            "InvalidParameterValue", f"Network interface '{eni['NetworkInterfaceId']}' is currently in use.")
    eks.delete_cluster(name=f"c-{uid}")
    deleted = time.monotonic()
    # What the old teardown did right after the cluster was gone: AWS's errors.
    subnet = net["subnets"][0]
    assert error(lambda: ec2.delete_subnet(SubnetId=subnet)) == (
        "DependencyViolation", f"The subnet '{subnet}' has dependencies and cannot be deleted.")
    assert error(lambda: ec2.delete_security_group(GroupId=group)) == (
        "DependencyViolation", f"resource {group} has a dependent object")
    assert error(lambda: ec2.delete_vpc(VpcId=vpc)) == (
        "DependencyViolation", f"The vpc '{vpc}' has dependencies and cannot be deleted.")
    listed = requests.get(f"{net['ec2'].meta.endpoint_url}/_lab/resources", timeout=5).json()["network_interfaces"]
    assert {e["NetworkInterfaceId"] for e in found} <= set(listed["us-east-1"])
    # EKS deletes them eks_delete + eni_linger after DeleteCluster; then everything goes.
    while enis(ec2, vpc):
        assert time.monotonic() - deleted < DELAYS["eks_delete"] + DELAYS["eni_linger"] + 2
        time.sleep(0.1)
    assert time.monotonic() - deleted >= DELAYS["eni_linger"]
    ec2.delete_security_group(GroupId=group)
    for subnet in net["subnets"]:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


def test_terminated_node_leaves_its_cni_interface(net, uid):
    ec2, vpc, group = net["ec2"], net["vpc"], net["group"]
    ami = ec2.describe_images(Owners=["602401143452"])["Images"][0]["ImageId"]
    node_tags = [{"ResourceType": "instance", "Tags": [{"Key": f"kubernetes.io/cluster/c-{uid}", "Value": "owned"}]}]
    nodes = [ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[group],
                               TagSpecifications=node_tags)["Instances"][0]["InstanceId"] for subnet in net["subnets"]]
    other = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=net["subnets"][0],
                              SecurityGroupIds=[group])["Instances"][0]["InstanceId"]
    assert error(lambda: ec2.delete_subnet(SubnetId=net["subnets"][0]))[0] == "DependencyViolation"  # running
    ec2.terminate_instances(InstanceIds=[*nodes, other])
    terminated = time.monotonic()
    left = [e for e in enis(ec2, vpc) if e["Status"] == "available"]
    assert sorted(e["Description"] for e in left) == sorted(f"aws-K8S-{i}" for i in nodes)  # not the other instance
    for eni in left:
        node = eni["Description"].removeprefix("aws-K8S-")
        assert eni["TagSet"] == [{"Key": "node.k8s.amazonaws.com/instance_id", "Value": node}]
        assert [g["GroupId"] for g in eni["Groups"]] == [group] and "Attachment" not in eni
    by_subnet = {e["SubnetId"]: e["NetworkInterfaceId"] for e in left}
    first, second = net["subnets"]
    assert error(lambda: ec2.delete_subnet(SubnetId=first)) == (
        "DependencyViolation", f"The subnet '{first}' has dependencies and cannot be deleted.")
    assert error(lambda: ec2.delete_security_group(GroupId=group))[0] == "DependencyViolation"
    # available: the account may delete it ...
    ec2.delete_network_interface(NetworkInterfaceId=by_subnet[first])
    ec2.delete_subnet(SubnetId=first)
    # ... or wait for it to go
    assert error(lambda: ec2.delete_subnet(SubnetId=second))[0] == "DependencyViolation"
    time.sleep(max(0.0, DELAYS["eni_linger"] - (time.monotonic() - terminated)) + 0.1)
    ec2.delete_subnet(SubnetId=second)
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)


def test_carrier_gateway_passes_through_deleting(net):
    ec2, vpc = net["ec2"], net["vpc"]
    gateway = ec2.create_carrier_gateway(VpcId=vpc)["CarrierGateway"]["CarrierGatewayId"]
    url = f"{ec2.meta.endpoint_url}/_lab/resources"
    assert gateway in requests.get(url, timeout=5).json()["carrier_gateways"]["us-east-1"]
    assert ec2.delete_carrier_gateway(CarrierGatewayId=gateway)["CarrierGateway"]["State"] == "deleting"

    def state():
        listed = ec2.describe_carrier_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["CarrierGateways"]
        return [g["State"] for g in listed if g["CarrierGatewayId"] == gateway]

    assert state() == ["deleting"]
    assert gateway not in requests.get(url, timeout=5).json().get("carrier_gateways", {}).get("us-east-1", [])
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    assert error(lambda: ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0",
                                          CarrierGatewayId=gateway))[0] == "InvalidCarrierGatewayID.NotFound"
    time.sleep(DELAYS["cagw_delete"])
    assert state() == ["deleted"]  # still listed, as deleted
    assert error(lambda: ec2.delete_carrier_gateway(CarrierGatewayId=gateway))[0] == \
        "InvalidCarrierGatewayID.NotFound"

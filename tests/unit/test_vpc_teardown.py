"""Teardown that finishes (issue 14, item 6): vpc_teardown deletes the interfaces EKS and the VPC CNI leave behind
and waits out the ones EKS still holds; carrier_gateway ignores gateways that are deleting or deleted; and the
edge_network role's teardown tasks finish in one run where EC2 answers DependencyViolation for a while.
In-process lab AWS (lab delays eni_linger, cagw_delete set short here)."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[2]
CREDS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}
# eni_linger is long enough that the EKS interfaces are still there when the teardown starts, even on a loaded
# machine (the test proves the wait), short enough to keep the suite fast.
DELAYS = {"eks_delete": 0.3, "eni_linger": 3.0, "cagw_delete": 0.3, "iam_propagation": 0}
ROLE = "arn:aws:iam::123456789012:role/eks"
CNI_TAG = "node.k8s.amazonaws.com/instance_id"


@pytest.fixture(scope="module")
def lab(lab_delays):
    with lab_delays(DELAYS) as url:
        yield url


def deployment(ec2, eks, name, n):
    """What site.yml leaves for teardown once the node groups and the cluster are deleted: a tagged VPC with two
    subnets, the node and cluster groups referring to each other, a carrier gateway, the cluster's lingering
    interfaces and a CNI interface left by a node."""
    def tags(kind, **extra):
        return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in
                                                {"Name": name, "edgeml:deployment": name, **extra}.items()]}]
    vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16", TagSpecifications=tags("vpc"))["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{n}.{i}.0/24", AvailabilityZone=f"us-east-1{z}",
                                 TagSpecifications=tags("subnet"))["Subnet"]["SubnetId"] for i, z in enumerate("ab")]
    node, cluster = (ec2.create_security_group(GroupName=f"{name}-{g}", Description=g, VpcId=vpc,
                                               TagSpecifications=tags("security-group"))["GroupId"]
                     for g in ("node", "cluster"))
    ec2.authorize_security_group_ingress(GroupId=node, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": cluster}]}])
    ec2.authorize_security_group_ingress(GroupId=cluster, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": node}]}])
    ec2.create_carrier_gateway(VpcId=vpc, TagSpecifications=tags("carrier-gateway"))
    eks.create_cluster(name=name, roleArn=ROLE,
                       resourcesVpcConfig={"subnetIds": subnets, "securityGroupIds": [cluster]})
    eks.delete_cluster(name=name)
    deleted = time.monotonic()
    # The CNI's interface of a node terminated long ago (the lab's own go after eni_linger, see test_lab_eni_linger;
    # on AWS they may stay for good): only the teardown removes this one.
    cni = ec2.create_network_interface(
        SubnetId=subnets[1], Groups=[node], Description="aws-K8S-i-0123456789abcdef0",
        TagSpecifications=[{"ResourceType": "network-interface",
                            "Tags": [{"Key": CNI_TAG, "Value": "i-0123456789abcdef0"}]}])
    return {"vpc": vpc, "subnets": subnets, "groups": [node, cluster], "deleted": deleted,
            "cni": cni["NetworkInterface"]["NetworkInterfaceId"]}


def interfaces(ec2, vpc):
    return ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]


def vpc_gone(ec2, vpc):
    with pytest.raises(ClientError) as e:
        ec2.describe_vpcs(VpcIds=[vpc])
    return e.value.response["Error"]["Code"] == "InvalidVpcID.NotFound"


def test_waits_out_eks_interfaces_and_deletes_cni_leftovers(lab, run, client, uid):
    ec2 = client("ec2")
    d = deployment(ec2, client("eks"), f"td-{uid}", 101)
    cni = d["cni"]
    # the old teardown's calls fail
    with pytest.raises(ClientError, match="DependencyViolation"):
        ec2.delete_subnet(SubnetId=d["subnets"][0])
    # check mode: the plan, nothing deleted
    planned = run("vpc_teardown", check=True, diff=True, vpc_id=d["vpc"], security_group_ids=d["groups"])
    assert planned["changed"] and planned["deleted_network_interfaces"] == [cni], planned
    assert sorted(planned["deleted_subnets"]) == sorted(d["subnets"]) and planned["vpc_deleted"]
    assert planned["diff"]["before"]["security_groups"] == d["groups"]
    assert cni in [e["NetworkInterfaceId"] for e in interfaces(ec2, d["vpc"])]
    # empty the groups (they refer to each other), as the role does first
    for group in d["groups"]:
        rules = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=rules)
    out = run("vpc_teardown", vpc_id=d["vpc"], security_group_ids=d["groups"], poll_interval=1, wait_timeout=30)
    assert not out.get("failed"), out
    assert out["changed"] and out["deleted_network_interfaces"] == [cni]  # deleted, not waited for
    assert sorted(out["deleted_security_groups"]) == sorted(d["groups"]) and out["vpc_deleted"]
    # EKS's in-use interfaces were waited for until EKS removed them (eks_delete + eni_linger after DeleteCluster)
    assert out["waited"] > 0 and time.monotonic() - d["deleted"] >= DELAYS["eks_delete"] + DELAYS["eni_linger"]
    assert vpc_gone(ec2, d["vpc"])


def test_removed_zone_subnets_only(lab, run, client, uid):
    """A zone removed from a live deployment: only its subnet goes, with the CNI leftover in it; the leftover in the
    subnet that stays (an interface the CNI is about to attach looks the same) and the VPC are not touched."""
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.104.0.0/16")["Vpc"]["VpcId"]
    gone, stays = (ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.104.{i}.0/24", AvailabilityZone="us-east-1a")[
        "Subnet"]["SubnetId"] for i in (1, 2))
    leftovers = {subnet: ec2.create_network_interface(
        SubnetId=subnet, Description=f"aws-K8S-i-0{i}",
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": CNI_TAG, "Value": f"i-0{i}"}]}])[
        "NetworkInterface"]["NetworkInterfaceId"] for i, subnet in enumerate((gone, stays))}
    planned = run("vpc_teardown", check=True, vpc_id=vpc, subnet_ids=[gone], delete_vpc=False)
    assert planned["deleted_network_interfaces"] == [leftovers[gone]] and planned["deleted_subnets"] == [gone], planned
    out = run("vpc_teardown", vpc_id=vpc, subnet_ids=[gone], delete_vpc=False, poll_interval=1, wait_timeout=30)
    assert not out.get("failed") and out["changed"] and not out["vpc_deleted"], out
    assert out["deleted_network_interfaces"] == [leftovers[gone]] and out["deleted_subnets"] == [gone]
    assert [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]] \
        == [stays]
    assert [e["NetworkInterfaceId"] for e in interfaces(ec2, vpc)] == [leftovers[stays]]
    again = run("vpc_teardown", vpc_id=vpc, subnet_ids=[gone], delete_vpc=False)
    assert not again["changed"], again
    out = run("vpc_teardown", vpc_id=vpc, poll_interval=1, wait_timeout=30)
    assert out["vpc_deleted"] and vpc_gone(ec2, vpc), out


def test_times_out_naming_the_blocker_and_touches_nothing_else(lab, run, client, uid):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.102.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.102.1.0/24", AvailabilityZone="us-east-1a")["Subnet"][
        "SubnetId"]
    mine = ec2.create_network_interface(SubnetId=subnet, Description=f"appliance {uid}")["NetworkInterface"][
        "NetworkInterfaceId"]
    # a CNI leftover in another VPC is not ours
    other_vpc = ec2.create_vpc(CidrBlock="10.103.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.103.1.0/24", AvailabilityZone="us-east-1a")[
        "Subnet"]["SubnetId"]
    foreign = ec2.create_network_interface(
        SubnetId=other_subnet, Description="aws-K8S-i-0123456789abcdef0",
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": CNI_TAG, "Value": "i-0"}]}])[
        "NetworkInterface"]["NetworkInterfaceId"]
    out = run("vpc_teardown", vpc_id=vpc, poll_interval=1, wait_timeout=1)
    assert out.get("failed"), out
    assert f"Timed out after 1 s deleting subnet {subnet}, VPC {vpc}: DependencyViolation" in out["msg"]
    assert re.search(rf"{mine} \(available, 'appliance {uid}', {subnet}", out["msg"]), out["msg"]
    assert [e["id"] for e in out["blocking_network_interfaces"]] == [mine]
    assert out["deleted_network_interfaces"] == [] and not out["vpc_deleted"]
    assert [e["NetworkInterfaceId"] for e in interfaces(ec2, vpc)] == [mine]
    assert [e["NetworkInterfaceId"] for e in interfaces(ec2, other_vpc)] == [foreign]
    for eni, sub, v in ((mine, subnet, vpc), (foreign, other_subnet, other_vpc)):
        ec2.delete_network_interface(NetworkInterfaceId=eni)
        ec2.delete_subnet(SubnetId=sub)
        ec2.delete_vpc(VpcId=v)


def run_community(aws_url, module_name, **args):
    """A community.aws module in-process, as the conftest's run() runs ours."""
    from ansible.module_utils.testing import patch_module_args
    module = __import__(f"ansible_collections.community.aws.plugins.modules.{module_name}", fromlist=["main"])
    params = {**CREDS, "endpoint_url": aws_url, **args}
    out = io.StringIO()
    with patch_module_args(params), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        module.main()
    return json.loads(out.getvalue())


def test_carrier_gateway_ignores_deleting_and_deleted_gateways(lab, run, client, aws_url):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.104.0.0/16")["Vpc"]["VpcId"]
    first = run("carrier_gateway", vpc_id=vpc, tags={"Name": "edge"})
    assert first["changed"] and first["tags"] == {"Name": "edge"}
    gone = run("carrier_gateway", vpc_id=vpc, state="absent")
    assert gone["changed"] and gone["deleted"] == [first["carrier_gateway_id"]]
    # deleting or deleted, still listed: community.aws.ec2_carrier_gateway (the create path before) picks it ...
    assert run_community(aws_url, "ec2_carrier_gateway", vpc_id=vpc)["carrier_gateway_id"] == \
        first["carrier_gateway_id"]
    # ... this module plans (check mode) and creates a new one
    plan = run("carrier_gateway", check=True, diff=True, vpc_id=vpc, tags={"Name": "edge"})
    assert plan["changed"] and "carrier_gateway_id" not in plan and plan["diff"]["before"] == {}
    second = run("carrier_gateway", vpc_id=vpc, tags={"Name": "edge"})
    assert second["changed"] and second["carrier_gateway_id"] != first["carrier_gateway_id"]
    assert [(g["id"], g["state"] in ("deleting", "deleted")) for g in second["ignored"]] == [
        (first["carrier_gateway_id"], True)]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0",
                     CarrierGatewayId=second["carrier_gateway_id"])
    ec2.delete_route_table(RouteTableId=table)
    # absent deletes the live one only (deleting the first again would be refused)
    done = run("carrier_gateway", vpc_id=vpc, state="absent", wait=True, wait_timeout=10)
    assert not done.get("failed") and done["deleted"] == [second["carrier_gateway_id"]], done
    states = {g["CarrierGatewayId"]: g["State"] for g in ec2.describe_carrier_gateways(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["CarrierGateways"]}
    assert states == {first["carrier_gateway_id"]: "deleted", second["carrier_gateway_id"]: "deleted"}
    ec2.delete_vpc(VpcId=vpc)


PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/aws: &aws {{region: us-east-1, endpoint_url: "{url}", access_key: testing, secret_key: testing}}
    group/edgeml.wavelength.aws: *aws
    community.aws.ec2_carrier_gateway: *aws
    community.aws.ec2_carrier_gateway_info: *aws
  vars: {{edge_name: "{name}", edge_tags: {{}}, edge_zones: []}}
  tasks:
    - ansible.builtin.include_role:
        name: edgeml.wavelength.edge_network
        tasks_from: absent
"""


def test_network_teardown_finishes_in_one_run(lab, client, aws_url, uid, tmp_path):
    """The role's teardown tasks right after the cluster and the nodes are gone (what playbooks/teardown.yml runs
    last). Before this fix the security group deletion failed with DependencyViolation."""
    ec2, name = client("ec2"), f"td-{uid}"
    d = deployment(ec2, client("eks"), name, 105)
    playbook = tmp_path / "absent.yml"
    playbook.write_text(PLAYBOOK.format(url=aws_url, name=name))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)], cwd=REPO,
                          env=os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert vpc_gone(ec2, d["vpc"])
    left = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": d["subnets"]}])
    assert left["NetworkInterfaces"] == []

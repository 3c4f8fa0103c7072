"""Lab AWS endpoint, EKS: state transitions, endpoint, access config, update, access entries, nodegroups."""

import base64

import pytest
from aws_helpers import client, lab_api, wait_for
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/edge-cluster"
NODE_ROLE = "arn:aws:iam::123456789012:role/edge-node"
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


@pytest.fixture(scope="module")
def eks(lab_aws):
    lab_api(lab_aws, "POST", "reset")
    return client(lab_aws, "eks")


@pytest.fixture(scope="module")
def cluster(eks, lab_aws):
    ec2 = client(lab_aws, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.4.{i}.0/24", AvailabilityZone=f"us-east-1{z}")
               ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    eks.create_cluster(name="edge", version="1.33", roleArn=ROLE,
                       resourcesVpcConfig={"subnetIds": subnets, "endpointPublicAccess": True,
                                           "endpointPrivateAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
                       accessConfig={"authenticationMode": "API"})
    return {"name": "edge", "vpc": vpc, "subnets": subnets}


def test_cluster_goes_active_after_the_delay(eks, cluster, lab_aws):
    c = eks.describe_cluster(name="edge")["cluster"]
    assert c["status"] == "CREATING"
    with pytest.raises(ClientError) as e:  # nodegroups need an ACTIVE cluster
        eks.create_nodegroup(clusterName="edge", nodegroupName="ng", nodeRole=NODE_ROLE, subnets=cluster["subnets"])
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    wait_for(lambda: eks.describe_cluster(name="edge")["cluster"]["status"] == "ACTIVE", 5)
    c = eks.describe_cluster(name="edge")["cluster"]
    assert c["endpoint"] == lab_aws_kube_url()
    assert base64.b64decode(c["certificateAuthority"]["data"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert c["accessConfig"]["authenticationMode"] == "API"
    vpc = c["resourcesVpcConfig"]
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"] and vpc["endpointPrivateAccess"] is True
    assert vpc["vpcId"] == cluster["vpc"] and vpc["clusterSecurityGroupId"].startswith("sg-")
    assert c["version"] == "1.33"


def test_create_cluster_refuses_versions_eks_does_not_offer(eks, cluster):
    for version in ("1.31", "1.38", "latest"):  # past its end of extended support, not released, not a version
        with pytest.raises(eks.exceptions.InvalidParameterException) as e:
            eks.create_cluster(name="old", version=version, roleArn=ROLE,
                               resourcesVpcConfig={"subnetIds": cluster["subnets"]})
        assert e.value.response["Error"]["Message"] == f"unsupported Kubernetes version {version}"
    assert "old" not in eks.list_clusters()["clusters"]


def lab_aws_kube_url():
    from edgelab.aws.state import LAB
    return LAB.kube_url


def test_update_cluster_config_merges(eks, cluster):
    wait_for(lambda: eks.describe_cluster(name="edge")["cluster"]["status"] == "ACTIVE", 5)
    update = eks.update_cluster_config(name="edge", resourcesVpcConfig={"publicAccessCidrs": ["198.51.100.7/32"]})
    assert update["update"]["type"] == "EndpointAccessUpdate" and update["update"]["status"] == "Successful"
    vpc = eks.describe_cluster(name="edge")["cluster"]["resourcesVpcConfig"]
    assert vpc["publicAccessCidrs"] == ["198.51.100.7/32"] and vpc["subnetIds"] == cluster["subnets"]
    eks.update_cluster_config(name="edge", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    assert eks.describe_cluster(name="edge")["cluster"]["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    with pytest.raises(ClientError) as e:
        eks.update_cluster_config(name="edge", resourcesVpcConfig={"endpointPublicAccess": False,
                                                                    "endpointPrivateAccess": False})
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"


def test_access_entries(eks, cluster, lab_aws):
    wait_for(lambda: eks.describe_cluster(name="edge")["cluster"]["status"] == "ACTIVE", 5)
    creator = client(lab_aws, "sts").get_caller_identity()["Arn"]  # EKS names the creator's IAM principal
    assert eks.list_access_entries(clusterName="edge")["accessEntries"] == [creator]
    entry = eks.create_access_entry(clusterName="edge", principalArn=NODE_ROLE, type="EC2_LINUX")["accessEntry"]
    assert entry["type"] == "EC2_LINUX" and entry["username"] == "system:node:{{EC2PrivateDNSName}}"
    with pytest.raises(eks.exceptions.ResourceInUseException):
        eks.create_access_entry(clusterName="edge", principalArn=NODE_ROLE, type="EC2_LINUX")
    assert eks.describe_access_entry(clusterName="edge", principalArn=NODE_ROLE)["accessEntry"]["principalArn"] \
        == NODE_ROLE
    user = "arn:aws:iam::123456789012:role/ops"
    eks.create_access_entry(clusterName="edge", principalArn=user)
    assoc = eks.associate_access_policy(clusterName="edge", principalArn=user, policyArn=ADMIN,
                                        accessScope={"type": "cluster"})
    assert assoc["associatedAccessPolicy"]["policyArn"] == ADMIN
    listed = eks.list_associated_access_policies(clusterName="edge", principalArn=user)
    assert [p["policyArn"] for p in listed["associatedAccessPolicies"]] == [ADMIN]
    eks.disassociate_access_policy(clusterName="edge", principalArn=user, policyArn=ADMIN)
    assert eks.list_associated_access_policies(clusterName="edge", principalArn=user)[
        "associatedAccessPolicies"] == []
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.disassociate_access_policy(clusterName="edge", principalArn=user, policyArn=ADMIN)
    eks.delete_access_entry(clusterName="edge", principalArn=user)
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_access_entry(clusterName="edge", principalArn=user)
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.list_access_entries(clusterName="missing")
    assert set(eks.list_access_entries(clusterName="edge")["accessEntries"]) == {creator, NODE_ROLE}


def test_nodegroup_has_update_config(eks, cluster):
    wait_for(lambda: eks.describe_cluster(name="edge")["cluster"]["status"] == "ACTIVE", 5)
    eks.create_nodegroup(clusterName="edge", nodegroupName="ng", nodeRole=NODE_ROLE, subnets=cluster["subnets"])
    assert eks.describe_nodegroup(clusterName="edge", nodegroupName="ng")["nodegroup"]["updateConfig"] == \
        {"maxUnavailable": 1}
    eks.delete_nodegroup(clusterName="edge", nodegroupName="ng")


def test_delete_goes_through_deleting(eks, cluster, lab_aws):
    eks.delete_cluster(name="edge")
    assert eks.describe_cluster(name="edge")["cluster"]["status"] == "DELETING"
    with pytest.raises(eks.exceptions.ResourceInUseException):
        eks.create_cluster(name="edge", roleArn=ROLE, resourcesVpcConfig={"subnetIds": cluster["subnets"]})

    def gone():
        try:
            eks.describe_cluster(name="edge")
        except eks.exceptions.ResourceNotFoundException:
            return True
        return False

    wait_for(gone, 5)
    assert lab_api(lab_aws, "GET", "resources")["eks_clusters"] == {}

"""IAM enforcement on the lab AWS endpoint (lab config `iam: enforce`, lab/edgelab/aws/iam_enforce.py): callers other
than the lab's administrator key get what their identity policies allow, by action, resource ARN and the condition
keys the product relies on, with AWS's errors otherwise. Runs its own in-process LabAWS; enforcement is switched off
again after the module (moto's state and the lab config are per process)."""

import json
import logging
import time
import uuid

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def lab():
    from edgelab.aws import LabAWS
    server = LabAWS(host="127.0.0.1", port=0).start()
    before = requests.get(f"{server.url}/_lab/config", timeout=5).json()
    fast = {"iam_propagation": 0, "eks_create": 0, "optin": 0}
    requests.post(f"{server.url}/_lab/config", json={"iam": "enforce", "delays": fast}, timeout=5).raise_for_status()
    try:
        yield server.url
    finally:
        requests.post(f"{server.url}/_lab/config", json={"iam": "off", "delays": before["delays"]}, timeout=5)
        server.stop()


def _client(url, service, key="testing", secret="testing", token=None):
    return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token)


@pytest.fixture
def admin(lab):
    return lambda service: _client(lab, service)


@pytest.fixture
def user(lab, admin):
    """user(*statements) -> client factory for a new IAM user whose inline policy has these statements."""
    def make(*statements):
        iam, name = admin("iam"), f"u-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": list(statements)}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        factory = lambda service: _client(lab, service, key["AccessKeyId"], key["SecretAccessKey"])  # noqa: E731
        factory.arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
        return factory
    return make


def allow(action, resource="*", **condition):
    st = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return st


def error(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


@pytest.fixture
def subnets(admin):
    ec2 = admin("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    return [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"][
        "SubnetId"] for i, az in enumerate("ab")]


def uid() -> str:
    return uuid.uuid4().hex[:8]


# -- S3 --------------------------------------------------------------------------------------------------------------
def test_s3_object_prefix_policy(admin, user):
    bucket = f"models-{uid()}"
    s3 = admin("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/a/1.bin", Body=b"weights")
    s3.put_object(Bucket=bucket, Key="secrets/key", Body=b"x")
    reader = user(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/models/*"))
    assert reader("s3").get_object(Bucket=bucket, Key="models/a/1.bin")["Body"].read() == b"weights"

    status, code, message = error(lambda: reader("s3").list_objects_v2(Bucket=bucket, Prefix="models/"))
    assert (status, code) == (403, "AccessDenied")
    assert message == (f"User: {reader.arn} is not authorized to perform: s3:ListBucket on resource: "
                       f"arn:aws:s3:::{bucket} because no identity-based policy allows the s3:ListBucket action")
    status, code, message = error(lambda: reader("s3").get_object(Bucket=bucket, Key="secrets/key"))
    assert (status, code) == (403, "AccessDenied") and f"arn:aws:s3:::{bucket}/secrets/key" in message
    assert error(lambda: reader("s3").put_object(Bucket=bucket, Key="models/a/2.bin", Body=b"x"))[1] == "AccessDenied"
    assert "models/a/2.bin" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]


def test_s3_list_by_prefix_condition_and_explicit_deny(admin, user):
    bucket = f"data-{uid()}"
    admin("s3").create_bucket(Bucket=bucket)
    admin("s3").put_object(Bucket=bucket, Key="models/x", Body=b"1")
    lister = user(allow("s3:ListBucket", f"arn:aws:s3:::{bucket}", StringLike={"s3:prefix": "models/*"}),
                  allow("s3:*", f"arn:aws:s3:::{bucket}/*"),
                  {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"})
    assert [o["Key"] for o in lister("s3").list_objects_v2(Bucket=bucket, Prefix="models/")["Contents"]] == ["models/x"]
    assert error(lambda: lister("s3").list_objects_v2(Bucket=bucket))[1] == "AccessDenied"
    lister("s3").put_object(Bucket=bucket, Key="models/y", Body=b"2")
    _, code, message = error(lambda: lister("s3").delete_object(Bucket=bucket, Key="models/y"))
    assert code == "AccessDenied" and message.endswith("with an explicit deny in an identity-based policy")
    assert error(lambda: lister("s3").delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "models/y"}]}))[
        1] == "AccessDenied"
    assert admin("s3").get_object(Bucket=bucket, Key="models/y")["Body"].read() == b"2"


# -- STS sessions ----------------------------------------------------------------------------------------------------
def test_assumed_role_gets_its_roles_policies(lab, admin, user):
    iam, name = admin("iam"), f"deployer-{uid()}"
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow("ecr:DescribeRepositories")]}))
    caller = user(allow("sts:AssumeRole", role))
    assert error(lambda: caller("ecr").describe_repositories())[1] == "AccessDeniedException"

    creds = caller("sts").assume_role(RoleArn=role, RoleSessionName="ci")["Credentials"]
    session = [creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]]
    assert "repositories" in _client(lab, "ecr", *session).describe_repositories()
    assert _client(lab, "sts", *session).get_caller_identity()["Arn"] == \
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/ci"
    status, code, message = error(lambda: _client(lab, "eks", *session).list_clusters())
    assert (status, code) == (403, "AccessDeniedException")
    assert message.startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{name}/ci is not authorized to perform: "
                              f"eks:ListClusters on resource: *")
    # the session token is checked
    assert error(lambda: _client(lab, "ecr", *session[:2], "forged").describe_repositories())[1] == \
        "UnrecognizedClientException"
    # a user without sts:AssumeRole on the role cannot assume it; nor can anyone a role's trust policy leaves out
    assert error(lambda: user(allow("ecr:*"))("sts").assume_role(RoleArn=role, RoleSessionName="xx"))[1] == \
        "AccessDenied"
    other = iam.create_role(RoleName=f"eks-only-{uid()}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    assert error(lambda: user(allow("sts:AssumeRole"))("sts").assume_role(RoleArn=other, RoleSessionName="xx"))[1] \
        == "AccessDenied"


# -- EKS, with the lab's own EKS APIs (access entries) ---------------------------------------------------------------
def test_eks_action_allowed_on_one_cluster_arn_only(admin, user, subnets):
    eks, mine, theirs = admin("eks"), f"mine-{uid()}", f"theirs-{uid()}"
    for name in (mine, theirs):
        eks.create_cluster(name=name, roleArn=f"arn:aws:iam::{ACCOUNT}:role/r", resourcesVpcConfig={
            "subnetIds": subnets}, accessConfig={"authenticationMode": "API",
                                                 "bootstrapClusterCreatorAdminPermissions": False})
    arn = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{mine}"
    ops = user(allow(["eks:DescribeCluster", "eks:CreateAccessEntry", "eks:ListAccessEntries"], arn))
    assert ops("eks").describe_cluster(name=mine)["cluster"]["arn"] == arn
    status, code, message = error(lambda: ops("eks").describe_cluster(name=theirs))
    assert (status, code) == (403, "AccessDeniedException")
    assert f"eks:DescribeCluster on resource: arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{theirs}" in message
    principal = f"arn:aws:iam::{ACCOUNT}:role/viewer-{uid()}"
    ops("eks").create_access_entry(clusterName=mine, principalArn=principal)
    assert ops("eks").list_access_entries(clusterName=mine)["accessEntries"] == [principal]
    assert error(lambda: ops("eks").create_access_entry(clusterName=theirs, principalArn=principal))[1] == \
        "AccessDeniedException"
    assert eks.list_access_entries(clusterName=theirs)["accessEntries"] == []
    # an access entry is its own resource: AssociateAccessPolicy is not granted by the cluster's ARN
    status, code, message = error(lambda: ops("eks").associate_access_policy(
        clusterName=mine, principalArn=principal, accessScope={"type": "cluster"},
        policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"))
    assert code == "AccessDeniedException" and f"eks:AssociateAccessPolicy on resource: arn:aws:eks:{REGION}:" \
        f"{ACCOUNT}:access-entry/{mine}/" in message


def test_create_cluster_needs_pass_role_to_eks(admin, user, subnets):
    iam, name = admin("iam"), f"cluster-role-{uid()}"
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    config = {"roleArn": role, "resourcesVpcConfig": {"subnetIds": subnets}}
    no_pass = user(allow("eks:CreateCluster"))
    _, code, message = error(lambda: no_pass("eks").create_cluster(name=f"c-{uid()}", **config))
    assert code == "AccessDeniedException" and f"iam:PassRole on resource: {role}" in message
    to_ec2 = user(allow("eks:CreateCluster"),
                  allow("iam:PassRole", role, StringEquals={"iam:PassedToService": "ec2.amazonaws.com"}))
    assert error(lambda: to_ec2("eks").create_cluster(name=f"c-{uid()}", **config))[1] == "AccessDeniedException"
    to_eks = user(allow("eks:CreateCluster"),
                  allow("iam:PassRole", role, StringEquals={"iam:PassedToService": "eks.amazonaws.com"}))
    cluster = to_eks("eks").create_cluster(name=f"c-{uid()}", **config)["cluster"]
    assert cluster["roleArn"] == role


# -- EC2 tags, Wavelength extension actions ---------------------------------------------------------------------------
def test_ec2_resource_and_request_tag_conditions(admin, user):
    ec2 = admin("ec2")

    def vpc(team):
        return ec2.create_vpc(CidrBlock="10.78.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": team}]}])["Vpc"]["VpcId"]

    ours, theirs = vpc("edge"), vpc("billing")
    edge = user(allow("ec2:DeleteVpc", StringEquals={"aws:ResourceTag/team": "edge"}),
                allow("ec2:CreateVpc", StringEquals={"aws:RequestTag/team": "edge"},
                      **{"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}))
    status, code, message = error(lambda: edge("ec2").delete_vpc(VpcId=theirs))
    assert (status, code) == (403, "UnauthorizedOperation")
    assert message.startswith("You are not authorized to perform this operation. User: ") and \
        f"ec2:DeleteVpc on resource: arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{theirs}" in message
    edge("ec2").delete_vpc(VpcId=ours)
    assert [v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[theirs])["Vpcs"]] == [theirs]
    with pytest.raises(ClientError, match=r"InvalidVpcID\.NotFound"):
        ec2.describe_vpcs(VpcIds=[ours])

    created = edge("ec2").create_vpc(CidrBlock="10.79.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": "edge"}]}])["Vpc"]["VpcId"]
    assert created.startswith("vpc-")
    assert error(lambda: edge("ec2").create_vpc(CidrBlock="10.80.0.0/16"))[1] == "UnauthorizedOperation"
    assert error(lambda: edge("ec2").create_vpc(CidrBlock="10.80.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": "edge"}, {"Key": "cost", "Value": "x"}]}]))[1] \
        == "UnauthorizedOperation"


def test_launch_template_content_is_not_authorized_when_the_template_is_written(admin, user, subnets):
    """CreateLaunchTemplate authorizes the launch template only: its AMI and subnet are checked at launch."""
    tagged = {"StringEquals": {"aws:RequestTag/team": "edge"}}
    writer = user(allow("ec2:CreateLaunchTemplate", f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/*", **tagged))
    template = writer("ec2").create_launch_template(
        LaunchTemplateName=f"lt-{uid()}", LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.micro",
            "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnets[0]}]},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "edge"}]}])
    assert template["LaunchTemplate"]["LaunchTemplateId"].startswith("lt-")
    # Later calls naming the template are authorized on it, with its tags.
    name = template["LaunchTemplate"]["LaunchTemplateName"]
    owner = user(allow("ec2:DeleteLaunchTemplate", StringEquals={"aws:ResourceTag/team": "edge"}))
    stranger = user(allow("ec2:DeleteLaunchTemplate", StringEquals={"aws:ResourceTag/team": "billing"}))
    assert error(lambda: stranger("ec2").delete_launch_template(LaunchTemplateName=name))[1] == \
        "UnauthorizedOperation"
    owner("ec2").delete_launch_template(LaunchTemplateName=name)


def test_disassociations_are_authorized_on_the_address_and_the_route_table(admin, user, subnets):
    ec2 = admin("ec2")
    eni = ec2.create_network_interface(SubnetId=subnets[0])["NetworkInterface"]["NetworkInterfaceId"]
    alloc = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": "team", "Value": "edge"}]}])["AllocationId"]
    association = ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni)["AssociationId"]
    stranger = user(allow("ec2:DisassociateAddress", StringEquals={"aws:ResourceTag/team": "billing"}))
    _, code, message = error(lambda: stranger("ec2").disassociate_address(AssociationId=association))
    assert code == "UnauthorizedOperation" and f"elastic-ip/{alloc}" in message
    user(allow("ec2:DisassociateAddress", StringEquals={"aws:ResourceTag/team": "edge"}))("ec2").disassociate_address(
        AssociationId=association)
    table = ec2.create_route_table(VpcId=ec2.describe_subnets(SubnetIds=[subnets[0]])["Subnets"][0]["VpcId"],
                                   TagSpecifications=[{"ResourceType": "route-table",
                                                       "Tags": [{"Key": "team", "Value": "edge"}]}])
    table_id = table["RouteTable"]["RouteTableId"]
    association = ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnets[0])["AssociationId"]
    stranger = user(allow("ec2:DisassociateRouteTable", StringEquals={"aws:ResourceTag/team": "billing"}))
    assert f"route-table/{table_id}" in error(lambda: stranger("ec2").disassociate_route_table(
        AssociationId=association))[2]
    user(allow("ec2:DisassociateRouteTable", StringEquals={"aws:ResourceTag/team": "edge"}))(
        "ec2").disassociate_route_table(AssociationId=association)


def test_autoscaling_resource_tag_condition(admin, user, subnets):
    ec2, asg = admin("ec2"), admin("autoscaling")
    ami = ec2.describe_images(Owners=["602401143452"])["Images"][0]["ImageId"]
    template = f"lt-{uid()}"
    ec2.create_launch_template(LaunchTemplateName=template, LaunchTemplateData={"ImageId": ami,
                                                                               "InstanceType": "t3.medium"})
    groups = {}
    for team in ("edge", "other"):
        groups[team] = f"g-{team}-{uid()}"
        asg.create_auto_scaling_group(AutoScalingGroupName=groups[team], MinSize=0, MaxSize=2, DesiredCapacity=0,
                                      LaunchTemplate={"LaunchTemplateName": template}, VPCZoneIdentifier=subnets[0],
                                      Tags=[{"Key": "team", "Value": team, "PropagateAtLaunch": False}])
    scaler = user(allow("autoscaling:SetDesiredCapacity", StringEquals={"aws:ResourceTag/team": "edge"}))
    scaler("autoscaling").set_desired_capacity(AutoScalingGroupName=groups["edge"], DesiredCapacity=1)
    status, code, message = error(lambda: scaler("autoscaling").set_desired_capacity(
        AutoScalingGroupName=groups["other"], DesiredCapacity=1))
    assert (status, code) == (403, "AccessDenied") and f"autoScalingGroupName/{groups['other']}" in message
    # A call naming only an instance is authorized on the instance's group.
    deadline = time.monotonic() + 10
    while not (members := asg.describe_auto_scaling_groups(AutoScalingGroupNames=[groups["edge"]])[
            "AutoScalingGroups"][0]["Instances"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    instance = members[0]["InstanceId"]
    stranger = user(allow("autoscaling:TerminateInstanceInAutoScalingGroup",
                          StringEquals={"aws:ResourceTag/team": "other"}))
    assert f"autoScalingGroupName/{groups['edge']}" in error(lambda: stranger(
        "autoscaling").terminate_instance_in_auto_scaling_group(InstanceId=instance,
                                                               ShouldDecrementDesiredCapacity=False))[2]
    for team, size in (("edge", 1), ("other", 0)):
        assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=[groups[team]])["AutoScalingGroups"][0][
            "DesiredCapacity"] == size
        asg.delete_auto_scaling_group(AutoScalingGroupName=groups[team], ForceDelete=True)


def test_wavelength_actions_are_authorized_by_their_aws_names(admin, user):
    nothing = user(allow("ec2:DescribeAvailabilityZones"))
    _, code, message = error(lambda: nothing("ec2").modify_availability_zone_group(
        GroupName="us-east-1-wl1", OptInStatus="opted-in"))
    assert code == "UnauthorizedOperation" and "ec2:ModifyAvailabilityZoneGroup" in message
    for call, action in ((lambda c: c.allocate_address(Domain="vpc", NetworkBorderGroup="us-east-1-wl1-bos-wlz-1"),
                          "ec2:AllocateAddress"),
                         (lambda c: c.create_carrier_gateway(VpcId="vpc-12345678"), "ec2:CreateCarrierGateway")):
        assert action in error(lambda call=call: call(nothing("ec2")))[2]
    optin = user(allow(["ec2:ModifyAvailabilityZoneGroup", "ec2:DescribeAvailabilityZones"]))
    assert optin("ec2").modify_availability_zone_group(GroupName="us-east-1-wl1", OptInStatus="opted-in")["Return"]
    zones = optin("ec2").describe_availability_zones(AllAvailabilityZones=True)["AvailabilityZones"]
    assert "us-east-1-wl1-bos-wlz-1" in [z["ZoneName"] for z in zones]


# -- ECR, SSM, IAM ARNs ----------------------------------------------------------------------------------------------
def test_ecr_ssm_and_iam_resource_arns(admin, user):
    repo, other = f"app-{uid()}", f"db-{uid()}"
    for name in (repo, other):
        admin("ecr").create_repository(repositoryName=name)
    ops = user(allow("ecr:DescribeRepositories", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/app-*"),
               allow("ssm:GetParameter", f"arn:aws:ssm:{REGION}::parameter/aws/service/eks/*"),
               allow("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/edge/*"))
    assert ops("ecr").describe_repositories(repositoryNames=[repo])["repositories"][0]["repositoryName"] == repo
    status, code, message = error(lambda: ops("ecr").describe_repositories(repositoryNames=[other]))
    assert (status, code) == (400, "AccessDeniedException") and f"repository/{other}" in message

    ami = "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id"
    assert ops("ssm").get_parameter(Name=ami)["Parameter"]["Value"].startswith("ami-")
    admin("ssm").put_parameter(Name="/edge/secret", Value="x", Type="String")
    assert "parameter/edge/secret" in error(lambda: ops("ssm").get_parameter(Name="/edge/secret"))[2]

    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    for path in ("/edge/", "/"):
        admin("iam").create_role(RoleName=f"r-{path.strip('/') or 'root'}-{repo}", Path=path,
                                 AssumeRolePolicyDocument=trust)
    assert ops("iam").get_role(RoleName=f"r-edge-{repo}")["Role"]["Path"] == "/edge/"
    status, code, message = error(lambda: ops("iam").get_role(RoleName=f"r-root-{repo}"))
    assert (status, code) == (403, "AccessDenied") and f"role/r-root-{repo}" in message


# -- who may call at all ---------------------------------------------------------------------------------------------
def test_admin_key_keeps_full_access(admin):
    assert admin("sts").get_caller_identity()["Account"] == ACCOUNT
    admin("iam").list_users()
    admin("ec2").describe_vpcs()
    admin("eks").list_clusters()
    admin("s3").list_buckets()


@pytest.mark.parametrize(("service", "call", "status", "code"), [
    ("sts", lambda c: c.get_caller_identity(), 403, "InvalidClientTokenId"),
    ("iam", lambda c: c.list_roles(), 403, "InvalidClientTokenId"),
    ("ec2", lambda c: c.describe_vpcs(), 401, "AuthFailure"),
    ("ecr", lambda c: c.describe_repositories(), 400, "UnrecognizedClientException"),
    ("eks", lambda c: c.list_clusters(), 403, "UnrecognizedClientException"),
    ("s3", lambda c: c.list_buckets(), 403, "InvalidAccessKeyId"),
])
def test_unknown_keys_are_rejected(lab, service, call, status, code):
    client = _client(lab, service, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert error(lambda: call(client))[:2] == (status, code)


def test_a_known_key_with_the_wrong_secret_is_rejected(lab, user):
    someone = user(allow("*"))
    assert someone("ecr").describe_repositories() is not None
    key = someone("iam")._request_signer._credentials.access_key
    calls = {"iam": ("list_roles", "SignatureDoesNotMatch"), "ec2": ("describe_vpcs", "AuthFailure"),
             "s3": ("list_buckets", "SignatureDoesNotMatch")}
    for service, (method, code) in calls.items():
        assert error(getattr(_client(lab, service, key, "not-the-secret"), method))[1] == code


# -- the switch ------------------------------------------------------------------------------------------------------
def test_switch_off_changes_nothing(lab):
    stranger = "AKIAIOSFODNN7EXAMPLE"
    requests.post(f"{lab}/_lab/config", json={"iam": "off"}, timeout=5).raise_for_status()
    try:
        assert requests.get(f"{lab}/_lab/config", timeout=5).json()["iam"] == "off"
        assert "Vpcs" in _client(lab, "ec2", stranger, "x").describe_vpcs()
        assert "Buckets" in _client(lab, "s3", stranger, "x").list_buckets()
        assert "clusters" in _client(lab, "eks", stranger, "x").list_clusters()
    finally:
        requests.post(f"{lab}/_lab/config", json={"iam": "enforce"}, timeout=5).raise_for_status()
    assert error(lambda: _client(lab, "ec2", stranger, "x").describe_vpcs())[1] == "AuthFailure"
    r = requests.post(f"{lab}/_lab/config", json={"iam": "permissive"}, timeout=5)
    assert r.status_code == 400 and "iam must be off, enforce or audit" in r.json()["error"]


def test_audit_mode_logs_what_enforcement_would_refuse_and_lets_it_through(lab, user, caplog):
    client = user(allow("s3:ListAllMyBuckets"))
    requests.post(f"{lab}/_lab/config", json={"iam": "audit"}, timeout=5).raise_for_status()
    try:
        with caplog.at_level(logging.WARNING, logger="edgelab.aws.iam_enforce"):
            assert "Buckets" in client("s3").list_buckets()  # allowed: nothing logged
            assert "Vpcs" in client("ec2").describe_vpcs()  # would be refused: logged, answered
            assert "Vpcs" in _client(lab, "ec2", "AKIAIOSFODNN7EXAMPLE", "x").describe_vpcs()  # unknown key: same
    finally:
        requests.post(f"{lab}/_lab/config", json={"iam": "enforce"}, timeout=5).raise_for_status()
    audit = [r.getMessage() for r in caplog.records if r.getMessage().startswith("IAM audit:")]
    assert len(audit) == 2, audit
    assert audit[0].startswith("IAM audit: UnauthorizedOperation: ") and \
        f"User: {client.arn} is not authorized to perform: ec2:DescribeVpcs on resource: *" in audit[0]
    assert audit[1].startswith("IAM audit: AuthFailure: ")
    assert error(lambda: client("ec2").describe_vpcs())[1] == "UnauthorizedOperation"


def test_switch_default_off_and_env(monkeypatch):
    from edgelab.aws.state import LabState
    monkeypatch.delenv("EDGELAB_IAM", raising=False)
    assert LabState().snapshot()["iam"] == "off"
    monkeypatch.setenv("EDGELAB_IAM", "enforce")
    assert LabState().snapshot()["iam"] == "enforce"

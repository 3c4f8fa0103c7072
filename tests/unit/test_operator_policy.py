"""The operator policies (plugins/filter/operator_policy.py): AWS's size limit, coverage of every AWS action the
collection's code can call, scoping evaluated with the lab's IAM policy engine, and docs/iam/ kept in step."""

import json
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.operator_policy import operator_policy

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))
from edgelab.aws import iam_policy

ACCOUNT = "111122223333"
EXAMPLE = {"_input": "edgeml", "bucket": "my-edgeml-artifacts", "region": "us-east-1", "account": ACCOUNT}
MANAGED_POLICY_LIMIT = 6144  # characters of a customer managed policy, whitespace not counted (IAM quotas)

# Actions scripts/aws_actions.py finds reachable in the modules' code that the roles' parameters never make them call.
NOT_CALLED = {
    # autoscaling_group: load balancers and notifications are not set by edge_nodegroup.
    "autoscaling:AttachLoadBalancerTargetGroups", "autoscaling:AttachLoadBalancers",
    "autoscaling:DetachLoadBalancerTargetGroups", "autoscaling:DetachLoadBalancers",
    "autoscaling:PutNotificationConfiguration", "autoscaling:DeleteNotificationConfiguration",
    "elasticloadbalancing:DeregisterInstancesFromLoadBalancer", "elasticloadbalancing:DescribeInstanceHealth",
    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
    # ec2_vpc_route_table (teardown): no VGW.
    "ec2:EnableVgwRoutePropagation",
    # iam_role: no permissions boundary; managed policies given by ARN.
    "iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary", "iam:ListPolicies",
    "iam:ListAccountAliases",
    # kms_key_info looks the key up by id or alias, without grants, policies, rotation or tags.
    "kms:EnableKeyRotation", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListGrants", "kms:ListKeyPolicies",
    "kms:ListKeys", "kms:ListResourceTags", "kms:Verify",
    # s3_bucket / s3_object: no inventory configuration (only read), ACLs (the bucket owner owns every object), object
    # lock, transfer acceleration, requester pays; the bucket policy is
    # replaced, never deleted; object tags are not set.
    "s3:PutInventoryConfiguration", "s3:DeleteBucketPolicy", "s3:DeleteObjectTagging", "s3:PutObjectAcl",
    "s3:PutBucketObjectLockConfiguration", "s3:PutAccelerateConfiguration", "s3:PutBucketAcl",
    "s3:PutBucketRequestPayment",
}


def full(**kw):
    return operator_policy(**{**EXAMPLE, "kms_key": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k", "dns_zone": True, **kw})


def statements(policies):
    return [st for doc in policies.values() for st in doc["Statement"]]


def allowed(policies, action, resource, **context):
    ctx = {"aws:requestedregion": ["us-east-1"], **{k.lower(): v if isinstance(v, list) else [v]
                                                    for k, v in context.items()}}
    return iam_policy.evaluate(list(policies.values()), action, resource, ctx) == iam_policy.ALLOWED


def test_two_documents_each_within_the_managed_policy_size():
    policies = full()
    assert sorted(policies) == ["edgeml-operator-infrastructure", "edgeml-operator-workload"]
    for doc in policies.values():
        assert len(json.dumps(doc, separators=(",", ":"))) <= MANAGED_POLICY_LIMIT
    sids = [st["Sid"] for st in statements(policies)]
    assert len(sids) == len(set(sids))
    assert all(st["Effect"] == "Allow" and st["Action"] for st in statements(policies))


def test_every_action_the_code_can_call_is_allowed_or_known_not_to_be_called():
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "aws_actions.py")], capture_output=True, text=True,
                         check=True)
    reachable = set(json.loads(out.stdout)["all"])
    patterns = [a.lower() for st in statements(full()) for a in st["Action"]]
    uncovered = sorted(a for a in reachable - NOT_CALLED if not any(fnmatch(a.lower(), p) for p in patterns))
    assert not uncovered, f"add these to plugins/filter/operator_policy.py (or to NOT_CALLED, with the reason): " \
                          f"{uncovered}"
    stale = sorted(NOT_CALLED - reachable)
    assert not stale, f"no longer reachable, remove from NOT_CALLED: {stale}"


@pytest.mark.parametrize("action,resource,context,expected", [
    ("ec2:CreateVpc", "arn:aws:ec2:us-east-1:111122223333:vpc/*", {"aws:RequestTag/edgeml:deployment": "edgeml"}, True),
    ("ec2:CreateVpc", "arn:aws:ec2:us-east-1:111122223333:vpc/*", {"aws:RequestTag/edgeml:deployment": "other"}, False),
    ("ec2:CreateVpc", "arn:aws:ec2:us-east-1:111122223333:vpc/*", {}, False),  # untagged create
    ("ec2:DeleteVpc", "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-1", {"aws:ResourceTag/edgeml:deployment": "edgeml"},
     True),
    ("ec2:DeleteVpc", "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-1", {"aws:ResourceTag/edgeml:deployment": "x"},
     False),
    ("ec2:DeleteVpc", "arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-1",
     {"aws:ResourceTag/edgeml:deployment": "edgeml", "aws:RequestedRegion": "eu-west-1"}, False),
    ("ec2:TerminateInstances", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", {}, False),
    ("ec2:DescribeVpcs", "*", {}, True),
    ("eks:DeleteCluster", "arn:aws:eks:us-east-1:111122223333:cluster/edgeml", {}, True),
    ("eks:DeleteCluster", "arn:aws:eks:us-east-1:111122223333:cluster/edgeml-other", {}, False),
    ("eks:CreateAddon", "arn:aws:eks:us-east-1:111122223333:cluster/edgeml", {}, True),
    ("iam:PassRole", "arn:aws:iam::111122223333:role/edgeml-node", {"iam:PassedToService": "ec2.amazonaws.com"},
     True),
    ("iam:PassRole", "arn:aws:iam::111122223333:role/edgeml-node", {"iam:PassedToService": "eks.amazonaws.com"},
     False),
    ("iam:PassRole", "arn:aws:iam::111122223333:role/edgeml-cluster", {"iam:PassedToService": "eks.amazonaws.com"},
     True),
    ("iam:PassRole", "arn:aws:iam::111122223333:role/admin", {"iam:PassedToService": "ec2.amazonaws.com"}, False),
    ("iam:AttachRolePolicy", "arn:aws:iam::111122223333:role/edgeml-node",
     {"iam:PolicyARN": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"}, True),
    ("iam:AttachRolePolicy", "arn:aws:iam::111122223333:role/edgeml-node",
     {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}, False),
    ("iam:PutRolePolicy", "arn:aws:iam::111122223333:role/edgeml-node", {}, True),
    ("iam:PutRolePolicy", "arn:aws:iam::111122223333:role/ops-admin", {}, False),
    ("iam:CreateUser", "arn:aws:iam::111122223333:user/edgeml-x", {}, False),
    ("autoscaling:DeleteAutoScalingGroup",
     "arn:aws:autoscaling:us-east-1:111122223333:autoScalingGroup:uuid:autoScalingGroupName/edgeml-us-east-1-wl1-bos-"
     "wlz-1", {}, True),
    ("autoscaling:DeleteAutoScalingGroup",  # another deployment whose name starts like this one's
     "arn:aws:autoscaling:us-east-1:111122223333:autoScalingGroup:uuid:autoScalingGroupName/edgeml-prod-us-east-1-"
     "wl1-bos-wlz-1", {}, False),
    ("iam:PutRolePolicy", "arn:aws:iam::111122223333:role/edgeml-prod-node", {}, False),
    ("ec2:CreateTags", "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-1", {"ec2:CreateAction": "CreateVpc"}, True),
    ("ec2:CreateTags", "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-1", {}, False),  # an untagged existing resource
    ("ec2:RunInstances", "arn:aws:ec2:us-east-1:111122223333:instance/*",
     {"ec2:LaunchTemplate": "arn:aws:ec2:us-east-1:111122223333:launch-template/lt-1"}, True),
    ("ec2:RunInstances", "arn:aws:ec2:us-east-1:111122223333:instance/*", {}, False),  # not from a launch template
    ("eks:CreateCluster", "*", {"aws:RequestTag/edgeml:deployment": "edgeml"}, True),
    ("eks:CreateCluster", "*", {"aws:RequestTag/edgeml:deployment": "other"}, False),
    ("iam:GetRole", "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Deploy_1", {},
     True),
    ("autoscaling:DeleteAutoScalingGroup",
     "arn:aws:autoscaling:us-east-1:111122223333:autoScalingGroup:uuid:autoScalingGroupName/web-bos", {}, False),
    ("s3:PutObject", "arn:aws:s3:::my-edgeml-artifacts/edgeml/jumpstart/x.tar.gz", {}, True),
    ("s3:PutObject", "arn:aws:s3:::my-edgeml-artifacts/other/x", {}, False),
    ("s3:DeleteBucket", "arn:aws:s3:::my-edgeml-artifacts", {}, True),
    ("s3:DeleteBucket", "arn:aws:s3:::someone-elses", {}, False),
    ("ecr:PutImage", "arn:aws:ecr:us-east-1:111122223333:repository/edgeml/sentiment", {}, True),
    ("ecr:PutImage", "arn:aws:ecr:us-east-1:111122223333:repository/prod/api", {}, False),
    ("ecr:BatchGetImage", "arn:aws:ecr:us-east-1:763104351884:repository/tensorflow-inference", {}, True),
    ("ssm:GetParameter",
     "arn:aws:ssm:us-east-1::parameter/aws/service/eks/optimized-ami/1.36/amazon-linux-2023/x86_64/standard/"
     "recommended/image_id", {}, True),
    ("ssm:GetParameter", "arn:aws:ssm:us-east-1:111122223333:parameter/prod/db-password", {}, False),
    ("kms:GenerateDataKey", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k", {}, True),
    ("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1", {}, True),
])
def test_scoping(action, resource, context, expected):
    assert allowed(full(), action, resource, **context) is expected


def test_optional_statements_only_when_used():
    sids = {st["Sid"] for st in statements(operator_policy(**EXAMPLE))}
    assert not sids & {"ArtifactKey", "StableAddressNames", "FindHostedZone"}
    assert "JumpStartCatalog" in sids
    catalog = next(st for st in statements(operator_policy(**EXAMPLE, jumpstart_bucket="lab-catalog"))
                   if st["Sid"] == "JumpStartCatalog")
    assert catalog["Resource"] == ["arn:aws:s3:::lab-catalog", "arn:aws:s3:::lab-catalog/*",
                                   "arn:aws:s3:::jumpstart-private-cache-prod-us-east-1",
                                   "arn:aws:s3:::jumpstart-private-cache-prod-us-east-1/*"]


@pytest.mark.parametrize("key,resource,aliases,expected", [
    (f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1", [], True),
    ("k1", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1", [], True),
    ("k1", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k2", [], False),
    ("alias/artifacts", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1", ["alias/artifacts"], True),
    ("alias/artifacts", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1", ["alias/other"], False),
])
def test_kms_keys_given_as_arn_id_or_alias(key, resource, aliases, expected):
    policies = operator_policy(**EXAMPLE, kms_key=key)
    context = {"kms:ResourceAliases": aliases} if aliases else {}
    assert allowed(policies, "kms:GenerateDataKey", resource, **context) is expected


def test_repository_key_only_through_ecr():
    policies = operator_policy(**EXAMPLE, repository_kms_key="alias/ecr")
    ecr = {"kms:ViaService": "ecr.us-east-1.amazonaws.com", "kms:ResourceAliases": ["alias/ecr"]}
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1"
    assert allowed(policies, "kms:CreateGrant", key, **ecr)
    assert not allowed(policies, "kms:CreateGrant", key, **{**ecr, "kms:ViaService": "s3.us-east-1.amazonaws.com"})


def test_partition_in_every_arn():
    policies = full(partition="aws-us-gov", kms_key=f"arn:aws-us-gov:kms:us-east-1:{ACCOUNT}:key/k")
    arns = [r for st in statements(policies) for r in ([st["Resource"]] if isinstance(st["Resource"], str)
                                                        else st["Resource"]) if r != "*"]
    assert arns and all(r.startswith("arn:aws-us-gov:") for r in arns)


@pytest.mark.parametrize("kw,message", [
    ({"bucket": ""}, "bucket (edge_artifact_bucket) is required"),
    ({"account": None}, "account is required"),
    ({"_input": "Bad_Name"}, "edge_name 'Bad_Name' is not a valid deployment name"),
])
def test_bad_inputs(kw, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        operator_policy(**{**EXAMPLE, **kw})


def test_docs_examples_are_current():
    for name, doc in operator_policy(**EXAMPLE).items():
        path = REPO / "docs" / "iam" / f"{name}.json"
        assert path.exists() and json.loads(path.read_text()) == doc, \
            f"{path} is stale: run `python scripts/operator_policy_docs.py`"

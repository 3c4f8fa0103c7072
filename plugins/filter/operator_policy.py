# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: operator_policy
author: edgeml team
version_added: 0.1.0
short_description: The least IAM policy that runs the collection's playbooks for one deployment
description:
  - Returns the identity policies that an operator - a user or a role running C(site.yml), every stage,
    C(teardown.yml) (also with purge) and check mode - needs for the deployment O(_input), as two documents (IAM
    policy grammar) named C(<name>-operator-infrastructure) (EC2, Auto Scaling, IAM, SSM) and
    C(<name>-operator-workload) (EKS, ECR, S3, KMS, Route 53) - together they exceed the 6,144 characters of one
    customer managed policy, each fits in one. Attach both.
  - Scoped as far as AWS allows - by resource name (the cluster, its add-ons and access entries; the IAM roles
    C(<name>-node) and C(<name>-cluster) and the instance profile C(<name>-node); the Auto Scaling groups
    C(<name>-<zone>); the ECR repositories C(<name>/*); the artifact bucket and its C(<name>/) prefix), by the tag
    C(edgeml:deployment=<name>) for EC2 resources (C(aws:RequestTag) on create, with the C(ec2:CreateTags) that tagging
    on create implies; C(aws:ResourceTag) afterwards) and for C(eks:CreateCluster), by C(iam:PassedToService) for the
    two roles the collection passes and by C(iam:PolicyARN) for the AWS managed policies it attaches. Calls AWS offers
    no resource-level permission for (C(Describe*), C(ec2:ModifyAvailabilityZoneGroup), C(ecr:GetAuthorizationToken))
    are allowed on C(*), limited to the region where the service honours C(aws:RequestedRegion).
  - Broader than the deployment, where AWS gives nothing narrower - C(iam:GetRole) on any role (the operator's own
    role's path, for its access entry), AMIs and snapshots for C(ec2:RunInstances), and interfaces in the region (the
    stable address moves onto a node's untagged interface; interfaces EKS leaves behind are deleted at teardown).
  - C(docs/iam/) holds them for the example values; C(playbooks/operator_policy.yml) writes them for an inventory's
    deployment.
positional: _input, bucket, region, account
options:
  _input:
    description: Deployment name (edge_name).
    type: str
    required: true
  bucket:
    description: Artifact bucket (edge_artifact_bucket).
    type: str
    required: true
  region:
    description: Region of the deployment (edge_region).
    type: str
    required: true
  account:
    description: AWS account id; C(*) for a policy that does not name one.
    type: str
    required: true
  partition:
    description: AWS partition.
    type: str
    default: aws
  jumpstart_bucket:
    description: Bucket of the JumpStart catalog (C(AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE)); default
      C(jumpstart-cache-prod-<region>).
    type: str
    default: ""
  jumpstart_gated_bucket:
    description: Bucket of the gated (EULA) JumpStart models (C(AWS_JUMPSTART_GATED_CONTENT_BUCKET_OVERRIDE)); default
      C(jumpstart-private-cache-prod-<region>).
    type: str
    default: ""
  kms_key:
    description: Customer managed KMS key of the artifacts (edge_artifact_kms_key) - ARN, key id or alias; empty for
      none.
    type: str
    default: ""
  repository_kms_key:
    description: KMS key of the ECR repositories (image_packaging_kms_key, with image_packaging_encryption KMS) - ARN,
      key id or alias; empty for none.
    type: str
    default: ""
  dns_zone:
    description: Whether the deployment publishes DNS names (edge_dns_zone not empty); adds the Route 53 statement.
    type: bool
    default: false
"""

EXAMPLES = r"""
policy: "{{ edge_name | edgeml.wavelength.operator_policy(edge_artifact_bucket, edge_region, account) }}"
"""

RETURN = r"""
_value:
  description: "{policy name: policy document (Version 2012-10-17, Statement list with a Sid each)}."
  type: dict
"""

import re

from ansible.errors import AnsibleFilterError

TAG = "edgeml:deployment"
# The AWS managed policies the node and cluster roles get (edge_nodegroup/tasks/iam.yml, eks_cluster/tasks/iam.yml).
MANAGED_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly",
                    "AmazonEKSClusterPolicy")
# Service-linked roles AWS creates on first use of the service in an account.
SERVICE_LINKED = ("autoscaling.amazonaws.com", "eks.amazonaws.com")

# No resource-level permissions in AWS (the service authorization reference lists no resource type for these).
DISCOVER_REGIONAL = [
    "autoscaling:Describe*", "ec2:Describe*", "ec2:ModifyAvailabilityZoneGroup", "ecr:GetAuthorizationToken",
    "ecr:DescribeRepositories",
    "eks:DescribeAddonConfiguration", "eks:DescribeAddonVersions", "eks:ListClusters", "kms:ListAliases",
]

# EC2 resources the collection creates, each tagged edgeml:deployment=<name> in the create call.
EC2_CREATE = [
    "ec2:AllocateAddress", "ec2:CreateCarrierGateway", "ec2:CreateLaunchTemplate", "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup", "ec2:CreateSubnet", "ec2:CreateVpc", "ec2:RunInstances",
]
# Calls on EC2 resources that carry the tag (the create calls too: a subnet's VPC, a route's table are named in them).
EC2_TAGGED = [
    *EC2_CREATE,
    "ec2:AssociateAddress", "ec2:AssociateRouteTable", "ec2:AuthorizeSecurityGroup*", "ec2:CreateLaunchTemplateVersion",
    "ec2:CreateRoute", "ec2:CreateTags", "ec2:Delete*", "ec2:DisassociateAddress", "ec2:DisassociateRouteTable",
    "ec2:GetConsoleOutput", "ec2:ModifyLaunchTemplate", "ec2:ModifySubnetAttribute", "ec2:ModifyVpcAttribute",
    "ec2:ReleaseAddress", "ec2:ReplaceRoute", "ec2:ReplaceRouteTableAssociation", "ec2:RevokeSecurityGroup*",
    "ec2:TerminateInstances", "ec2:UpdateSecurityGroupRuleDescriptions*",
]
AUTOSCALING = [
    "autoscaling:CreateAutoScalingGroup", "autoscaling:CreateOrUpdateTags", "autoscaling:DeleteAutoScalingGroup",
    "autoscaling:DeleteTags", "autoscaling:DetachInstances", "autoscaling:*MetricsCollection",
    "autoscaling:ResumeProcesses", "autoscaling:SetDesiredCapacity", "autoscaling:SuspendProcesses",
    "autoscaling:TerminateInstanceInAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup",
]
EKS = [
    "eks:*AccessEntr*", "eks:*AccessPolic*", "eks:*Addon", "eks:ListAddons", "eks:CreateCluster", "eks:DeleteCluster",
    "eks:DescribeCluster", "eks:DescribeUpdate", "eks:ListUpdates", "eks:TagResource", "eks:UntagResource",
    "eks:UpdateClusterConfig", "eks:UpdateClusterVersion",
]
IAM_ROLES = [
    "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole",
    "iam:UpdateAssumeRolePolicy", "iam:*RolePolic*", "iam:*InstanceProfile*",
]
ECR_REPOSITORIES = [
    "ecr:BatchCheckLayerAvailability", "ecr:BatchDeleteImage", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
    "ecr:CreateRepository", "ecr:DeleteRepository", "ecr:DescribeImages", "ecr:DescribeRepositories",
    "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:ListImages", "ecr:ListTagsForResource",
    "ecr:PutImage", "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability", "ecr:TagResource",
    "ecr:UntagResource", "ecr:UploadLayerPart", "ecr:*LifecyclePolicy", "ecr:*RepositoryPolicy",
]
ECR_PULL = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
S3_BUCKET = ["s3:CreateBucket", "s3:DeleteBucket", "s3:GetAccelerateConfiguration", "s3:GetBucket*",
             "s3:GetEncryptionConfiguration", "s3:GetInventoryConfiguration", "s3:ListBucket", "s3:ListBucketVersions",
             "s3:PutBucketOwnershipControls", "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock",
             "s3:PutBucketTagging", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration"]
# The bucket is versioned: a purge deletes every version of the deployment's objects.
S3_OBJECTS = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject",
              "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectTagging"]
ROUTE53 = ["route53:ChangeResourceRecordSets", "route53:GetChange", "route53:GetHostedZone",
           "route53:ListHostedZonesByName", "route53:ListResourceRecordSets"]
KMS = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]

NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def _kms(arn, region, account, key):
    """(resources, condition) naming a KMS key given as ARN, key id or alias (KMS authorizes on the key's ARN)."""
    if key.startswith("arn:"):
        return [key], None
    if key.startswith("alias/"):
        return [f"{arn}:kms:{region}:{account}:key/*"], {"ForAnyValue:StringEquals": {"kms:ResourceAliases": key}}
    return [f"{arn}:kms:{region}:{account}:key/{key}"], None


def _statement(sid, actions, resources, condition=None):
    st = {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)),
          "Resource": resources if len(resources) != 1 else resources[0]}
    if condition:
        st["Condition"] = condition
    return st


def operator_policy(_input, bucket, region, account, partition="aws", jumpstart_bucket="", jumpstart_gated_bucket="",
                    kms_key="", repository_kms_key="", dns_zone=False):
    name = _input
    for what, value in (("deployment name (edge_name)", name), ("bucket (edge_artifact_bucket)", bucket),
                        ("region (edge_region)", region), ("account", account)):
        if not isinstance(value, str) or not value:
            raise AnsibleFilterError(f"operator_policy: the {what} is required")
    if not NAME.match(name):
        raise AnsibleFilterError(f"operator_policy: edge_name {name!r} is not a valid deployment name: use lower-case "
                                 "letters, digits and hyphens, starting with a letter, at most 31 characters")
    arn = f"arn:{partition}"
    in_region = {"StringEquals": {"aws:RequestedRegion": region}}
    catalog = [jumpstart_bucket or f"jumpstart-cache-prod-{region}",
               jumpstart_gated_bucket or f"jumpstart-private-cache-prod-{region}"]  # public and gated (EULA) models
    infrastructure = [
        _statement("Discover", DISCOVER_REGIONAL, ["*"], in_region),
        _statement("WhoAmI", ["sts:GetCallerIdentity", "iam:GetUser", "s3:ListAllMyBuckets"], ["*"]),
        _statement("EksAmiParameters", ["ssm:GetParameter", "ssm:GetParameters"],
                   [f"{arn}:ssm:{region}::parameter/aws/service/eks/optimized-ami/*"]),
        _statement("CreateTaggedEc2", EC2_CREATE, ["*"],
                   {"StringEquals": {f"aws:RequestTag/{TAG}": name, "aws:RequestedRegion": region}}),
        # Tags given in a create call are authorized as ec2:CreateTags on the new resource, which has no tag yet.
        _statement("TagOnCreate", ["ec2:CreateTags"], [f"{arn}:ec2:{region}:{account}:*/*"],
                   {"StringEquals": {"ec2:CreateAction": sorted(a.split(":")[1] for a in EC2_CREATE)}}),
        _statement("ManageTaggedEc2", EC2_TAGGED, ["*"],
                   {"StringEquals": {f"aws:ResourceTag/{TAG}": name, "aws:RequestedRegion": region}}),
        # Auto Scaling launches (and checks at CreateAutoScalingGroup that the caller may launch) from the
        # deployment's launch templates (tagged: ManageTaggedEc2): AWS's AMIs and snapshots, and the instances,
        # volumes and interfaces a launch template makes.
        _statement("LaunchFromPublicImages", ["ec2:RunInstances"],
                   [f"{arn}:ec2:{region}::image/*", f"{arn}:ec2:{region}::snapshot/*"]),
        _statement("LaunchFromTemplates", ["ec2:RunInstances"],
                   [f"{arn}:ec2:{region}:{account}:{kind}/*" for kind in ("instance", "volume", "network-interface")],
                   {"ArnLike": {"ec2:LaunchTemplate": f"{arn}:ec2:{region}:{account}:launch-template/*"}}),
        # A node's interface is not tagged (only its instance and volumes are): the stable address moves onto it.
        _statement("AddressOnNodeInterfaces", ["ec2:AssociateAddress", "ec2:DisassociateAddress"],
                   [f"{arn}:ec2:{region}:{account}:network-interface/*"], in_region),
        # Interfaces EKS and Auto Scaling leave behind in the deployment's subnets block their deletion
        # (vpc_teardown): they carry AWS's tags, not ours.
        _statement("DeleteLeftoverInterfaces", ["ec2:DeleteNetworkInterface"],
                   [f"{arn}:ec2:{region}:{account}:network-interface/*"], in_region),
        # One group per Wavelength zone, <name>-<zone> (zone names start with <region>-wl).
        _statement("NodeGroups", AUTOSCALING,
                   [f"{arn}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{name}-{region}-wl*"]),
        _statement("Roles", IAM_ROLES,
                   [f"{arn}:iam::{account}:role/{name}-node", f"{arn}:iam::{account}:role/{name}-cluster",
                    f"{arn}:iam::{account}:instance-profile/{name}-node"],
                   {"ArnLikeIfExists": {"iam:PolicyARN": [f"{arn}:iam::aws:policy/{p}" for p in MANAGED_POLICIES]}}),
        # Passed to EC2 by Auto Scaling launches, and (no service named) when it goes into the instance profile.
        _statement("PassNodeRole", ["iam:PassRole"], [f"{arn}:iam::{account}:role/{name}-node"],
                   {"StringEqualsIfExists": {"iam:PassedToService": "ec2.amazonaws.com"}}),
        _statement("PassClusterRole", ["iam:PassRole"], [f"{arn}:iam::{account}:role/{name}-cluster"],
                   {"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}}),
        # The cluster stage gives the operator an access entry: an assumed role's path (e.g. IAM Identity Center's
        # /aws-reserved/sso.amazonaws.com/...) is read from its role, whatever its name.
        _statement("OperatorRolePath", ["iam:GetRole"], [f"{arn}:iam::{account}:role/*"]),
        _statement("ServiceLinkedRoles", ["iam:CreateServiceLinkedRole"],
                   [f"{arn}:iam::{account}:role/aws-service-role/*"],
                   {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED)}}),
    ]
    workload = [
        _statement("Cluster", EKS,
                   [f"{arn}:eks:{region}:{account}:cluster/{name}",
                    f"{arn}:eks:{region}:{account}:addon/{name}/*",
                    f"{arn}:eks:{region}:{account}:access-entry/{name}/*"]),
        # CreateCluster has no resource type in the Service Authorization Reference: scoped by its tag instead.
        _statement("CreateTaggedCluster", ["eks:CreateCluster"], ["*"],
                   {"StringEquals": {f"aws:RequestTag/{TAG}": name, "aws:RequestedRegion": region}}),
        _statement("ImageRepositories", ECR_REPOSITORIES, [f"{arn}:ecr:{region}:{account}:repository/{name}/*"]),
        # The inference images are mirrored from AWS's (Deep Learning Containers) registries of other accounts.
        _statement("PullSourceImages", ECR_PULL, [f"{arn}:ecr:{region}:*:repository/*"]),
        _statement("ArtifactBucket", S3_BUCKET, [f"{arn}:s3:::{bucket}"]),
        _statement("Artifacts", S3_OBJECTS, [f"{arn}:s3:::{bucket}/{name}/*"]),
        _statement("JumpStartCatalog", ["s3:GetObject", "s3:ListBucket"],
                   [f"{arn}:s3:::{b}{suffix}" for b in catalog for suffix in ("", "/*")]),
    ]
    if kms_key:
        workload.append(_statement("ArtifactKey", KMS, *_kms(arn, region, account, kms_key)))
    if repository_kms_key:
        resources, condition = _kms(arn, region, account, repository_kms_key)
        workload.append(_statement("RepositoryKey", ["kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant"],
                                   resources, {**(condition or {}), "StringEquals": {
                                       "kms:ViaService": f"ecr.{region}.amazonaws.com"}}))
    if dns_zone:
        workload.append(_statement("StableAddressNames", ROUTE53,
                                   [f"{arn}:route53:::hostedzone/*", f"{arn}:route53:::change/*"]))
        workload.append(_statement("FindHostedZone", ["route53:ListHostedZonesByName"], ["*"]))
    return {f"{name}-operator-infrastructure": {"Version": "2012-10-17", "Statement": infrastructure},
            f"{name}-operator-workload": {"Version": "2012-10-17", "Statement": workload}}


class FilterModule:
    def filters(self):
        return {"operator_policy": operator_policy}

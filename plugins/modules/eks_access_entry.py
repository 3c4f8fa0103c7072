#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: eks_access_entry
version_added: 0.1.0
short_description: Manage an Amazon EKS access entry and its access policy associations
description:
  - Creates, updates and deletes an EKS access entry (the replacement of the C(aws-auth) ConfigMap).
  - Node roles get type C(EC2_LINUX) (no policies, no groups). Admins and other principals get type
    C(STANDARD) with access policy associations (policy ARN and cluster or namespace scope), which the module adds,
    updates and removes idempotently.
author:
  - edgeml team
options:
  cluster_name:
    description: Cluster name.
    type: str
    required: true
  principal_arn:
    description: IAM role or user ARN.
    type: str
    required: true
  state:
    description: Whether the access entry exists.
    type: str
    choices: [present, absent]
    default: present
  type:
    description: Access entry type. It cannot change; a different type fails with a message.
    type: str
    choices: [STANDARD, EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX]
    default: STANDARD
  kubernetes_groups:
    description: Kubernetes groups (C(STANDARD) only).
    type: list
    elements: str
    default: []
  username:
    description: Kubernetes user name. Empty lets EKS choose.
    type: str
  policy_associations:
    description: Access policies to associate (C(STANDARD) only).
    type: list
    elements: dict
    default: []
    suboptions:
      policy_arn:
        description: Access policy ARN, for example C(arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy).
        type: str
        required: true
      access_scope:
        description: Scope of the association.
        type: dict
        default: {type: cluster}
        suboptions:
          type:
            description: C(cluster) or C(namespace).
            type: str
            choices: [cluster, namespace]
            default: cluster
          namespaces:
            description: Namespaces for C(namespace) scope.
            type: list
            elements: str
            default: []
  purge_policy_associations:
    description: Remove associations not in O(policy_associations).
    type: bool
    default: true
  tags:
    description: Tags of the access entry (set at creation).
    type: dict
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Let the nodes join
  edgeml.wavelength.eks_access_entry:
    cluster_name: edgeml
    principal_arn: arn:aws:iam::123456789012:role/edgeml-node
    type: EC2_LINUX

- name: Cluster admin
  edgeml.wavelength.eks_access_entry:
    cluster_name: edgeml
    principal_arn: arn:aws:iam::123456789012:role/platform-admin
    policy_associations:
      - policy_arn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy
"""

RETURN = r"""
access_entry:
  description: The access entry (empty after deletion).
  returned: always
  type: dict
  contains:
    principal_arn: {description: Principal., type: str}
    type: {description: Type., type: str}
    username: {description: Kubernetes user name., type: str}
    kubernetes_groups: {description: Groups., type: list, elements: str}
    access_entry_arn: {description: ARN., type: str}
    policy_associations:
      description: Associated policies.
      type: list
      elements: dict
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def scope_key(scope):
    """Comparable access scope."""
    return (scope.get("type", "cluster"), tuple(sorted(scope.get("namespaces") or [])))


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            principal_arn=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            type=dict(type="str", choices=["STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX"], default="STANDARD"),
            kubernetes_groups=dict(type="list", elements="str", default=[]),
            username=dict(type="str"),
            policy_associations=dict(type="list", elements="dict", default=[], options=dict(
                policy_arn=dict(type="str", required=True),
                access_scope=dict(type="dict", default={"type": "cluster"}, options=dict(
                    type=dict(type="str", choices=["cluster", "namespace"], default="cluster"),
                    namespaces=dict(type="list", elements="str", default=[]),
                )),
            )),
            purge_policy_associations=dict(type="bool", default=True),
            tags=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["type"] != "STANDARD" and (p["policy_associations"] or p["kubernetes_groups"]):
        module.fail_json(msg=f"Access entries of type {p['type']} take no policy_associations or kubernetes_groups")
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    ids = dict(clusterName=p["cluster_name"], principalArn=p["principal_arn"])
    result = dict(changed=False)

    def associations():
        pages = client.get_paginator("list_associated_access_policies").paginate(**ids)
        return {a["policyArn"]: a["accessScope"] for a in pages.build_full_result()["associatedAccessPolicies"]}

    try:
        try:
            entry = client.describe_access_entry(aws_retry=True, **ids)["accessEntry"]
        except is_boto3_error_code("ResourceNotFoundException"):
            entry = None
        current = associations() if entry else {}
        before = dict(type=entry["type"], kubernetes_groups=sorted(entry.get("kubernetesGroups") or []),
                      policies={k: scope_key(v) for k, v in current.items()}) if entry else {}

        if p["state"] == "absent":
            if entry:
                result["changed"] = True
                if not module.check_mode:
                    client.delete_access_entry(aws_retry=True, **ids)
            if module._diff:
                result["diff"] = dict(before=before, after={})
            module.exit_json(access_entry={}, **result)

        if entry and entry["type"] != p["type"]:
            module.fail_json(msg=f"Access entry of {p['principal_arn']} has type {entry['type']}, not {p['type']};"
                                 " delete it first (state=absent) to change the type")
        wanted = {a["policy_arn"]: {"type": a["access_scope"]["type"],
                                    **({"namespaces": a["access_scope"]["namespaces"]}
                                       if a["access_scope"]["type"] == "namespace" else {})}
                  for a in p["policy_associations"]}
        to_associate = [arn for arn, scope in wanted.items()
                        if arn not in current or scope_key(current[arn]) != scope_key(scope)]
        to_remove = [arn for arn in current if arn not in wanted] if p["purge_policy_associations"] else []
        # EKS sets the groups of node entries itself (EC2_LINUX reads back ["system:nodes"]) and refuses them from
        # the caller: only a STANDARD entry's groups are ours to compare and update.
        groups_differ = (entry is not None and p["type"] == "STANDARD"
                         and sorted(entry.get("kubernetesGroups") or []) != sorted(p["kubernetes_groups"]))
        username_differs = entry is not None and bool(p["username"]) and entry.get("username") != p["username"]
        result["changed"] = entry is None or bool(to_associate or to_remove or groups_differ or username_differs)
        if module._diff:
            after_policies = {k: scope_key(v) for k, v in current.items() if k not in to_remove}
            after_policies.update({k: scope_key(v) for k, v in wanted.items()})
            groups = p["kubernetes_groups"] if p["type"] == "STANDARD" else before.get("kubernetes_groups", [])
            result["diff"] = dict(before=before, after=dict(
                type=p["type"], kubernetes_groups=sorted(groups), policies=after_policies))

        if not module.check_mode:
            if entry is None:
                kwargs = dict(type=p["type"], **ids)
                if p["kubernetes_groups"]:
                    kwargs["kubernetesGroups"] = p["kubernetes_groups"]
                if p["username"]:
                    kwargs["username"] = p["username"]
                if p["tags"]:
                    kwargs["tags"] = p["tags"]
                client.create_access_entry(aws_retry=True, **kwargs)
            elif groups_differ or username_differs:
                kwargs = dict(kubernetesGroups=p["kubernetes_groups"], **ids)
                if p["username"]:
                    kwargs["username"] = p["username"]
                client.update_access_entry(aws_retry=True, **kwargs)
            for arn in to_associate:  # associating again replaces the scope
                client.associate_access_policy(policyArn=arn, accessScope=wanted[arn], aws_retry=True, **ids)
            for arn in to_remove:
                client.disassociate_access_policy(policyArn=arn, aws_retry=True, **ids)
            entry = client.describe_access_entry(aws_retry=True, **ids)["accessEntry"]
            current = associations()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage access entry of {p['principal_arn']} on {p['cluster_name']}")

    entry = entry or {}
    module.exit_json(access_entry=dict(
        principal_arn=p["principal_arn"], type=entry.get("type", p["type"]), username=entry.get("username"),
        kubernetes_groups=entry.get("kubernetesGroups", p["kubernetes_groups"]), access_entry_arn=entry.get("accessEntryArn"),
        policy_associations=[{"policy_arn": k, "access_scope": v} for k, v in current.items()],
    ), **result)


if __name__ == "__main__":
    main()

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

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.edgeml.wavelength.plugins.module_utils.eks_access import (
    ENTRY_TYPES,
    POLICY_ASSOCIATIONS_SPEC,
    AccessEntryError,
    check_entry_spec,
    converge_access_entry,
)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            principal_arn=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            type=dict(type="str", choices=ENTRY_TYPES, default="STANDARD"),
            kubernetes_groups=dict(type="list", elements="str", default=[]),
            username=dict(type="str"),
            policy_associations=dict(type="list", elements="dict", default=[], options=POLICY_ASSOCIATIONS_SPEC),
            purge_policy_associations=dict(type="bool", default=True),
            tags=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    refused = check_entry_spec(p)
    if refused:
        module.fail_json(msg=refused)
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    try:
        result = converge_access_entry(client, p["cluster_name"], p, module.check_mode)
    except AccessEntryError as e:
        module.fail_json(msg=str(e))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage access entry of {p['principal_arn']} on {p['cluster_name']}")
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()

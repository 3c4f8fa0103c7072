#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: caller_principal
version_added: 0.1.0
short_description: The IAM principal of the credentials in use, as an EKS access entry names it
description:
  - Asks STS who the caller is (C(GetCallerIdentity)) and returns the IAM principal an EKS access entry must name
    for it. Access entries name IAM roles and users, never STS sessions, and EKS maps a session to its role.
  - An assumed-role session (C(arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), also what AWS IAM Identity Center
    and instance profiles give) maps to its role. The session ARN omits the role's path; the module reads the role's
    full ARN with C(iam:GetRole) (see O(resolve_role_path)) so that the entry names the role exactly as IAM does
    (for example the C(aws-reserved/...) roles of IAM Identity Center). Whether EKS would also match a path-less ARN
    is not documented, so the module does not rely on it.
  - Mapping a session to its role gives the access to every session of that role (for example every user of an
    IAM Identity Center permission set), and the entry stays after the run.
  - An IAM user (C(arn:aws:iam::ACCOUNT:user/...)) and the account root user (C(arn:aws:iam::ACCOUNT:root), which
    EKS accepts, as for the creator of a cluster, with a warning to use a role) are taken as they are.
  - A federated user session (C(GetFederationToken)) has no IAM principal an access entry could name, so the
    module fails with a message. Any other ARN is returned unchanged; EKS judges it.
  - Reads only, so check mode behaves the same.
author:
  - edgeml team
options:
  resolve_role_path:
    description:
      - For an assumed role, read the role's ARN (with its path) with C(iam:GetRole).
      - When the caller may not call C(iam:GetRole), the ARN without a path is returned with a warning (right for
        roles without a path, the common case).
      - V(false) never calls IAM.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Who runs the playbook
  edgeml.wavelength.caller_principal:
  register: caller

- name: Give the caller cluster admin
  edgeml.wavelength.eks_access_entry:
    cluster_name: edgeml
    principal_arn: "{{ caller.principal_arn }}"
    policy_associations:
      - policy_arn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy
"""

RETURN = r"""
caller_arn:
  description: The caller's ARN as STS answers it.
  returned: always
  type: str
  sample: arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice
account:
  description: The caller's account.
  returned: always
  type: str
  sample: "123456789012"
user_id:
  description: The caller's unique id (for a role session, role id and session name).
  returned: always
  type: str
principal_arn:
  description: The IAM principal an access entry names for the caller.
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef
principal_type:
  description: V(role), V(user), V(root), or V(other) (an ARN the module does not know, returned unchanged).
  returned: always
  type: str
  sample: role
session_name:
  description: The role session name (assumed roles only).
  returned: when the caller is an assumed-role session
  type: str
  sample: alice
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.edgeml.wavelength.plugins.module_utils.eks_access import (  # noqa: F401 (ARN, NoAccessEntry and principal_of: importable from here, as before)
    ARN,
    NoAccessEntry,
    principal_of,
    resolve_caller,
)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(resolve_role_path=dict(type="bool", default=True)),
        supports_check_mode=True,
    )
    module.exit_json(changed=False, **resolve_caller(module, module.params["resolve_role_path"]))


if __name__ == "__main__":
    main()

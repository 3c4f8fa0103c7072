#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: iam_instance_role
version_added: 0.1.0
short_description: An EC2 instance role in one run (role, trust, managed and inline policies, instance profile)
description:
  - Ensures an IAM role that EC2 instances assume, its managed policies, its inline policies and an instance profile
    of the same name that holds it, in one module run with one IAM client. A run that changes nothing only reads.
  - Managed policies not in O(managed_policies) are detached. Inline policies not in O(inline_policies) are left
    alone (other tools may own them).
  - An instance profile that holds another role gets this one instead.
  - Tags not in O(tags) are removed from the role and the profile when O(purge_tags=true).
author:
  - edgeml team
options:
  name:
    description: The role's and the instance profile's name.
    type: str
    required: true
  assume_role_policy_document:
    description: The trust policy.
    type: json
    required: true
  managed_policies:
    description: ARNs of the managed policies attached to the role.
    type: list
    elements: str
    default: []
  inline_policies:
    description: "Inline policies of the role, as C({name: policy document})."
    type: dict
    default: {}
  tags:
    description: Tags of the role and the instance profile.
    type: dict
    default: {}
    aliases: [resource_tags]
  purge_tags:
    description: Remove tags not in O(tags).
    type: bool
    default: true
notes:
  - Supports check mode (a role it would create has an empty ARN) and diff mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Node role and instance profile
  edgeml.wavelength.iam_instance_role:
    name: edgeml-node
    assume_role_policy_document:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: "sts:AssumeRole"}
    managed_policies:
      - arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy
    inline_policies:
      model-artifacts-read:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Action: ["s3:GetObject"], Resource: ["arn:aws:s3:::bucket/prefix/*"]}
    tags:
      edgeml:deployment: edgeml
  register: node_role
"""

RETURN = r"""
role_arn:
  description: The role's ARN (empty in check mode when it would be created).
  returned: always
  type: str
instance_profile_arn:
  description: The instance profile's ARN (empty in check mode when it would be created).
  returned: always
  type: str
changes:
  description: What this run changed (or would change in check mode), one line each.
  returned: always
  type: list
  elements: str
"""

import json
from urllib.parse import unquote

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.edgeml.wavelength.plugins.module_utils.wavelength import tag_changes


def normalized(policy):
    """A policy document in a form where equal policies compare equal: JSON text (URL-encoded or not) decoded, a
    single string where IAM allows a list made a list, lists sorted."""
    if isinstance(policy, str):
        policy = json.loads(unquote(policy) if policy.startswith("%7B") else policy)
    return canonical(policy)


def canonical(value, key=None):
    if isinstance(value, dict):
        return {k: canonical(v, k) for k, v in value.items()}
    if isinstance(value, str) and key not in (None, "Version", "Sid", "Effect"):
        return [value]
    if isinstance(value, list):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


class InstanceRole:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.name = self.p["name"]
        self.changes = []
        self.client = module.client("iam", retry_decorator=AWSRetry.jittered_backoff(
            catch_extra_error_codes=["NoSuchEntity"]))

    def call(self, what, method, retry=True, **kwargs):
        try:
            return getattr(self.client, method)(**({"aws_retry": True} if retry else {}), **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to {what}", changes=self.changes)

    def read(self, what, method, **kwargs):
        """The answer, or None where IAM says there is no such entity (no retry: absence is an answer here)."""
        try:
            return getattr(self.client, method)(**kwargs)
        except is_boto3_error_code("NoSuchEntity"):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(e, msg=f"Failed to read {what}", changes=self.changes)

    def change(self, line, method, **kwargs):
        self.changes.append(line)
        return None if self.module.check_mode else self.call(line, method, **kwargs)

    def pages(self, method, key, **kwargs):
        items, marker = [], None
        while True:
            page = self.call(f"list {key} of {self.name}", method, **kwargs, **({"Marker": marker} if marker else {}))
            items += page.get(key) or []
            marker = page.get("Marker") if page.get("IsTruncated") else None
            if not marker:
                return items

    def role(self):
        trust = json.dumps(self.p["assume_role_policy_document"], sort_keys=True) \
            if not isinstance(self.p["assume_role_policy_document"], str) else self.p["assume_role_policy_document"]
        found = self.read(f"role {self.name}", "get_role", RoleName=self.name)
        if not found:
            created = self.change(f"create role {self.name}", "create_role", RoleName=self.name,
                                  AssumeRolePolicyDocument=trust, Tags=ansible_dict_to_boto3_tag_list(self.p["tags"]))
            if created is None:
                return None
            self.wait("role_exists", RoleName=self.name)
            return created["Role"]
        role = found["Role"]
        if normalized(role["AssumeRolePolicyDocument"]) != normalized(trust):
            self.change(f"update the trust policy of role {self.name}", "update_assume_role_policy",
                        RoleName=self.name, PolicyDocument=trust)
        to_set, to_remove = tag_changes(boto3_tag_list_to_ansible_dict(role.get("Tags") or []), self.p["tags"],
                                        self.p["purge_tags"])
        if to_set:
            self.change(f"tag role {self.name}: {', '.join(sorted(to_set))}", "tag_role", RoleName=self.name,
                        Tags=ansible_dict_to_boto3_tag_list(to_set))
        if to_remove:
            self.change(f"untag role {self.name}: {', '.join(sorted(to_remove))}", "untag_role", RoleName=self.name,
                        TagKeys=to_remove)
        return role

    def wait(self, waiter, **kwargs):
        try:
            self.client.get_waiter(waiter).wait(WaiterConfig={"Delay": 1, "MaxAttempts": 60}, **kwargs)
        except botocore.exceptions.WaiterError as e:
            self.module.fail_json_aws(e, msg=f"Timed out waiting for {waiter}", changes=self.changes)

    def managed(self, exists):
        attached = {p["PolicyArn"] for p in self.pages("list_attached_role_policies", "AttachedPolicies",
                                                        RoleName=self.name)} if exists else set()
        wanted = set(self.p["managed_policies"])
        for arn in sorted(wanted - attached):
            self.change(f"attach {arn} to role {self.name}", "attach_role_policy", RoleName=self.name, PolicyArn=arn)
        for arn in sorted(attached - wanted):
            self.change(f"detach {arn} from role {self.name}", "detach_role_policy", RoleName=self.name, PolicyArn=arn)

    def inline(self, exists):
        for policy_name, document in sorted(self.p["inline_policies"].items()):
            current = self.read(f"policy {policy_name} of role {self.name}", "get_role_policy", RoleName=self.name,
                                PolicyName=policy_name) if exists else None
            if current and normalized(current["PolicyDocument"]) == normalized(document):
                continue
            self.change(f"{'update' if current else 'put'} policy {policy_name} of role {self.name}",
                        "put_role_policy", RoleName=self.name, PolicyName=policy_name,
                        PolicyDocument=json.dumps(document, sort_keys=True) if not isinstance(document, str)
                        else document)

    def instance_profile(self):
        found = self.read(f"instance profile {self.name}", "get_instance_profile", InstanceProfileName=self.name)
        if not found:
            created = self.change(f"create instance profile {self.name}", "create_instance_profile",
                                  InstanceProfileName=self.name, Tags=ansible_dict_to_boto3_tag_list(self.p["tags"]))
            if created is not None:
                self.wait("instance_profile_exists", InstanceProfileName=self.name)
            self.change(f"add role {self.name} to instance profile {self.name}", "add_role_to_instance_profile",
                        InstanceProfileName=self.name, RoleName=self.name)
            return created["InstanceProfile"]["Arn"] if created else ""
        profile = found["InstanceProfile"]
        roles = [r["RoleName"] for r in profile.get("Roles") or []]
        for other in roles:
            if other != self.name:
                self.change(f"remove role {other} from instance profile {self.name}",
                            "remove_role_from_instance_profile", InstanceProfileName=self.name, RoleName=other)
        if self.name not in roles:
            self.change(f"add role {self.name} to instance profile {self.name}", "add_role_to_instance_profile",
                        InstanceProfileName=self.name, RoleName=self.name)
        current = boto3_tag_list_to_ansible_dict(profile.get("Tags") or self.pages(
            "list_instance_profile_tags", "Tags", InstanceProfileName=self.name))
        to_set, to_remove = tag_changes(current, self.p["tags"], self.p["purge_tags"])
        if to_set:
            self.change(f"tag instance profile {self.name}: {', '.join(sorted(to_set))}", "tag_instance_profile",
                        InstanceProfileName=self.name, Tags=ansible_dict_to_boto3_tag_list(to_set))
        if to_remove:
            self.change(f"untag instance profile {self.name}: {', '.join(sorted(to_remove))}",
                        "untag_instance_profile", InstanceProfileName=self.name, TagKeys=to_remove)
        return profile["Arn"]

    def converge(self):
        role = self.role()
        self.managed(role is not None)
        self.inline(role is not None)
        profile_arn = self.instance_profile()
        return {"role_arn": role["Arn"] if role else "", "instance_profile_arn": profile_arn}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            assume_role_policy_document=dict(type="json", required=True),
            managed_policies=dict(type="list", elements="str", default=[]),
            inline_policies=dict(type="dict", default={}),
            tags=dict(type="dict", default={}, aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    module.params["assume_role_policy_document"] = json.loads(module.params["assume_role_policy_document"])
    role = InstanceRole(module)
    result = role.converge()
    result.update(changed=bool(role.changes), changes=role.changes)
    if module._diff:
        result["diff"] = {"before": "", "after": "".join(f"{line}\n" for line in role.changes)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()

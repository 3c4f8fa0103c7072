#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: carrier_gateway
version_added: 0.1.0
short_description: The carrier gateway of a VPC, ignoring gateways that are being or have been deleted
description:
  - Ensures a VPC has one carrier gateway (O(state=present)) or none (O(state=absent)).
  - A deleted carrier gateway stays listed by EC2 for a while, first as C(deleting), then as C(deleted). Such gateways
    are ignored. O(state=present) creates a new gateway when only deleted ones are left (a route to a deleted gateway
    is refused), and O(state=absent) deletes only the live ones (C(pending), C(available)).
  - M(community.aws.ec2_carrier_gateway) uses whatever gateway the VPC lists first, deleted or not.
author:
  - edgeml team
options:
  vpc_id:
    description: The VPC.
    type: str
    required: true
  state:
    description: Whether the VPC has a carrier gateway.
    type: str
    choices: [present, absent]
    default: present
  tags:
    description: Tags of the gateway (O(state=present)).
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description: Remove tags not in O(tags).
    type: bool
    default: true
  wait:
    description: With O(state=absent), wait until the deleted gateways are C(deleted).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait=true).
    type: int
    default: 300
notes:
  - Supports check mode and diff mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Carrier gateway of the VPC
  edgeml.wavelength.carrier_gateway:
    vpc_id: vpc-0123456789abcdef0
    tags:
      Name: edgeml
  register: cagw

- name: Delete it (a gateway already deleting is left to finish)
  edgeml.wavelength.carrier_gateway:
    vpc_id: vpc-0123456789abcdef0
    state: absent
"""

RETURN = r"""
carrier_gateway_id:
  description: The live gateway (O(state=present)); not returned in check mode when it would be created.
  returned: when state is present and the gateway exists
  type: str
  sample: cagw-0123456789abcdef0
vpc_id:
  description: The VPC.
  returned: always
  type: str
tags:
  description: Tags of the gateway.
  returned: when state is present and the gateway exists
  type: dict
ignored:
  description: Gateways of the VPC that are C(deleting) or C(deleted), as C({id, state}).
  returned: always
  type: list
  elements: dict
deleted:
  description: Gateways deleted by this run (O(state=absent)).
  returned: always
  type: list
  elements: str
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.ec2 import ensure_ec2_tags
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.edgeml.wavelength.plugins.module_utils.wavelength import split_carrier_gateways as split


def summary(gateway):
    if not gateway:
        return {}
    return {"carrier_gateway_id": gateway["CarrierGatewayId"], "tags": boto3_tag_list_to_ansible_dict(
        gateway.get("Tags") or [])}


class Gateways:
    def __init__(self, module):
        self.module = module
        self.vpc_id = module.params["vpc_id"]
        self.client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())

    def call(self, what, method, **kwargs):
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to {what}")

    def listed(self, ids=None):
        kwargs = {"CarrierGatewayIds": ids} if ids else {"Filters": [{"Name": "vpc-id", "Values": [self.vpc_id]}]}
        gateways, token = [], None
        while True:
            page = self.call(f"describe the carrier gateways of {self.vpc_id}", "describe_carrier_gateways",
                             **kwargs, **({"NextToken": token} if token else {}))
            gateways += page.get("CarrierGateways") or []
            token = page.get("NextToken")
            if not token:
                return gateways

    def delete(self, gateway_id):
        try:
            self.client.delete_carrier_gateway(CarrierGatewayId=gateway_id, aws_retry=True)
        except is_boto3_error_code("InvalidCarrierGatewayID.NotFound"):
            return False  # deleted meanwhile
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(e, msg=f"Failed to delete carrier gateway {gateway_id}")
        return True

    def wait_deleted(self, ids, timeout):
        deadline, delay = time.monotonic() + timeout, 0.5
        while True:
            pending = [g["CarrierGatewayId"] for g in self.listed() if g["CarrierGatewayId"] in ids
                       and g.get("State") != "deleted"]
            if not pending:
                return
            if time.monotonic() >= deadline:
                self.module.fail_json(msg=f"Timed out after {timeout} s waiting for carrier gateway "
                                          f"{', '.join(pending)} to be deleted", pending=pending)
            time.sleep(delay)
            delay = min(delay * 2, 10)


def present(module, gateways, live):
    p = module.params
    if len(live) > 1:
        module.fail_json(msg=f"VPC {gateways.vpc_id} has {len(live)} carrier gateways: "
                             f"{', '.join(g['CarrierGatewayId'] for g in live)}; keep one")
    if not live:
        if module.check_mode:
            return True, None
        spec = [{"ResourceType": "carrier-gateway", "Tags": ansible_dict_to_boto3_tag_list(p["tags"])}] \
            if p["tags"] else []
        created = gateways.call(f"create a carrier gateway in {gateways.vpc_id}", "create_carrier_gateway",
                                VpcId=gateways.vpc_id, **({"TagSpecifications": spec} if spec else {}))
        return True, created["CarrierGateway"]
    gateway = live[0]
    changed = ensure_ec2_tags(gateways.client, module, gateway["CarrierGatewayId"], resource_type="carrier-gateway",
                              tags=p["tags"], purge_tags=p["purge_tags"],
                              retry_codes=["InvalidCarrierGatewayID.NotFound"])
    if changed and not module.check_mode:
        gateway = gateways.listed([gateway["CarrierGatewayId"]])[0]
    elif changed:
        gateway = dict(gateway, Tags=ansible_dict_to_boto3_tag_list(p["tags"]))
    return changed, gateway


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            vpc_id=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            tags=dict(type="dict", aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    gateways = Gateways(module)
    live, gone = split(gateways.listed())
    result = {"changed": False, "vpc_id": gateways.vpc_id, "ignored": gone, "deleted": []}
    before = summary(live[0]) if len(live) == 1 else [summary(g) for g in live] or {}
    if module.params["state"] == "absent":
        for gateway in live:
            if module.check_mode or gateways.delete(gateway["CarrierGatewayId"]):
                result["deleted"].append(gateway["CarrierGatewayId"])
        result["changed"] = bool(result["deleted"])
        if result["deleted"] and module.params["wait"] and not module.check_mode:
            gateways.wait_deleted(result["deleted"], module.params["wait_timeout"])
        after = {}
    else:
        result["changed"], gateway = present(module, gateways, live)
        after = summary(gateway) if gateway else {"carrier_gateway_id": "(new)", "tags": module.params["tags"] or {}}
        if gateway:
            result.update(summary(gateway))
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: carrier_address
version_added: 0.1.0
short_description: A stable Elastic carrier IP per Wavelength zone, kept on a node that serves the models
description:
  - For each zone in O(addresses), ensures one Elastic IP allocated in the zone's network border group (in a
    Wavelength zone AWS gives it a C(CarrierIp), reachable from the carrier network), tagged
    C(edgeml:deployment=<name>) and C(edgeml:zone=<zone>), and associated with one of the zone's serving instances.
  - An address already on a serving instance stays where it is; one on an instance that is gone or no longer serving
    moves to the first serving instance (C(AllowReassociation)). A zone without a serving instance keeps its address
    where it is and is reported with RV(addresses[].serving=false).
  - With O(prune), addresses of the deployment in zones that are not listed are disassociated and released.
  - O(state=absent) disassociates and releases every address tagged with the deployment.
  - Addresses are found by tag only, so a re-run after an interruption adopts what an earlier run allocated.
author:
  - edgeml team
options:
  name:
    description: Deployment name (value of the C(edgeml:deployment) tag).
    type: str
    required: true
  addresses:
    description: The zones that get an address, each with its serving instances in order of preference.
    type: list
    elements: dict
    default: []
    suboptions:
      zone: {description: Wavelength zone name., type: str, required: true}
      instance_ids:
        description: Instances that serve every model in the zone; empty leaves the association as it is.
        type: list
        elements: str
        default: []
  state:
    description: Whether the addresses exist.
    type: str
    choices: [present, absent]
    default: present
  prune:
    description: Release the deployment's addresses in zones not in O(addresses) (state present).
    type: bool
    default: true
  tags:
    description: Extra tags of new addresses (the deployment and zone tags are always set).
    type: dict
    default: {}
notes:
  - An address is released only when it is tagged with the deployment; addresses of anything else are never touched.
  - Clients keep the address across node replacements; only the association moves.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A stable carrier address per zone
  edgeml.wavelength.carrier_address:
    name: edgeml
    addresses:
      - zone: us-east-1-wl1-bos-wlz-1
        instance_ids: [i-0abc]
  register: addresses

- name: Release every address of the deployment
  edgeml.wavelength.carrier_address:
    name: edgeml
    state: absent
"""

RETURN = r"""
addresses:
  description: One entry per zone of O(addresses) (state present), after the run.
  returned: always
  type: list
  elements: dict
  contains:
    zone: {description: Zone name., type: str}
    allocation_id: {description: Allocation id (empty in check mode before allocation)., type: str}
    carrier_ip: {description: The stable carrier address (empty in check mode before allocation)., type: str}
    network_border_group: {description: The zone's network border group., type: str}
    instance_id: {description: Instance the address is associated with (empty if none)., type: str}
    serving: {description: Whether that instance is one of the zone's serving instances., type: bool}
    changed: {description: Whether this zone's address was allocated or moved., type: bool}
released:
  description: Allocation ids released (pruned zones, or every address with O(state=absent)).
  returned: always
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.edgeml.wavelength.plugins.module_utils.wavelength import describe_all_zones

DEPLOYMENT_TAG = "edgeml:deployment"
ZONE_TAG = "edgeml:zone"


def summary(address):
    return {"carrier_ip": address.get("CarrierIp") or "", "instance_id": address.get("InstanceId") or ""}


class Addresses:
    """The deployment's Elastic carrier IPs and the calls that change them (nothing is called in check mode)."""

    def __init__(self, module):
        self.module = module
        self.client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(
            catch_extra_error_codes=["InvalidAllocationID.NotFound", "InvalidAssociationID.NotFound"]))
        self.name = module.params["name"]
        self.released = []

    def call(self, what, method, **kwargs):
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to {what}")

    def existing(self):
        """{zone: [addresses]} of the deployment, in allocation id order within a zone (stable across runs)."""
        found = self.call("describe the deployment's addresses", "describe_addresses",
                          Filters=[{"Name": f"tag:{DEPLOYMENT_TAG}", "Values": [self.name]}])["Addresses"]
        by_zone = {}
        for address in sorted(found, key=lambda a: a["AllocationId"]):
            zone = boto3_tag_list_to_ansible_dict(address.get("Tags") or []).get(ZONE_TAG, "")
            by_zone.setdefault(zone, []).append(address)
        return by_zone

    def allocate(self, zone, border_group):
        if self.module.check_mode:
            return {"NetworkBorderGroup": border_group}
        tags = {**self.module.params["tags"], "Name": f"{self.name}-{zone}", DEPLOYMENT_TAG: self.name, ZONE_TAG: zone}
        return self.call(f"allocate a carrier address in {border_group}", "allocate_address", Domain="vpc",
                         NetworkBorderGroup=border_group,
                         TagSpecifications=[{"ResourceType": "elastic-ip",
                                             "Tags": ansible_dict_to_boto3_tag_list(tags)}])

    def associate(self, address, instance_id):
        if not self.module.check_mode:
            reply = self.call(f"associate {address.get('CarrierIp')} with {instance_id}", "associate_address",
                              AllocationId=address["AllocationId"], InstanceId=instance_id, AllowReassociation=True)
            address["AssociationId"] = reply.get("AssociationId")
        address["InstanceId"] = instance_id

    def release(self, address):
        if not self.module.check_mode:
            if address.get("AssociationId"):
                self.call(f"disassociate {address.get('CarrierIp')}", "disassociate_address",
                          AssociationId=address["AssociationId"])
            self.call(f"release {address.get('CarrierIp')}", "release_address", AllocationId=address["AllocationId"])
        self.released.append(address["AllocationId"])


def border_groups(module, client, zones):
    """{zone: network border group}; fails naming unknown or non-Wavelength zones."""
    try:
        known = {z["zone_name"]: z for z in describe_all_zones(client)}
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to describe zones")
    wrong = [z for z in zones if known.get(z, {}).get("zone_type") != "wavelength-zone"]
    if wrong:
        module.fail_json(msg=f"addresses: {', '.join(wrong)} is not a Wavelength zone of {module.region}; "
                             "carrier addresses exist only in Wavelength zones (check edge_zones)", zones=wrong)
    return {z: known[z]["network_border_group"] for z in zones}


def ensure(module, addresses):
    wanted = module.params["addresses"]
    zones = [entry["zone"] for entry in wanted]
    duplicate = sorted({z for z in zones if zones.count(z) > 1})
    if duplicate:
        module.fail_json(msg=f"addresses: zone {', '.join(duplicate)} is listed more than once")
    groups = border_groups(module, addresses.client, zones)
    existing = addresses.existing()
    results, before, after = [], {}, {}
    for entry in wanted:
        zone, serving = entry["zone"], entry["instance_ids"]
        mine = existing.pop(zone, [])
        # More than one for a zone can only come from an interrupted run: keep one (serving, else the first).
        keep = next((a for a in mine if a.get("InstanceId") in serving), mine[0]) if mine else None
        for extra in mine:
            if extra is not keep:
                addresses.release(extra)
        address, changed = (keep, False) if keep else (addresses.allocate(zone, groups[zone]), True)
        before[zone] = summary(keep) if keep else None
        if serving and address.get("InstanceId") not in serving:
            addresses.associate(address, serving[0])
            changed = True
        after[zone] = summary(address)
        results.append({"zone": zone, "allocation_id": address.get("AllocationId") or "",
                        "carrier_ip": address.get("CarrierIp") or "",
                        "network_border_group": address.get("NetworkBorderGroup") or groups[zone],
                        "instance_id": address.get("InstanceId") or "",
                        "serving": bool(address.get("InstanceId")) and address.get("InstanceId") in serving,
                        "changed": changed})
    if module.params["prune"]:
        for zone, stale in existing.items():
            for address in stale:
                before[zone or address["AllocationId"]] = summary(address)
                addresses.release(address)
    return results, before, after


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            addresses=dict(type="list", elements="dict", default=[], options=dict(
                zone=dict(type="str", required=True),
                instance_ids=dict(type="list", elements="str", default=[]))),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            prune=dict(type="bool", default=True),
            tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    addresses = Addresses(module)
    if module.params["state"] == "absent":
        existing = addresses.existing()
        before = {zone or a["AllocationId"]: summary(a) for zone, found in existing.items() for a in found}
        for found in existing.values():
            for address in found:
                addresses.release(address)
        results, after = [], {}
    else:
        results, before, after = ensure(module, addresses)
    result = {"changed": bool(addresses.released) or any(r["changed"] for r in results),
              "addresses": results, "released": addresses.released}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()

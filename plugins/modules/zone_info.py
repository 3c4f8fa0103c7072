#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: zone_info
version_added: 0.1.0
short_description: Discover availability, Local and Wavelength zones, opted in or not
description:
  - Lists the zones of the region with C(AllAvailabilityZones=true), so zones whose group is not opted in
    (Wavelength and Local Zones) are listed too, unlike M(amazon.aws.aws_az_info).
  - Optionally reports, per zone, which of the given instance types are offered there
    (C(DescribeInstanceTypeOfferings) with C(LocationType=availability-zone)).
author:
  - edgeml team
options:
  names:
    description:
      - Zone names to return. Names that do not exist in the region are listed in RV(missing) instead of failing.
      - Empty returns every zone of the region.
    type: list
    elements: str
    default: []
  zone_types:
    description:
      - Only return zones of these types, for example C(wavelength-zone), C(local-zone), C(availability-zone).
    type: list
    elements: str
    default: []
  instance_types:
    description:
      - Instance types to look up, shell-style wildcards allowed (V(*) lists every type offered).
        Each returned zone gets C(offered_instance_types), the matching types offered there.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Describe two Wavelength zones and check that t3.xlarge is offered
  edgeml.wavelength.zone_info:
    names: [us-east-1-wl1-bos-wlz-1, us-east-1-wl1-nyc-wlz-1]
    instance_types: [t3.xlarge]
  register: zones

- name: All Wavelength zones of the region
  edgeml.wavelength.zone_info:
    zone_types: [wavelength-zone]
"""

RETURN = r"""
zones:
  description: The zones found, in the order of O(names) when given.
  returned: always
  type: list
  elements: dict
  contains:
    zone_name: {description: Zone name., type: str, sample: us-east-1-wl1-bos-wlz-1}
    zone_id: {description: Zone id., type: str, sample: use1-wl1-bos-wlz1}
    zone_type: {description: Zone type., type: str, sample: wavelength-zone}
    group_name: {description: The zone group (the unit of opt-in)., type: str, sample: us-east-1-wl1}
    network_border_group: {description: Network border group (carrier IPs are allocated in it)., type: str}
    opt_in_status: {description: opt-in-not-required, opted-in or not-opted-in., type: str}
    parent_zone_name: {description: Parent availability zone in the region (Wavelength/Local zones)., type: str}
    parent_zone_id: {description: Parent zone id., type: str}
    region_name: {description: Region., type: str}
    state: {description: Zone state., type: str}
    offered_instance_types:
      description: The types matching O(instance_types) offered in the zone, sorted.
      returned: when O(instance_types) is given
      type: list
      elements: str
missing:
  description: Requested names that do not exist in the region.
  returned: always
  type: list
  elements: str
"""

import fnmatch

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.edgeml.wavelength.plugins.module_utils.wavelength import describe_all_zones


def offered_types(client, zone_names, patterns):
    """{zone name: sorted offered types matching the patterns}. Matching is done here, not with an
    instance-type filter, so wildcards behave the same everywhere and '*' can list all offerings."""
    offered = {name: set() for name in zone_names}
    paginator = client.get_paginator("describe_instance_type_offerings")
    pages = paginator.paginate(LocationType="availability-zone",
                               Filters=[{"Name": "location", "Values": list(zone_names)}])
    for offering in pages.build_full_result()["InstanceTypeOfferings"]:
        if any(fnmatch.fnmatchcase(offering["InstanceType"], p) for p in patterns):
            offered.setdefault(offering["Location"], set()).add(offering["InstanceType"])
    return {zone: sorted(types) for zone, types in offered.items()}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", default=[]),
            zone_types=dict(type="list", elements="str", default=[]),
            instance_types=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    names, types = module.params["names"], module.params["instance_types"]
    try:
        zones = describe_all_zones(client)
        if module.params["zone_types"]:
            zones = [z for z in zones if z["zone_type"] in module.params["zone_types"]]
        by_name = {z["zone_name"]: z for z in zones}
        if names:
            zones = [by_name[n] for n in names if n in by_name]
        if types and zones:
            offered = offered_types(client, [z["zone_name"] for z in zones], types)
            for zone in zones:
                zone["offered_instance_types"] = offered.get(zone["zone_name"], [])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to describe zones")
    module.exit_json(changed=False, zones=zones, missing=[n for n in names if n not in by_name])


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: zone_group
version_added: 0.1.0
short_description: Opt in to the zone groups of Wavelength or Local zones
description:
  - Sets the opt-in status of zone groups with C(ModifyAvailabilityZoneGroup) and waits until every zone of the
    group reports the requested status. A group that already has it (or needs no opt-in) is left alone.
  - Groups are given directly (O(group_names)) or derived from zone names (O(zone_names)).
author:
  - edgeml team
options:
  group_names:
    description:
      - Zone groups, for example C(us-east-1-wl1); AWS's API reference also shows one group per zone
        (C(us-east-1-wl1-bos-wlz-1)). One of O(group_names) and O(zone_names) is required.
      - With O(zone_names) each zone's group is read from C(DescribeAvailabilityZones), so no naming is assumed.
    type: list
    elements: str
  zone_names:
    description: Zones whose groups are handled. An unknown zone name fails the module.
    type: list
    elements: str
  state:
    description: The opt-in status wanted.
    type: str
    choices: [opted-in, not-opted-in]
    default: opted-in
  wait:
    description: Wait until every zone of the groups reports the status.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 300
notes:
  - Regional availability zones (status C(opt-in-not-required)) are never changed.
  - Opting out is not possible through the API - AWS accepts only C(opted-in) in C(ModifyAvailabilityZoneGroup)
    and answers C(InvalidParameterValue) to C(not-opted-in) (leaving a Wavelength zone group takes AWS Support).
    O(state=not-opted-in) is passed on as asked and fails where AWS refuses it.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Opt in to the groups of the edge zones
  edgeml.wavelength.zone_group:
    zone_names: [us-east-1-wl1-bos-wlz-1, us-east-1-wl1-nyc-wlz-1]
    wait_timeout: 600

- name: Opt in to a group by name
  edgeml.wavelength.zone_group:
    group_names: [us-east-1-wl1]
"""

RETURN = r"""
groups:
  description: The groups handled, with their status after the run.
  returned: always
  type: list
  elements: dict
  contains:
    group_name: {description: Group name., type: str, sample: us-east-1-wl1}
    opt_in_status: {description: Status after the run (the planned one in check mode)., type: str, sample: opted-in}
    zones: {description: Zone names of the group., type: list, elements: str}
    changed: {description: Whether this group was changed., type: bool}
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.edgeml.wavelength.plugins.module_utils.wavelength import describe_all_zones, wait_until


def group_status(zones, group):
    """The group's status: the one shared by its zones, or 'mixed' while a change propagates."""
    statuses = {z["opt_in_status"] for z in zones if z["group_name"] == group}
    return statuses.pop() if len(statuses) == 1 else ("mixed" if statuses else None)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            group_names=dict(type="list", elements="str"),
            zone_names=dict(type="list", elements="str"),
            state=dict(type="str", choices=["opted-in", "not-opted-in"], default="opted-in"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=300),
        ),
        required_one_of=[["group_names", "zone_names"]],
        supports_check_mode=True,
    )
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    state = module.params["state"]
    zone_names, group_names = module.params["zone_names"] or [], module.params["group_names"] or []

    def zones_now():
        try:
            return describe_all_zones(client)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Failed to describe zones")

    zones = zones_now()
    by_name = {z["zone_name"]: z for z in zones}
    unknown = [n for n in zone_names if n not in by_name]
    if unknown:
        module.fail_json(msg=f"Unknown zone(s) in region {module.region}: {', '.join(unknown)}", unknown=unknown)
    groups = list(dict.fromkeys(group_names + [by_name[n]["group_name"] for n in zone_names]))
    unknown = [g for g in groups if group_status(zones, g) is None]
    if unknown:
        module.fail_json(msg=f"Unknown zone group(s) in region {module.region}: {', '.join(unknown)}", unknown=unknown)

    before, after, to_change = {}, {}, []
    for group in groups:
        before[group] = group_status(zones, group)
        after[group] = before[group]
        if before[group] not in (state, "opt-in-not-required"):
            to_change.append(group)
            after[group] = state

    if to_change and not module.check_mode:
        for group in to_change:
            try:
                client.modify_availability_zone_group(GroupName=group, OptInStatus=state, aws_retry=True)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Failed to set zone group {group} to {state}")
        if module.params["wait"]:
            def done():
                current = zones_now()
                return current if all(group_status(current, g) == state for g in to_change) else None

            zones = wait_until(done, module.params["wait_timeout"], delay=min(5, max(1, module.params["wait_timeout"] // 60)),
                               module=module,
                               msg=f"Timed out waiting for zone group(s) {', '.join(to_change)} to become {state}")
            after = {g: group_status(zones, g) for g in groups}

    result = dict(
        changed=bool(to_change),
        groups=[
            dict(group_name=g, opt_in_status=after[g], changed=g in to_change,
                 zones=sorted(z["zone_name"] for z in zones if z["group_name"] == g))
            for g in groups
        ],
    )
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

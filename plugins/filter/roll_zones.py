# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: roll_zones
author: edgeml team
version_added: 0.1.0
short_description: Zones whose node group needs edgeml.wavelength.node_roll (surge)
description:
  - A zone needs a surge when its auto scaling group (as found before this run changed it) is new, has fewer instances
    than O(nodes_per_zone), or runs an instance of another launch template version than the template's default after
    this run (a changed template, or an interrupted roll). Other zones skip the module call.
  - In check mode a new group is left out (its creation is reported by the group task).
positional: _input, groups, name_prefix, nodes_per_zone
options:
  _input:
    description: The launch template loop results (C(edgeml.wavelength.launch_template), C(item) is the zone).
    type: list
    elements: dict
    required: true
  groups:
    description: The groups before this run, as C(amazon.aws.autoscaling_group_info) returns them in C(results).
    type: list
    elements: dict
    required: true
  name_prefix:
    description: Group name prefix; the group of a zone is C(<name_prefix>-<zone>).
    type: str
    required: true
  nodes_per_zone:
    description: Nodes a zone needs.
    type: int
    required: true
  check_mode:
    description: Whether the play runs in check mode.
    type: bool
    default: false
"""

EXAMPLES = r"""
# => ["us-east-1-wl1-bos-wlz-1"]
zones: "{{ templates.results | edgeml.wavelength.roll_zones(groups.results, edge_nodegroup_name, 1) }}"
"""

RETURN = r"""
_value:
  description: Zones, in the order of the input.
  type: list
  elements: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of


def roll_zones(templates, groups, name_prefix, nodes_per_zone, check_mode=False):
    list_of(templates, Mapping, "roll_zones", "the input (launch template results)")
    list_of(groups, Mapping, "roll_zones", "groups")
    if not isinstance(name_prefix, str) or isinstance(nodes_per_zone, bool):
        raise AnsibleFilterError(f"roll_zones: name_prefix must be a string and nodes_per_zone an integer, got "
                                 f"{name_prefix!r} and {nodes_per_zone!r}")
    by_name = {g.get("auto_scaling_group_name"): g for g in groups}
    zones = []
    for tpl in templates:
        if tpl.get("skipped"):
            continue
        group = by_name.get(f"{name_prefix}-{tpl.get('item')}")
        if group is None:
            if not check_mode:
                zones.append(tpl["item"])
            continue
        instances = group.get("instances") or []
        versions = {str((i.get("launch_template") or {}).get("version", "")) for i in instances}
        if len(instances) < int(nodes_per_zone) or versions - {str(tpl.get("default_version"))}:
            zones.append(tpl["item"])
    return zones


class FilterModule:
    """Zones to surge."""

    def filters(self):
        return {"roll_zones": roll_zones}

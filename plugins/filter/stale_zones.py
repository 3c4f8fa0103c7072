# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: stale_zones
author: edgeml team
version_added: 0.1.0
short_description: Zones whose node group must be rolled to the launch template's default version
description:
  - A zone is stale when its auto scaling group (named C(<name prefix>-<zone>)) exists and either its launch
    template got a new version in this run (C(version_changed) with C(latest_version) above 1), or one of its
    instances was launched from another version than the template's C(default_version) (a run interrupted
    before the roll).
  - Launch template results without C(default_version) (skipped loop items) are ignored.
positional: _input, groups, name_prefix
options:
  _input:
    description:
      - The C(results) of the M(edgeml.wavelength.launch_template) task looped over the zones - each with C(item)
        (the zone), C(default_version), C(latest_version) and C(version_changed).
    type: list
    elements: dict
    required: true
  groups:
    description: Auto scaling groups, as C(amazon.aws.autoscaling_group_info) returns them in C(results).
    type: list
    elements: dict
    required: true
  name_prefix:
    description: Group name prefix (C(edge_nodegroup_name)).
    type: str
    required: true
"""

EXAMPLES = r"""
# => ["us-east-1-wl1-bos-wlz-1"]
stale: "{{ templates.results | edgeml.wavelength.stale_zones(groups.results, edge_nodegroup_name) }}"
"""

RETURN = r"""
_value:
  description: The stale zones, in the order of the launch template results.
  type: list
  elements: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of


def _int(value, what):
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError) as e:
        raise AnsibleFilterError(f"stale_zones: {what} must be an integer, got {value!r}") from e


def stale_zones(templates, groups, name_prefix):
    """Zones whose group runs, or is about to run, an older launch template version."""
    list_of(templates, Mapping, "stale_zones", "the input (launch template results)")
    list_of(groups, Mapping, "stale_zones", "groups")
    if not isinstance(name_prefix, str):
        raise AnsibleFilterError(f"stale_zones: name_prefix must be a string, got {name_prefix!r}")
    stale = []
    for tpl in templates:
        if tpl.get("default_version") is None:
            continue
        zone, default = tpl.get("item"), str(tpl["default_version"])
        if not isinstance(zone, str):
            raise AnsibleFilterError(f"stale_zones: a launch template result's item must be its zone, got {zone!r}")
        new_version = bool(tpl.get("version_changed")) and _int(tpl.get("latest_version"), "latest_version") > 1
        for group in groups:
            if group.get("auto_scaling_group_name") != f"{name_prefix}-{zone}":
                continue
            versions = [str((inst.get("launch_template") or {}).get("version", "")) for inst in
                        group.get("instances") or []]
            if new_version or any(v != default for v in versions):
                stale.append(zone)
    return stale


class FilterModule:
    """Zones to roll."""

    def filters(self):
        return {"stale_zones": stale_zones}

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: group_differs
author: edgeml team
version_added: 0.1.0
short_description: Whether an auto scaling group differs from what the node group wants (check mode)
description:
  - C(amazon.aws.autoscaling_group) reports every existing group as changed in check mode. This filter compares
    the existing group with the wanted one so that a check run reports a change only where a real run makes one.
  - Compared - sizes, the single subnet, the launch template name and version (C($Default)) and the tags. A missing
    group differs.
positional: _input, name, wanted
options:
  _input:
    description: Auto scaling groups, as C(amazon.aws.autoscaling_group_info) returns them in C(results).
    type: list
    elements: dict
    required: true
  name:
    description: Name of the group.
    type: str
    required: true
  wanted:
    description:
      - The wanted group - C(min_size), C(max_size), C(desired_capacity), C(subnet), C(launch_template) (name;
        version C($Default)) and C(tags) (a dict).
    type: dict
    required: true
"""

EXAMPLES = r"""
when: existing.results | edgeml.wavelength.group_differs('edgeml-us-east-1-wl1-bos-wlz-1', wanted)
"""

RETURN = r"""
_value:
  description: True when the group is missing or any compared setting differs.
  type: bool
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of

SIZES = ("min_size", "max_size", "desired_capacity")


def group_differs(groups, name, wanted):
    list_of(groups, Mapping, "group_differs", "the groups")
    if not isinstance(wanted, Mapping) or not all(k in wanted for k in (*SIZES, "subnet", "launch_template", "tags")):
        raise AnsibleFilterError(f"group_differs: wanted needs {', '.join(SIZES)}, subnet, launch_template and tags, "
                                 f"got {wanted!r}")
    group = next((g for g in groups if g.get("auto_scaling_group_name") == name), None)
    if group is None:
        return True
    template = group.get("launch_template") or {}
    tags = {t.get("key"): t.get("value") for t in group.get("tags") or []}
    return (any(int(group.get(k, -1)) != int(wanted[k]) for k in SIZES)
            or group.get("vpc_zone_identifier") != wanted["subnet"]
            or template.get("launch_template_name") != wanted["launch_template"]
            or template.get("version") != "$Default"
            or tags != {str(k): str(v) for k, v in wanted["tags"].items()})


class FilterModule:
    def filters(self):
        return {"group_differs": group_differs}

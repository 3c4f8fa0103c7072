# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: kubelet_taints
author: edgeml team
version_added: 0.1.0
short_description: Taints in the kubelet flag form (key=value:Effect) as KubeletConfiguration registerWithTaints
description:
  - Turns C(key[=value]:Effect) strings (the form of C(--register-with-taints) and of C(edge_nodegroup_taints)) into
    the C(registerWithTaints) entries of a KubeletConfiguration (C({key, value, effect})), checking each.
  - Errors name O(what) and the wrong entry.
positional: _input, what
options:
  _input:
    description: Taints as C(key[=value]:Effect) strings.
    type: list
    elements: str
    required: true
  what:
    description: The input's name, for error messages.
    type: str
    default: taints
"""

EXAMPLES = r"""
# => [{"key": "dedicated", "value": "edge", "effect": "NoSchedule"}]
taints: "{{ ['dedicated=edge:NoSchedule'] | edgeml.wavelength.kubelet_taints('edge_nodegroup_taints') }}"
"""

RETURN = r"""
_value:
  description: C(registerWithTaints) entries, in the input's order.
  type: list
  elements: dict
"""

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# A qualified name (optional DNS prefix) as key, a label value as value.
KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def kubelet_taints(taints, what="taints"):
    list_of(taints, str, "kubelet_taints", what)
    out = []
    for taint in taints:
        keyvalue, sep, effect = taint.rpartition(":")
        key, _, value = keyvalue.partition("=")
        if not sep or not KEY.fullmatch(key) or not VALUE.fullmatch(value) or effect not in EFFECTS:
            raise AnsibleFilterError(
                f"{what}: {taint!r} is not a taint: write key[=value]:Effect with Effect one of {', '.join(EFFECTS)}")
        out.append({"key": key, **({"value": value} if value else {}), "effect": effect})
    return out


class FilterModule:
    """Kubelet taints."""

    def filters(self):
        return {"kubelet_taints": kubelet_taints}

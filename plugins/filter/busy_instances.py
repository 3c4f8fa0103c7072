# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: busy_instances
author: edgeml team
version_added: 0.1.0
short_description: EC2 instance ids of the Nodes that run a serving pod
description:
  - Maps each pod that is Ready and not being deleted (no C(metadata.deletionTimestamp)) to its Node (C(spec.nodeName))
    and that Node to its EC2 instance (the id at the end of C(spec.providerID)).
  - The node retirement keeps such an instance when it is of an older generation - the deploy stage has not moved
    its pods to the newest nodes yet.
positional: _input, nodes
options:
  _input:
    description: Pod resources, as C(kubernetes.core.k8s_info) returns them in C(resources).
    type: list
    elements: dict
    required: true
  nodes:
    description: Node resources, as C(kubernetes.core.k8s_info) returns them in C(resources).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
# => ["i-0abc"]
busy: "{{ pods.resources | edgeml.wavelength.busy_instances(nodes.resources) }}"
"""

RETURN = r"""
_value:
  description: Instance ids, sorted, each once.
  type: list
  elements: str
"""

from collections.abc import Mapping

from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.pods import node_and_model, serving


def _get(obj, key):
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def busy_instances(pods, nodes):
    list_of(pods, Mapping, "busy_instances", "the input (Pod resources)")
    list_of(nodes, Mapping, "busy_instances", "nodes")
    instance_of = {_get(n, "metadata").get("name"): str(_get(n, "spec").get("providerID") or "").rsplit("/", 1)[-1]
                   for n in nodes}
    busy = set()
    for pod in pods:
        node, _ = node_and_model(pod)
        if serving(pod) and instance_of.get(node):
            busy.add(instance_of[node])
    return sorted(busy)


class FilterModule:
    """Instances running serving pods."""

    def filters(self):
        return {"busy_instances": busy_instances}

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: serving_instances
author: edgeml team
version_added: 0.1.0
short_description: Per zone, the instances whose node runs a Ready pod of every model
description:
  - Input is the Ready Nodes of the zones (the output of P(edgeml.wavelength.ready_zone_nodes#filter)).
  - A node serves when, for every model name in O(models), it runs a pod labelled
    C(app.kubernetes.io/name=<model>) that is Ready and not being deleted. With C(externalTrafficPolicy Local), only
    such a node answers on the models' NodePorts, so only such a node may hold the zone's stable address.
  - Returns the input to C(edgeml.wavelength.carrier_address), one entry per zone, serving instances sorted.
positional: _input, pods, models
options:
  _input:
    description: Ready Nodes, C([{zone, instance_id, node_name}]).
    type: list
    elements: dict
    required: true
  pods:
    description: Pod resources of the deployment, as C(kubernetes.core.k8s_info) returns them.
    type: list
    elements: dict
    required: true
  models:
    description: Model names (C(edge_models[].name)).
    type: list
    elements: str
    required: true
  zones:
    description: Zones to return, in this order (default the zones of the nodes).
    type: list
    elements: str
"""

EXAMPLES = r"""
# => [{"zone": "us-east-1-wl1-bos-wlz-1", "instance_ids": ["i-0abc"]}]
addresses: "{{ nodes | edgeml.wavelength.serving_instances(pods.resources, ['sentiment'], zones=edge_zones) }}"
"""

RETURN = r"""
_value:
  description: One entry per zone.
  type: list
  elements: dict
  contains:
    zone: {description: Zone name., type: str}
    instance_ids: {description: Instances serving every model in that zone (may be empty)., type: list, elements: str}
"""

from collections.abc import Mapping

from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.pods import node_and_model, serving


def serving_instances(nodes, pods, models, zones=None):
    list_of(nodes, Mapping, "serving_instances", "the input (Ready nodes)")
    list_of(pods, Mapping, "serving_instances", "pods")
    list_of(models, str, "serving_instances", "models")
    zones = list_of(zones, str, "serving_instances", "zones") if zones is not None else list(
        dict.fromkeys(n.get("zone") for n in nodes))
    ready_models = {}  # node name -> model names with a Ready pod there
    for pod in pods:
        node, model = node_and_model(pod)
        if serving(pod) and node:
            ready_models.setdefault(node, set()).add(model)
    return [{"zone": zone,
             "instance_ids": sorted(n["instance_id"] for n in nodes
                                    if n.get("zone") == zone and set(models) <= ready_models.get(n.get("node_name"),
                                                                                                 set()))}
            for zone in zones]


class FilterModule:
    """Serving instances per zone."""

    def filters(self):
        return {"serving_instances": serving_instances}

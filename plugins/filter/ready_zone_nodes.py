# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: ready_zone_nodes
author: edgeml team
version_added: 0.1.0
short_description: Ready Kubernetes Nodes of the given zones, with their zone and EC2 instance id
description:
  - Keeps the Nodes whose C(spec.providerID) is C(aws:///<zone>/<instance id>) with the zone in O(zones) and whose
    C(Ready) condition has status V(True), and returns their zone, instance id and name.
  - A Node with the O(pending_taint) is left out - its models are not in place, it gets no model pods. So is a
    cordoned Node (C(spec.unschedulable)) - it is on its way out.
  - With O(generation_label), each entry carries the Node's value of that label, and only the Nodes of each zone's
    newest generation are kept (the generation of the zone's most recently created Ready Node). During a node roll
    those are the new nodes, once one of them is Ready.
positional: _input, zones
options:
  _input:
    description: Node resources, as C(kubernetes.core.k8s_info) returns them in C(resources).
    type: list
    elements: dict
    required: true
  zones:
    description: Zones to keep (C(endpoint_check_zones)).
    type: list
    elements: str
    required: true
  pending_taint:
    description: Key of the taint of nodes whose models are not in place (edge_nodegroup).
    type: str
    default: edgeml.io/models-pending
  generation_label:
    description: Node label naming the node's launch template generation (edge_nodegroup). Empty - no filtering.
    type: str
    default: ""
"""

EXAMPLES = r"""
# => [{"zone": "us-east-1-wl1-bos-wlz-1", "instance_id": "i-0abc", "node_name": "ip-10-0-32-5"}]
nodes: "{{ k8s_nodes.resources | edgeml.wavelength.ready_zone_nodes(endpoint_check_zones) }}"
"""

RETURN = r"""
_value:
  description: The Ready Nodes of the zones, in the order of the input.
  type: list
  elements: dict
  contains:
    zone: {description: Zone of the Node's instance., type: str}
    instance_id: {description: EC2 instance id., type: str}
    node_name: {description: Kubernetes Node name., type: str}
    generation: {description: "Its generation label value (with O(generation_label)), empty if none.", type: str}
"""

import re
from collections.abc import Mapping

from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.node_taints import PENDING_TAINT, has_taint

PROVIDER_ID = re.compile(r"aws:///([^/]+)/(i-[0-9a-zA-Z]+)")


def _get(obj, key):
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def ready_zone_nodes(nodes, zones, pending_taint=PENDING_TAINT, generation_label=""):
    """[{zone, instance_id, node_name}] of the Ready Nodes of the zones (of their newest generation)."""
    list_of(nodes, Mapping, "ready_zone_nodes", "the input (Node resources)")
    list_of(zones, str, "ready_zone_nodes", "zones")
    out, created = [], {}
    for node in nodes:
        provider_id = _get(node, "spec").get("providerID") or ""
        match = PROVIDER_ID.fullmatch(provider_id) if isinstance(provider_id, str) else None
        conditions = _get(node, "status").get("conditions") or []
        ready = any(isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
                    for c in conditions)
        if match and match[1] in zones and ready and not has_taint(node, pending_taint) \
                and not _get(node, "spec").get("unschedulable"):
            meta = _get(node, "metadata")
            entry = {"zone": match[1], "instance_id": match[2], "node_name": meta.get("name")}
            if generation_label:
                entry["generation"] = str(_get(meta, "labels").get(generation_label) or "")
                # RFC 3339 timestamps in UTC compare as strings; the name breaks ties.
                created[match[2]] = (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))
            out.append(entry)
    if generation_label:
        newest = {}
        for entry in sorted(out, key=lambda e: created[e["instance_id"]]):
            newest[entry["zone"]] = entry["generation"]
        out = [e for e in out if e["generation"] == newest[e["zone"]]]
    return out


class FilterModule:
    """Ready Nodes of the zones."""

    def filters(self):
        return {"ready_zone_nodes": ready_zone_nodes}

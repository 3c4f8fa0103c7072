# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: node_boot_state
author: edgeml team
version_added: 0.1.0
short_description: Boot state of the Kubernetes Nodes of the edge auto scaling groups' instances
description:
  - Pairs the current instances of the per-zone auto scaling groups (named C(<name prefix>-<zone>)) with their
    Kubernetes Nodes (by the instance id at the end of C(spec.providerID)). Instances whose lifecycle state starts
    with C(Terminat) and instances without a Node are left out; an old Node of a replaced instance does not count.
  - A Node is ready when its C(Ready) condition has status V(True) and it does not carry the O(pending_taint).
  - A Node that carries the O(pending_taint) failed to place its models. On AL2023 the node joins even when its user
    data failed (C(nodeadm-run) is ordered after cloud-init's final stage but does not require it), so the node is
    registered with that taint and only the user data's last step, after every model is in place, registers it
    without; such a Node never receives the models' pods.
  - With O(generations), the zone's Nodes of that generation (their O(generation_label)) are used instead of the
    groups' instances - the nodes launched from the zone's current launch template, while older ones may still run
    next to them during a node roll.
positional: _input, groups, zones, name_prefix, nodes_per_zone
options:
  _input:
    description: Node resources, as C(kubernetes.core.k8s_info) returns them in C(resources).
    type: list
    elements: dict
    required: true
  groups:
    description: Auto scaling groups, as C(amazon.aws.autoscaling_group_info) returns them in C(results).
    type: list
    elements: dict
    required: true
  zones:
    description: Zones with a group (C(edge_nodegroup_zones)).
    type: list
    elements: str
    required: true
  name_prefix:
    description: Group name prefix (C(edge_nodegroup_name)); the group of a zone is C(<name_prefix>-<zone>).
    type: str
    required: true
  nodes_per_zone:
    description: Ready nodes a zone needs to count as ready (C(edge_nodegroup_nodes_per_zone)).
    type: int
    required: true
  pending_taint:
    description: Key of the taint a node is registered with until its models are in place.
    type: str
    default: edgeml.io/models-pending
  generations:
    description: Per zone, the current generation (C(edgeml.wavelength.launch_template) RV(generation)).
    type: dict
  generation_label:
    description: Node label carrying the generation; required with O(generations).
    type: str
    default: ""
"""

EXAMPLES = r"""
# => {"nodes": [{"zone": "us-east-1-wl1-bos-wlz-1", "instance_id": "i-0abc", "node_name": "ip-10-0-32-5",
#                "ready": true}],
#     "failed": [], "ready_zones": ["us-east-1-wl1-bos-wlz-1"]}
boot: "{{ k8s_nodes.resources | edgeml.wavelength.node_boot_state(groups.results, edge_nodegroup_zones,
  edge_nodegroup_name, edge_nodegroup_nodes_per_zone) }}"
"""

RETURN = r"""
_value:
  description: Boot state.
  type: dict
  contains:
    nodes:
      description: The Nodes of the groups' current instances, zone by zone in the order of O(zones).
      type: list
      elements: dict
      contains:
        zone: {description: Zone of the group., type: str}
        instance_id: {description: EC2 instance id., type: str}
        node_name: {description: Kubernetes Node name., type: str}
        ready: {description: Whether the Node is Ready., type: bool}
    failed:
      description: Nodes registered with the O(pending_taint) - C(zone), C(instance_id) and C(node_name).
      type: list
      elements: dict
    ready_zones:
      description: Zones with at least O(nodes_per_zone) Ready nodes, in the order of O(zones).
      type: list
      elements: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.node_taints import PENDING_TAINT, has_taint


def _dig(obj, *keys, default=None):
    for key in keys:
        if not isinstance(obj, Mapping) or obj.get(key) is None:
            return default
        obj = obj[key]
    return obj


def _candidates(nodes, groups, zone, name_prefix, generations, generation_label):
    """(instance id, Node) of a zone: its Nodes of the current generation, or the group's live instances' Nodes."""
    if generations is not None:
        for node in nodes:
            provider = str(_dig(node, "spec", "providerID", default="")).split("/")
            if provider[-2:-1] == [zone] and \
                    _dig(node, "metadata", "labels", generation_label) == generations.get(zone):
                yield provider[-1], node
        return
    by_id = {(_dig(node, "spec", "providerID", default="")).split("/")[-1]: node for node in nodes}
    for group in groups:
        if group.get("auto_scaling_group_name") != f"{name_prefix}-{zone}":
            continue
        for inst in group.get("instances") or []:
            instance_id = inst.get("instance_id")
            if not (inst.get("lifecycle_state") or "").startswith("Terminat") and instance_id in by_id:
                yield instance_id, by_id[instance_id]


def node_boot_state(nodes, groups, zones, name_prefix, nodes_per_zone, pending_taint=PENDING_TAINT, generations=None,
                    generation_label=""):
    """{nodes, failed, ready_zones} of the groups' current instances (or the zones' current generation)."""
    list_of(nodes, Mapping, "node_boot_state", "the input (Node resources)")
    list_of(groups, Mapping, "node_boot_state", "groups")
    list_of(zones, str, "node_boot_state", "zones")
    if not isinstance(name_prefix, str):
        raise AnsibleFilterError(f"node_boot_state: name_prefix must be a string, got {name_prefix!r}")
    try:
        if isinstance(nodes_per_zone, bool):
            raise ValueError
        needed = int(nodes_per_zone)
    except (TypeError, ValueError) as e:
        raise AnsibleFilterError(f"node_boot_state: nodes_per_zone must be an integer, got {nodes_per_zone!r}") from e

    if generations is not None and (not isinstance(generations, Mapping) or not generation_label):
        raise AnsibleFilterError("node_boot_state: generations must be a dict of zone -> generation, with a "
                                 f"generation_label; got {generations!r} and {generation_label!r}")
    state = {"nodes": [], "failed": [], "ready_zones": []}
    for zone in zones:
        ready = []
        for instance_id, node in _candidates(nodes, groups, zone, name_prefix, generations, generation_label):
            cond = next((c for c in _dig(node, "status", "conditions", default=[])
                         if isinstance(c, Mapping) and c.get("type") == "Ready"), {})
            pending = has_taint(node, pending_taint)
            is_ready = cond.get("status") == "True" and not pending
            name = _dig(node, "metadata", "name")
            state["nodes"].append({"zone": zone, "instance_id": instance_id, "node_name": name, "ready": is_ready})
            if is_ready:
                ready.append(instance_id)
            elif pending:
                state["failed"].append({"zone": zone, "instance_id": instance_id, "node_name": name})
        if len(ready) >= needed:
            state["ready_zones"].append(zone)
    return state


class FilterModule:
    """Boot state of the edge nodes."""

    def filters(self):
        return {"node_boot_state": node_boot_state}

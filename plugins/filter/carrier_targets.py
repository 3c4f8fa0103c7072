# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: carrier_targets
author: edgeml team
version_added: 0.1.0
short_description: Pair each edge node with the carrier IP of its EC2 instance
description:
  - For each zone of O(zones) in order, and each of its nodes by node name, finds the node's instance in
    O(instances) and keeps the node with the first carrier IP of the instance's network interfaces
    (C(network_interfaces[].association.carrier_ip)). Nodes without an instance or a carrier IP are left out.
positional: _input, instances, zones
options:
  _input:
    description:
      - Nodes with C(zone), C(instance_id) and C(node_name), as P(edgeml.wavelength.ready_zone_nodes#filter) returns
        them.
    type: list
    elements: dict
    required: true
  instances:
    description: EC2 instances, as C(amazon.aws.ec2_instance_info) returns them in C(instances).
    type: list
    elements: dict
    required: true
  zones:
    description: Zones, in the order of the result (C(endpoint_check_zones)).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
# => [{"zone": "us-east-1-wl1-bos-wlz-1", "instance_id": "i-0abc", "node_name": "ip-10-0-32-5",
#      "carrier_ip": "155.146.10.20"}]
targets: "{{ nodes | edgeml.wavelength.carrier_targets(instances.instances | default([]), endpoint_check_zones) }}"
"""

RETURN = r"""
_value:
  description: The nodes with a carrier IP, zone by zone in the order of O(zones), by node name within a zone.
  type: list
  elements: dict
  contains:
    zone: {description: Zone of the node., type: str}
    instance_id: {description: EC2 instance id., type: str}
    node_name: {description: Kubernetes Node name., type: str}
    carrier_ip: {description: Carrier IP of the instance., type: str}
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of


def _carrier_ips(instance):
    ips = []
    for interface in instance.get("network_interfaces") or []:
        association = interface.get("association") if isinstance(interface, Mapping) else None
        ip = association.get("carrier_ip") if isinstance(association, Mapping) else None
        if ip:
            ips.append(ip)
    return ips


def carrier_targets(nodes, instances, zones):
    """The nodes with the carrier IP of their instance: [{zone, instance_id, node_name, carrier_ip}]."""
    list_of(nodes, Mapping, "carrier_targets", "the input (nodes)")
    list_of(instances, Mapping, "carrier_targets", "instances")
    list_of(zones, str, "carrier_targets", "zones")
    for node in nodes:
        if not all(isinstance(node.get(key), str) for key in ("zone", "instance_id", "node_name")):
            raise AnsibleFilterError(f"carrier_targets: every node needs zone, instance_id and node_name, got {node!r}")
    targets = []
    for zone in zones:
        for node in sorted((n for n in nodes if n["zone"] == zone), key=lambda n: n["node_name"]):
            for instance in instances:
                if instance.get("instance_id") == node["instance_id"] and (ips := _carrier_ips(instance)):
                    targets.append({**node, "carrier_ip": ips[0]})
    return targets


class FilterModule:
    """Carrier IPs of the edge nodes."""

    def filters(self):
        return {"carrier_targets": carrier_targets}

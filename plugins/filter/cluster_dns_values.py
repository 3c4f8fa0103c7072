# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: cluster_dns_values
author: edgeml team
version_added: 0.1.0
short_description: Configuration values of the EKS coredns add-on for DNS that never leaves a Wavelength zone
description:
  - Two Wavelength zones of one VPC cannot reach each other, so every zone needs its own CoreDNS replicas. Returns
    the coredns add-on's configuration values (C(replicaCount), C(topologySpreadConstraints), C(tolerations)) that
    place O(per_zone) replicas in each zone of the input (a zone-key spread with C(DoNotSchedule), a C(maxSkew) of
    1 and C(minDomains) the number of zones, so a zone that loses its only node gets its replicas back with the next
    node instead of losing them to other zones; C(nodeTaintsPolicy) C(Honor), so nodes the replicas may not use do
    not count).
  - The kube-dns Service's C(trafficDistribution) keeps each zone's queries on its own replicas; this filter only
    places them.
  - The replicas tolerate the node groups' own taints (O(taints), C(registerWithTaints) entries as
    M(edgeml.wavelength.kubelet_taints) returns them), never a node that has not placed its models yet.
positional: _input, per_zone, taints
options:
  _input:
    description: The deployment's zones (names).
    type: list
    elements: str
    required: true
  per_zone:
    description: CoreDNS replicas in each zone (2 survive a replica's restart).
    type: int
    required: true
  taints:
    description: The nodes' own taints as C({key, value, effect}) dicts.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
# => {"replicaCount": 6, "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
#     "minDomains": 3, "nodeTaintsPolicy": "Honor", "whenUnsatisfiable": "DoNotSchedule",
#     "labelSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]}
values: "{{ ['us-east-1-wl1-bos-wlz-1', 'us-east-1-wl1-nyc-wlz-1', 'us-east-1-wl1-mia-wlz-1']
  | edgeml.wavelength.cluster_dns_values(2) }}"
"""

RETURN = r"""
_value:
  description: The coredns add-on's configuration values (EKS validates them against the add-on version's schema).
  type: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of

ZONE_KEY = "topology.kubernetes.io/zone"  # the well-known label every EKS node carries
SELECTOR = {"matchLabels": {"k8s-app": "kube-dns"}}  # the labels of the add-on's CoreDNS pods


def cluster_dns_values(zones, per_zone, taints=()):
    list_of(zones, str, "cluster_dns_values", "zones")
    list_of(list(taints), Mapping, "cluster_dns_values", "taints")
    if not zones or len(set(zones)) != len(zones):
        raise AnsibleFilterError(f"cluster_dns_values: zones must be a non-empty list of distinct names, got {zones!r}")
    if isinstance(per_zone, bool) or not isinstance(per_zone, int) or per_zone < 1:
        raise AnsibleFilterError(f"cluster_dns_values: per_zone must be a whole number of at least 1, got {per_zone!r}")
    values = {"replicaCount": len(zones) * per_zone,
              # minDomains: a zone whose only node is being replaced keeps its replicas Pending until a node is back
              # there (not moved for good into zones that have DNS already); nodeTaintsPolicy Honor: a node with
              # the models-pending taint is no zone to balance against.
              "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": ZONE_KEY, "minDomains": len(zones),
                                             "nodeTaintsPolicy": "Honor", "whenUnsatisfiable": "DoNotSchedule",
                                             "labelSelector": SELECTOR}]}
    tolerations = [{"key": t["key"], "operator": "Equal" if t.get("value") else "Exists",
                    **({"value": t["value"]} if t.get("value") else {}), "effect": t["effect"]} for t in taints]
    if tolerations:
        values["tolerations"] = tolerations
    return values


class FilterModule:
    """Cluster DNS per zone."""

    def filters(self):
        return {"cluster_dns_values": cluster_dns_values}

"""The coredns add-on values: replicas in every zone, tolerating the nodes' own taints only."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.cluster_dns_values import cluster_dns_values

ZONES = ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"]


def test_replicas_per_zone_spread_hard_on_the_zone_key():
    values = cluster_dns_values(ZONES, 2)
    assert values["replicaCount"] == 6
    (spread,) = values["topologySpreadConstraints"]
    assert spread == {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "minDomains": 3,
                      "nodeTaintsPolicy": "Honor", "whenUnsatisfiable": "DoNotSchedule",
                      "labelSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    assert "tolerations" not in values


def test_tolerates_the_node_groups_taints():
    taints = [{"key": "dedicated", "value": "edge", "effect": "NoSchedule"}, {"key": "gpu", "effect": "NoExecute"}]
    assert cluster_dns_values(ZONES[:1], 1, taints)["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "edge", "effect": "NoSchedule"},
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute"}]


@pytest.mark.parametrize(("zones", "per_zone", "message"), [
    ([], 1, "non-empty list of distinct"),
    (ZONES[:1] * 2, 1, "distinct"),
    ("us-east-1-wl1-bos-wlz-1", 1, "zones must be a list of strings"),
    (ZONES, 0, "per_zone must be a whole number"),
    (ZONES, "2", "per_zone must be a whole number"),
])
def test_bad_inputs_are_named(zones, per_zone, message):
    with pytest.raises(AnsibleFilterError, match=message):
        cluster_dns_values(zones, per_zone)


def test_the_lab_scheduler_places_the_values_per_zone_and_keeps_a_replaced_zone_its_replicas():
    """The values as the lab's scheduler (lab/edgelab/nodes/dns.py, Kubernetes' spread rules) places them."""
    from edgelab.nodes import dns

    values = cluster_dns_values(ZONES, 2)
    nodes = [dns.NodeInfo(name=f"node-{z}", zone=z) for z in ZONES]

    def place(nodes, current, pending=None):
        return dns.place_replicas(values["replicaCount"], nodes, current, values["topologySpreadConstraints"],
                                  values.get("tolerations", []), pending=pending)

    placed = place(nodes, {})
    assert sorted(placed.values()) == sorted(n.name for n in nodes for _ in range(2))
    # the Boston node is replaced: its replicas wait for the new node instead of moving to the other zones for good
    pending = {}
    without = place(nodes[1:], placed, pending)
    assert len(without) == 4 and "node-us-east-1-wl1-bos-wlz-1" not in without.values() and len(pending) == 2
    back = place([dns.NodeInfo(name="node-bos-new", zone=ZONES[0]), *nodes[1:]], without)
    assert sorted(back.values()).count("node-bos-new") == 2
    # a node that has not placed its models (the pending taint, not tolerated) is no zone to balance against
    tainted = dns.NodeInfo(name="node-mia-2", zone=ZONES[2],
                           taints=[{"key": "edgeml.io/models-pending", "value": "true", "effect": "NoSchedule"}])
    assert "node-mia-2" not in place([*nodes, tainted], {}).values()

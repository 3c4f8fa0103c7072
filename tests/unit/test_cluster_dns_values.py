"""The coredns add-on values: replicas in every zone, tolerating the nodes' own taints only."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.cluster_dns_values import cluster_dns_values

ZONES = ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"]


def test_replicas_per_zone_spread_hard_on_the_zone_key():
    values = cluster_dns_values(ZONES, 2)
    assert values["replicaCount"] == 6
    (spread,) = values["topologySpreadConstraints"]
    assert spread == {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
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

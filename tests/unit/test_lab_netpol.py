"""The lab's NetworkPolicy ingress evaluation (lab/edgelab/nodes/netpol.py), as the VPC CNI enforces it at a node."""

import pytest
from edgelab.nodes.netpol import ANY, ingress_for, selects

LABELS = {"app.kubernetes.io/name": "bert", "edgeml.io/deployment": "edgeml"}


def policy(ingress, selector=None, namespace="edge", types=("Ingress",)):
    return {"metadata": {"name": "p", "namespace": namespace},
            "spec": {"podSelector": {"matchLabels": LABELS} if selector is None else selector,
                     "policyTypes": list(types), "ingress": ingress}}


PRODUCT = policy([  # the shape model_deploy renders: ipBlocks on the model port, probe pods by label
    {"from": [{"ipBlock": {"cidr": "127.0.2.0/24", "except": ["127.0.2.128/25"]}}],
     "ports": [{"protocol": "TCP", "port": 8080}]},
    {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "probe"}}}],
     "ports": [{"protocol": "TCP", "port": 8080}]}])


@pytest.mark.parametrize(("source", "admitted"), [
    ("127.0.2.10", True), ("127.0.2.200", False),  # except
    ("127.0.1.5", False), ("127.0.0.1", False), ("nonsense", False)])  # node, internet: no ipBlock; pod peers none
def test_ip_blocks_and_ports(source, admitted):
    assert ingress_for([PRODUCT], "edge", LABELS, 8080).admits(source) is admitted


def test_not_isolated_and_other_ports():
    assert ingress_for([PRODUCT], "other", LABELS, 8080) is ANY  # another namespace's policy
    assert ingress_for([PRODUCT], "edge", {"app": "x"}, 8080) is ANY  # not selected
    assert ingress_for([policy([], types=("Egress",))], "edge", LABELS, 8080) is ANY  # no Ingress type
    assert not ingress_for([PRODUCT], "edge", LABELS, 9090).admits("127.0.2.10")  # isolated, port not listed
    assert not ingress_for([policy([])], "edge", LABELS, 8080).admits("127.0.2.10")  # deny all
    assert ingress_for([policy([{}])], "edge", LABELS, 8080).admits("127.0.0.1")  # a rule without from: any
    named = policy([{"from": [{"ipBlock": {"cidr": "127.0.2.0/24"}}], "ports": [{"port": "http"}]}])
    assert ingress_for([named], "edge", LABELS, 0, "http").admits("127.0.2.1")
    ranged = policy([{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 8000, "endPort": 8100}]}])
    assert ingress_for([ranged], "edge", LABELS, 8080).admits("127.0.0.1")
    # Two policies: the union of what they admit.
    more = policy([{"from": [{"ipBlock": {"cidr": "127.0.1.0/24"}}]}])
    assert ingress_for([PRODUCT, more], "edge", LABELS, 8080).admits("127.0.1.5")


@pytest.mark.parametrize(("selector", "selected"), [
    ({}, True), (None, True), ({"matchLabels": {"app.kubernetes.io/name": "bert"}}, True),
    ({"matchLabels": {"app.kubernetes.io/name": "gpt"}}, False),
    ({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["bert", "x"]}]}, True),
    ({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["bert"]}]}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, True)])
def test_selectors(selector, selected):
    assert selects(selector, LABELS) is selected

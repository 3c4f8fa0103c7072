# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: probe_targets
author: edgeml team
version_added: 0.1.0
short_description: Every (node, model) pair to probe, with the model's NodePort
description:
  - Pairs every target node with every model, node by node, and gives each model its NodePort (its C(node_port),
    else O(default_node_port)) as an integer.
  - Each pair is a two-item list, C([target, model]), as C(product) would make it, so C(item.0) is the node and
    C(item.1) the model.
  - With O(pods), a node's own address is paired only with the models that have a Ready pod (not being deleted) on
    that node - with C(externalTrafficPolicy Local) no other node answers for a model (for example a node beyond
    C(replicas_per_zone), or one a roll just brought up). Stable addresses (C(stable) true) are paired with every
    model.
positional: _input, models, default_node_port
options:
  _input:
    description: Target nodes with C(carrier_ip), as P(edgeml.wavelength.carrier_targets#filter) returns them.
    type: list
    elements: dict
    required: true
  models:
    description: Models with C(name) and optionally C(node_port) (C(endpoint_check_models)).
    type: list
    elements: dict
    required: true
  default_node_port:
    description: NodePort of a model without C(node_port) (C(endpoint_check_default_node_port), from
      C(edge_default_node_port), its one source).
    type: int
    required: true
  pods:
    description: Pod resources of the deployment, as C(kubernetes.core.k8s_info) returns them; a pod's model is its
      C(app.kubernetes.io/name) label. Omitted - every node with every model.
    type: list
    elements: dict
"""

EXAMPLES = r"""
# => [[{"zone": "us-east-1-wl1-bos-wlz-1", "carrier_ip": "155.146.10.20", ...},
#      {"name": "sentiment", "node_port": 30007}]]
loop: "{{ targets | edgeml.wavelength.probe_targets(endpoint_check_models, endpoint_check_default_node_port) }}"
"""

RETURN = r"""
_value:
  description: The C([target, model]) pairs; every model has an integer C(node_port).
  type: list
  elements: list
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.pods import node_and_model, serving


def _port(value, what):
    try:
        if isinstance(value, bool):
            raise ValueError
        port = int(value)
    except (TypeError, ValueError) as e:
        raise AnsibleFilterError(f"probe_targets: {what} must be a port number, got {value!r}") from e
    if not 0 < port < 65536:
        raise AnsibleFilterError(f"probe_targets: {what} must be a port number, got {value!r}")
    return port


def _serving(pods):
    """{(node name, model name)} of the Ready pods that are not being deleted."""
    list_of(pods, Mapping, "probe_targets", "pods")
    return {node_and_model(pod) for pod in pods if serving(pod)}


def probe_targets(targets, models, default_node_port, pods=None):
    """[[target, model with node_port]] for every target and model (a node: only the models it serves)."""
    list_of(targets, Mapping, "probe_targets", "the input (targets)")
    list_of(models, Mapping, "probe_targets", "models")
    serving = None if pods is None else _serving(pods)
    default = _port(default_node_port, "default_node_port")
    resolved = []
    for model in models:
        if not isinstance(model.get("name"), str):
            raise AnsibleFilterError(f"probe_targets: every model needs a name, got {model!r}")
        port = default if model.get("node_port") is None else _port(model["node_port"], f"{model['name']}'s node_port")
        resolved.append({**model, "node_port": port})
    return [[target, model] for target in targets for model in resolved
            if serving is None or target.get("stable") or (target.get("node_name"), model["name"]) in serving]


class FilterModule:
    """Probe targets."""

    def filters(self):
        return {"probe_targets": probe_targets}

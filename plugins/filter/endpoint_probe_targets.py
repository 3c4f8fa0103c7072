# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: endpoint_probe_targets
author: edgeml team
version_added: 0.1.0
short_description: The targets of one endpoint_probe run, from the (target, model) pairs to probe
description:
  - Turns each C([target, model]) pair of P(edgeml.wavelength.probe_targets#filter) into an entry of the
    C(targets) option of C(edgeml.wavelength.endpoint_probe), so that one module run probes every pair.
  - Each entry has the invocation URL C(http://<carrier_ip>:<node_port>/invocations), a C(label) naming the zone,
    the node (or C(stable) for a zone's stable address), the address and the model, the model's own C(samples)
    when it has some (the others get the module's C(samples)), and C(data) with the C(target) and the C(model)
    (C(name), C(node_port)), which the module returns unchanged in its C(results) for
    P(edgeml.wavelength.endpoint_report#filter).
options:
  _input:
    description: The C([target, model]) pairs; targets carry C(zone) and C(carrier_ip), models C(name) and C(node_port).
    type: list
    elements: list
    required: true
"""

EXAMPLES = r"""
# => [{"url": "http://155.146.10.20:30007/invocations", "label": "us-east-1-wl1-bos-wlz-1 n-1 155.146.10.20:30007 m1",
#      "data": {"target": {"zone": "us-east-1-wl1-bos-wlz-1", ...}, "model": {"name": "m1", "node_port": 30007}}}]
targets: "{{ nodes | edgeml.wavelength.probe_targets(models, 30007) | edgeml.wavelength.endpoint_probe_targets }}"
"""

RETURN = r"""
_value:
  description: C({url, label, data, samples}) per pair, in the order of the pairs (C(samples) only for a model with
    its own).
  type: list
  elements: dict
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


def _pair(pair):
    if isinstance(pair, (str, Mapping)) or not isinstance(pair, Sequence) or len(pair) != 2 or not all(
            isinstance(x, Mapping) for x in pair):
        raise AnsibleFilterError(f"endpoint_probe_targets: the input must be [target, model] pairs, got {pair!r:.200}")
    target, model = pair
    missing = [k for k, where in (("zone", target), ("carrier_ip", target), ("name", model), ("node_port", model))
               if not where.get(k)]
    if missing:
        raise AnsibleFilterError(f"endpoint_probe_targets: a pair lacks {', '.join(missing)}: {list(pair)!r:.200}")
    return target, model


def endpoint_probe_targets(pairs):
    """An endpoint_probe target per [target, model] pair."""
    if isinstance(pairs, (str, Mapping)) or not isinstance(pairs, Sequence):
        raise AnsibleFilterError(f"endpoint_probe_targets: the input must be [target, model] pairs, got {pairs!r:.200}")
    targets = []
    for target, model in map(_pair, pairs):
        where = f"{target['carrier_ip']}:{model['node_port']}"
        node = "stable" if target.get("stable") else target.get("node_name", "")
        entry = {"url": f"http://{where}/invocations", "label": f"{target['zone']} {node} {where} {model['name']}",
                 "data": {"target": dict(target), "model": {"name": model["name"], "node_port": model["node_port"]}}}
        if model.get("samples"):
            entry["samples"] = model["samples"]
        targets.append(entry)
    return targets


class FilterModule:
    """Targets of endpoint_probe."""

    def filters(self):
        return {"endpoint_probe_targets": endpoint_probe_targets}

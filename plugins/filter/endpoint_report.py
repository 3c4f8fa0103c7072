# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: endpoint_report
author: edgeml team
version_added: 0.1.0
short_description: The endpoints report of endpoint_check from its probe results
description:
  - Input is the C(results) of the C(edgeml.wavelength.endpoint_probe) task that probed every target in one run,
    each with C(data) C({target, model}) (P(edgeml.wavelength.endpoint_probe_targets#filter)), or results with an
    C(item) C([target, model]) instead (a task looped over P(edgeml.wavelength.probe_targets#filter), and
    P(edgeml.wavelength.cluster_probe_results#filter)). A target with C(stable=true) is a zone's stable carrier
    address, any other target is one node's own carrier IP.
  - Returns C({zones, endpoints}) where C(zones) has one entry per zone and model at the stable address (the
    addresses clients use), C(endpoints) one per node and model.
positional: _input, probed_from
options:
  _input:
    description: C(results) of the probe task (or of P(edgeml.wavelength.cluster_probe_results#filter)).
    type: list
    elements: dict
    required: true
  probed_from:
    description: Where the requests came from (for example C(host lab-device (127.0.2.10))).
    type: str
    required: true
"""

EXAMPLES = r"""
report: "{{ probes.results | edgeml.wavelength.endpoint_report('controller') }}"
"""

RETURN = r"""
_value:
  description: C({zones, endpoints}).
  type: dict
  contains:
    zones:
      description: One entry per zone and model at the zone's stable address.
      type: list
      elements: dict
      contains:
        zone: {description: Zone name., type: str}
        model: {description: Model name., type: str}
        address: {description: The stable carrier address., type: str}
        port: {description: The model's node port., type: int}
        probed_from: {description: Where the requests came from., type: str}
        p50_ms: {description: Median latency., type: float}
        p99_ms: {description: 99th percentile latency., type: float}
        requests: {description: Timed requests., type: int}
        checks_passed: {description: Whether every sample passed., type: bool}
        checks: {description: The samples with what the model answered., type: list, elements: dict}
    endpoints:
      description: One entry per node and model at the node's own carrier IP.
      type: list
      elements: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of


def _pair(probe):
    """[target, model] of a result: its data {target, model} (endpoint_probe's targets), else its item."""
    data = probe.get("data")
    if isinstance(data, Mapping) and "target" in data and "model" in data:
        return [data["target"], data["model"]]
    return probe.get("item")


def endpoint_report(results, probed_from):
    list_of(results, Mapping, "endpoint_report", "the input (probe results)")
    zones, endpoints = [], []
    for probe in results:
        pair = _pair(probe)
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or "latency_ms" not in probe:
            raise AnsibleFilterError(f"endpoint_report: each result needs item [target, model] (or data {{target, "
                                     f"model}}) and latency_ms, got {dict(probe)!r:.300}")
        target, model = pair
        common = {"zone": target["zone"], "model": model["name"], "port": int(model["node_port"]),
                  "probed_from": probed_from, "p50_ms": probe["latency_ms"]["p50"],
                  "p99_ms": probe["latency_ms"]["p99"], "requests": probe["latency_ms"]["count"],
                  "checks_passed": bool(probe["predictions_ok"]), "checks": probe["predictions"]}
        if target.get("stable"):
            zones.append({"address": target["carrier_ip"], **common})
        else:
            endpoints.append({"node_name": target["node_name"], "instance_id": target["instance_id"],
                              "carrier_ip": target["carrier_ip"], **common})
    return {"zones": zones, "endpoints": endpoints}


class FilterModule:
    """The endpoints report."""

    def filters(self):
        return {"endpoint_report": endpoint_report}

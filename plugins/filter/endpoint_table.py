# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: endpoint_table
author: edgeml team
version_added: 0.1.0
short_description: The endpoints table endpoint_check prints, from its report
description:
  - Input is the report of P(edgeml.wavelength.endpoint_report#filter). Returns text rows (a header, the zones'
    stable addresses (kind C(stable)), then every node's own carrier IP (kind C(node)), with latency and checks).
options:
  _input:
    description: C({zones, endpoints}).
    type: dict
    required: true
"""

EXAMPLES = r"""
table: "{{ report | edgeml.wavelength.endpoint_table }}"
"""

RETURN = r"""
_value:
  description: Text rows.
  type: list
  elements: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _ms(value):
    return "-" if value is None else f"{value:.1f}"  # no timing when the probe failed before timing


def endpoint_table(report):
    """Text rows: the zones' stable addresses first, then every node's own address."""
    if not isinstance(report, Mapping) or not all(isinstance(report.get(k), list) for k in ("zones", "endpoints")):
        raise AnsibleFilterError(f"endpoint_table: the input must be the endpoint_report dict, got {report!r:.200}")
    row = "%-26s %-6s %-15s %5s %-14s %8s %8s  %s"
    rows = [row % ("zone", "kind", "address", "port", "model", "p50 ms", "p99 ms", "checks")]
    for kind, entries, key in (("stable", report["zones"], "address"), ("node", report["endpoints"], "carrier_ip")):
        for e in entries:
            failed = [c for c in e["checks"] if not c.get("ok")]
            verdict = "ok" if e["checks_passed"] else "FAILED (" + "; ".join(
                f"got {c.get('predicted_label')}: {c.get('problem') or 'wrong label'}" for c in failed) + ")"
            rows.append(row % (e["zone"], kind, e[key], e["port"], e["model"], _ms(e["p50_ms"]), _ms(e["p99_ms"]),
                               verdict))
    return rows


class FilterModule:
    """The endpoints table."""

    def filters(self):
        return {"endpoint_table": endpoint_table}

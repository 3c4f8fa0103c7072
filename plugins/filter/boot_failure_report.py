# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: boot_failure_report
author: edgeml team
version_added: 0.1.0
short_description: Why nodes joined without their models, one line per node, from their console output
description:
  - Pairs the nodes C(edgeml.wavelength.node_boot_state) reports as C(failed) with their console output (the
    C(instances) of M(edgeml.wavelength.instance_console)) and says, per node, its name, instance, zone and the
    console lines that matched (else the console's last lines).
positional: _input, consoles, pending_taint
options:
  _input:
    description: The C(failed) list of C(edgeml.wavelength.node_boot_state).
    type: list
    elements: dict
    required: true
  consoles:
    description: The C(instances) of M(edgeml.wavelength.instance_console).
    type: list
    elements: dict
    required: true
  pending_taint:
    description: Key of the taint the nodes carry (named in the message).
    type: str
    default: edgeml.io/models-pending
"""

EXAMPLES = r"""
msg: "{{ boot.failed | edgeml.wavelength.boot_failure_report(console.instances) }}"
"""

RETURN = r"""
_value:
  description: One line per failed node.
  type: str
"""

from collections.abc import Mapping

from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.node_taints import PENDING_TAINT


def boot_failure_report(failed, consoles, pending_taint=PENDING_TAINT):
    """One line per failed node: node, instance, zone, and the console lines that say why (or the console's end)."""
    list_of(failed, Mapping, "boot_failure_report", "the input (failed nodes)")
    list_of(consoles, Mapping, "boot_failure_report", "consoles")
    by_id = {c.get("instance_id"): c for c in consoles}
    lines = []
    for node in failed:
        console = by_id.get(node.get("instance_id"), {})
        why = console.get("matches") or console.get("tail") or []
        reason = " | ".join(why) if why else console.get("error") or "no console output yet"
        lines.append(f"node {node.get('node_name')} (instance {node.get('instance_id')}, zone {node.get('zone')}) "
                     f"joined with the {pending_taint} taint, its models are not in place; console: {reason}")
    return "\n".join(lines)


class FilterModule:
    """Why nodes joined without their models."""

    def filters(self):
        return {"boot_failure_report": boot_failure_report}

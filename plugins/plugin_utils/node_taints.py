# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""The taint a node keeps until its user data has placed every model (edge_nodegroup), shared by the node filters."""

from collections.abc import Mapping

PENDING_TAINT = "edgeml.io/models-pending"


def has_taint(node, key: str) -> bool:
    """Whether a Node resource carries a taint with this key."""
    spec = node.get("spec") if isinstance(node, Mapping) else None
    taints = (spec.get("taints") if isinstance(spec, Mapping) else None) or []
    return any(isinstance(t, Mapping) and t.get("key") == key for t in taints)

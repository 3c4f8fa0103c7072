# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""One source for "this pod serves" and the label naming a pod's model (model_deploy sets it), shared by the filters
that place the stable addresses, choose the probe targets and keep nodes from retirement."""

from collections.abc import Mapping

MODEL_LABEL = "app.kubernetes.io/name"


def _get(obj, key):
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def serving(pod):
    """Whether a pod serves: its Ready condition is True and it is not being deleted (no deletionTimestamp)."""
    ready = any(isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
                for c in _get(pod, "status").get("conditions") or [])
    return ready and not _get(pod, "metadata").get("deletionTimestamp")


def node_and_model(pod):
    """(spec.nodeName, the model label) of a pod."""
    return _get(pod, "spec").get("nodeName"), (_get(pod, "metadata").get("labels") or {}).get(MODEL_LABEL)

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: rollouts_pending
author: edgeml team
version_added: 0.1.0
short_description: The rendered Deployments that are not rolled out yet, each with its status in words
description:
  - A Deployment is rolled out when it exists, its controller has seen its current spec (C(status.observedGeneration)
    equals C(metadata.generation)) and it has exactly the rendered number of replicas, all updated and available,
    none unavailable (no old replica left).
  - Returns one line per rendered Deployment that is not - its name, replicas, updated and available counts and its
    conditions' messages - so that a wait can loop until the list is empty and report it when it is not.
positional: _input, rendered
options:
  _input:
    description: The Deployments found in the cluster (for example C(results[0].resources) of
      M(edgeml.wavelength.k8s_objects)).
    type: list
    elements: dict
    required: true
  rendered:
    description: The rendered manifests (only those of kind C(Deployment) are looked at).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
until: found.results[0].resources | edgeml.wavelength.rollouts_pending(manifests) | length == 0
# => ["sentiment-bos (replicas 2, updated 1, available 1 of 1; ReplicaSet is progressing)"]
"""

RETURN = r"""
_value:
  description: One line per Deployment that is not rolled out; empty when all are.
  type: list
  elements: str
"""

from collections.abc import Mapping

from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of


def rolled_out(obj, replicas):
    status, metadata = obj.get("status") or {}, obj.get("metadata") or {}
    return (status.get("observedGeneration", -1) == metadata.get("generation", -1)
            and status.get("updatedReplicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("replicas", 0) == replicas
            and not status.get("unavailableReplicas", 0))


def rollouts_pending(found, rendered):
    list_of(found, Mapping, "rollouts_pending", "the input (found Deployments)")
    list_of(rendered, Mapping, "rollouts_pending", "rendered")
    by_name = {(o.get("metadata") or {}).get("name"): o for o in found}
    pending = []
    for manifest in rendered:
        if manifest.get("kind") != "Deployment":
            continue
        name, replicas = manifest["metadata"]["name"], (manifest.get("spec") or {}).get("replicas", 1)
        obj = by_name.get(name)
        if obj is not None and rolled_out(obj, replicas):
            continue
        status = (obj or {}).get("status") or {}
        conditions = " / ".join(c.get("message", "") for c in status.get("conditions") or [] if c.get("message"))
        pending.append(f"{name} (" + ("not found" if obj is None else
                       f"replicas {status.get('replicas', 0)}, updated {status.get('updatedReplicas', 0)}, available "
                       f"{status.get('availableReplicas', 0)} of {replicas}; {conditions or 'no conditions'}") + ")")
    return pending


class FilterModule:
    """Rollout status of the rendered Deployments."""

    def filters(self):
        return {"rollouts_pending": rollouts_pending}

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: stale_objects
author: edgeml team
version_added: 0.1.0
short_description: Kubernetes objects found that the current manifests no longer render
description:
  - Returns the objects of the input whose kind, namespace and name match none of O(rendered). An object without
    a namespace matches a manifest without one.
positional: _input, rendered
options:
  _input:
    description: Objects found on the cluster, for example the flattened C(resources) of C(kubernetes.core.k8s_info).
    type: list
    elements: dict
    required: true
  rendered:
    description: The manifests rendered now.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
# The Deployments, Services and NetworkPolicies of removed models or zones
stale: "{{ found.results | map(attribute='resources') | flatten | edgeml.wavelength.stale_objects(manifests) }}"
"""

RETURN = r"""
_value:
  description: The stale objects, as found, in the order of the input.
  type: list
  elements: dict
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


def _keys(objects, what):
    if isinstance(objects, str) or not isinstance(objects, Sequence):
        raise AnsibleFilterError(f"stale_objects: {what} must be a list of Kubernetes objects, got {objects!r}")
    keys = []
    for obj in objects:
        metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
        if not isinstance(metadata, Mapping) or not isinstance(obj.get("kind"), str) or not metadata.get("name"):
            raise AnsibleFilterError(f"stale_objects: every object of {what} needs kind and metadata.name, got {obj!r}")
        keys.append((obj["kind"], metadata.get("namespace") or "", metadata["name"]))
    return keys


def stale_objects(found, rendered):
    """The found objects that no rendered manifest names (by kind, namespace and name)."""
    wanted = set(_keys(rendered, "rendered"))
    return [obj for obj, key in zip(found, _keys(found, "the input (found objects)"), strict=True) if key not in wanted]


class FilterModule:
    """Objects to prune."""

    def filters(self):
        return {"stale_objects": stale_objects}

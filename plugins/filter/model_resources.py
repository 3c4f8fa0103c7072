# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: model_resources
author: edgeml team
version_added: 0.1.0
short_description: A model container's resources, raised to what the JumpStart catalog says the model needs
description:
  - Returns the C(resources) of the O(_input) model entry when it has them (the user's word wins).
  - Otherwise starts from O(defaults) (model_deploy_resources) and raises them to the catalog's hosting resource
    requirements recorded in the export (C(resource_requirements), as the SageMaker SDK reads them, the instance type's
    variant applied) - C(min_memory_mb) raises the memory request, C(max_memory_mb) the memory limit,
    C(num_cpus) the CPU request, C(num_accelerators) sets C(nvidia.com/gpu) (request equal to limit).
  - A limit is never left below its request. Values the catalog does not give stay as in O(defaults); nothing is
    lowered, and keys other than C(requests) and C(limits) are kept (the manifest validation names a wrong one).
positional: _input, export, defaults
options:
  _input:
    description: The model entry (edge_models item).
    type: dict
    required: true
  export:
    description: The model's export (jumpstart_export result, or the deployment record's entry).
    type: dict
    required: true
  defaults:
    description: Container resources for models without their own (C(requests), C(limits)).
    type: dict
    required: true
"""

EXAMPLES = r"""
resources: "{{ model | edgeml.wavelength.model_resources(export, model_deploy_resources) }}"
"""

RETURN = r"""
_value:
  description: Kubernetes container resources (C(requests), C(limits)).
  type: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.quantity import quantity

GPU = "nvidia.com/gpu"


def _raise(resources, key, wanted):
    """Set resources[key] to wanted when it is absent or smaller."""
    have = quantity(resources.get(key))
    if have is None or quantity(wanted) > have:
        resources[key] = wanted


def model_resources(model, export, defaults):
    for value, what in ((model, "the model entry"), (export, "the export"), (defaults, "defaults")):
        if not isinstance(value, Mapping):
            raise AnsibleFilterError(f"model_resources: {what} must be a mapping, not {type(value).__name__}")
    if model.get("resources") is not None:
        return model["resources"]
    hints = export.get("resource_requirements") or {}
    requests, limits = dict(defaults.get("requests") or {}), dict(defaults.get("limits") or {})
    if hints.get("min_memory_mb"):
        _raise(requests, "memory", f"{int(hints['min_memory_mb'])}Mi")
    if hints.get("max_memory_mb"):
        _raise(limits, "memory", f"{int(hints['max_memory_mb'])}Mi")
    if hints.get("num_cpus"):
        _raise(requests, "cpu", str(int(hints["num_cpus"])))
    if hints.get("num_accelerators"):
        requests[GPU] = limits[GPU] = int(hints["num_accelerators"])
    for key in ("cpu", "memory"):
        if key in requests and key in limits:
            _raise(limits, key, requests[key])
    # Other keys pass through as they are: the manifest validation names a mistake there.
    return {**defaults, **{k: v for k, v in (("requests", requests), ("limits", limits)) if v}}


class FilterModule:
    def filters(self):
        return {"model_resources": model_resources}

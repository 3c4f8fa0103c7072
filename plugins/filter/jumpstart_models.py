# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: jumpstart_models
author: edgeml team
version_added: 0.1.0
short_description: The jumpstart_export entries (option models) of a model list
description:
  - Turns the models of C(edge_models) into the entries of the O(edgeml.wavelength.jumpstart_export#module:models)
    option, so that one module run resolves them all - the JumpStart keys of each model only (C(model_id),
    C(model_version), C(instance_type), C(accept_eula), C(allow_deprecated), C(inference_config)); the model's other
    keys (name, node port, replicas, samples) are not the module's business.
positional: _input
options:
  _input:
    description: The model list; every entry needs C(model_id).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
# [{"name": "sentiment", "model_id": "huggingface-tc-bert", "node_port": 30007}]
# => [{"model_id": "huggingface-tc-bert"}]
models: "{{ model_artifacts_models | edgeml.wavelength.jumpstart_models }}"
"""

RETURN = r"""
_value:
  description: One dict per model, in order.
  type: list
  elements: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

KEYS = ("model_id", "model_version", "instance_type", "accept_eula", "allow_deprecated", "inference_config")


def jumpstart_models(models):
    """[{model_id, ...}] with only the JumpStart keys each model sets."""
    if not isinstance(models, list) or not all(isinstance(m, Mapping) and m.get("model_id") for m in models):
        raise AnsibleFilterError(f"jumpstart_models: the input must be a list of models with a model_id, "
                                 f"got {models!r}")
    return [{key: model[key] for key in KEYS if model.get(key) is not None} for model in models]


class FilterModule:
    def filters(self):
        return {"jumpstart_models": jumpstart_models}

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: export_models
author: edgeml team
version_added: 0.1.0
short_description: The models the nodes fetch, from what model_artifacts exported
description:
  - Turns C(model_artifacts_exports) (model name to its export) into the list of models the edge nodes download and
    verify (C(edge_nodegroup_models)) - name, S3 URI and sha256 of the artifact, in the order of the exports.
  - Each additional model data source of an export follows its model as C(<model>.<channel>) (the nodes place it
    beside the model, the Deployment mounts it read-only where SageMaker does).
positional: _input, planned
options:
  _input:
    description:
      - Model name to a dict with at least C(artifact_s3_uri) and C(artifact_sha256) (C(model_artifacts_exports)).
    type: dict
    required: true
  planned:
    description:
      - Accept exports whose artifact is not copied yet (C(artifact_sha256) null, as the export module plans them in
        check mode) and give them a placeholder sha256 of zeros. For check mode only.
    type: bool
    default: false
"""

EXAMPLES = r"""
# => [{"name": "sentiment", "artifact_s3_uri": "s3://bucket/models/sentiment/model.tar.gz",
#      "artifact_sha256": "9f86d08..."}]
edge_nodegroup_models: "{{ model_artifacts_exports | default({}) | edgeml.wavelength.export_models }}"
"""

RETURN = r"""
_value:
  description: One dict per model.
  type: list
  elements: dict
  contains:
    name: {description: Model name., type: str}
    artifact_s3_uri: {description: S3 URI of the model artifact., type: str}
    artifact_sha256: {description: SHA-256 of the model artifact., type: str}
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

KEYS = ("artifact_s3_uri", "artifact_sha256")


PLANNED_SHA256 = "0" * 64


def export_models(exports, planned=False):
    """[{name, artifact_s3_uri, artifact_sha256}] of model_artifacts_exports."""
    if not isinstance(exports, Mapping):
        raise AnsibleFilterError(f"export_models: the input must be a dict of model name to export, got {exports!r}")
    models = []
    for name, export in exports.items():
        if planned and isinstance(export, Mapping) and export.get("artifact_sha256") is None:
            export = {**export, "artifact_sha256": PLANNED_SHA256}
        if not isinstance(export, Mapping) or not all(isinstance(export.get(key), str) for key in KEYS):
            raise AnsibleFilterError(f"export_models: the export of {name} needs artifact_s3_uri and artifact_sha256 "
                                     f"strings, got {export!r}")
        models.append({"name": name, **{key: export[key] for key in KEYS}})
        # Additional model data sources: placed beside the model as <name>.<channel> (model_pod_spec mounts them).
        for source in export.get("additional_data_sources") or []:
            if planned and source.get("artifact_sha256") is None:
                source = {**source, "artifact_sha256": PLANNED_SHA256}
            if not all(isinstance(source.get(key), str) for key in (*KEYS, "channel_name")):
                raise AnsibleFilterError(f"export_models: an additional data source of {name} needs channel_name, "
                                         f"artifact_s3_uri and artifact_sha256 strings, got {source!r}")
            models.append({"name": f"{name}.{source['channel_name']}", **{key: source[key] for key in KEYS}})
    return models


class FilterModule:
    """Models to fetch on the nodes."""

    def filters(self):
        return {"export_models": export_models}

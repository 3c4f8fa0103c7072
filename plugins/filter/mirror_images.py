# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: mirror_images
author: edgeml team
version_added: 0.1.0
short_description: The images option of edgeml.wavelength.image_mirror, from the models, their exports and repositories
description:
  - One entry per model, in the order of the input - C(name), C(source) (the export's C(image_uri)), C(version) (the
    export's C(model_version)) and C(repository_uri) (the repository C(<prefix>/<model name>) in O(repositories),
    empty when it does not exist yet, as in check mode on a new deployment).
positional: _input, exports, repositories, prefix
options:
  _input:
    description: The models (each with C(name)).
    type: list
    elements: dict
    required: true
  exports:
    description: Model name -> JumpStart export (C(image_uri), C(model_version)).
    type: dict
    required: true
  repositories:
    description:
      - The C(repositories) that C(edgeml.wavelength.ecr_repositories) returned (each with C(name) and C(uri), the
        C(uri) empty for a repository not created yet).
    type: list
    elements: dict
    required: true
  prefix:
    description: The repository name prefix; the repository of model C(m) is C(<prefix>/m).
    type: str
    required: true
"""

EXAMPLES = r"""
images: "{{ edge_models | edgeml.wavelength.mirror_images(exports, repositories.repositories, 'edgeml') }}"
# => [{"name": "sentiment", "source": "763104351884.dkr.ecr.us-east-1.amazonaws.com/hf-inference:2.1.0",
#      "version": "2.2.3", "repository_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/edgeml/sentiment"}]
"""

RETURN = r"""
_value:
  description: The images to mirror.
  type: list
  elements: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of


def mirror_images(models, exports, repositories, prefix):
    list_of(models, Mapping, "mirror_images", "the input (models)")
    list_of(repositories, Mapping, "mirror_images", "repositories")
    if not isinstance(prefix, str) or not prefix:
        raise AnsibleFilterError(f"mirror_images: prefix must be the repository name prefix, got {prefix!r:.100}")
    uris = {repo.get("name"): repo.get("uri") or "" for repo in repositories}
    images = []
    for model in models:
        export = exports.get(model["name"]) if isinstance(exports, Mapping) else None
        if not isinstance(export, Mapping) or not export.get("image_uri") or not export.get("model_version"):
            raise AnsibleFilterError(f"mirror_images: model {model['name']} has no export with image_uri and "
                                     "model_version: run the artifacts stage first")
        images.append({"name": model["name"], "source": export["image_uri"], "version": str(export["model_version"]),
                       "repository_uri": uris.get(f"{prefix}/{model['name']}", "")})
    return images


class FilterModule:
    """The images of the image stage."""

    def filters(self):
        return {"mirror_images": mirror_images}

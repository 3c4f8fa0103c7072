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
    export's C(model_version)) and C(repository_uri) (the repository of the same model in O(repositories), empty when
    it does not exist yet, as in check mode on a new deployment).
positional: _input, exports, repositories
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
      - The C(results) of the C(community.aws.ecs_ecr) task looped over the same models (each with C(item.name) and,
        once it exists, C(repository.repositoryUri)).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
images: "{{ edge_models | edgeml.wavelength.mirror_images(exports, repositories.results) }}"
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


def mirror_images(models, exports, repositories):
    list_of(models, Mapping, "mirror_images", "the input (models)")
    list_of(repositories, Mapping, "mirror_images", "repositories")
    uris = {}
    for result in repositories:
        name = (result.get("item") or {}).get("name")
        uris[name] = (result.get("repository") or {}).get("repositoryUri") or ""
    images = []
    for model in models:
        export = exports.get(model["name"]) if isinstance(exports, Mapping) else None
        if not isinstance(export, Mapping) or not export.get("image_uri") or not export.get("model_version"):
            raise AnsibleFilterError(f"mirror_images: model {model['name']} has no export with image_uri and "
                                     "model_version: run the artifacts stage first")
        images.append({"name": model["name"], "source": export["image_uri"], "version": str(export["model_version"]),
                       "repository_uri": uris.get(model["name"], "")})
    return images


class FilterModule:
    """The images of the image stage."""

    def filters(self):
        return {"mirror_images": mirror_images}

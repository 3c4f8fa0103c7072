#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: k8s_validate
version_added: 0.1.0
short_description: Validate Kubernetes manifests offline against the schemas of a Kubernetes version
description:
  - Checks every manifest against the OpenAPI-derived JSON schemas of the given Kubernetes minor version,
    shipped by the Python package C(kubernetes-validate). No cluster and no network are used.
  - In strict mode (default) unknown fields are errors, so a typo such as C(readinesProbe) is caught
    before anything is applied.
  - Every manifest is checked; the module fails listing each invalid one (kind/namespace/name, field path
    and schema message). C(kubernetes-validate) reports the first error of each document.
  - Never changes anything; safe in check mode.
author:
  - edgeml team
requirements:
  - kubernetes-validate
options:
  manifests:
    description: Kubernetes objects (dicts with apiVersion, kind, metadata) to validate.
    type: list
    elements: dict
    required: true
  kubernetes_version:
    description:
      - Kubernetes version of the target cluster, C(major.minor) or C(major.minor.patch).
      - The newest bundled schema not newer than this version is used.
    type: str
    required: true
  strict:
    description: Reject fields that the schema does not define.
    type: bool
    default: true
  allow_unknown_kinds:
    description:
      - Accept kinds without a bundled schema (custom resources) instead of failing on them.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Validate the rendered manifests for the cluster version
  edgeml.wavelength.k8s_validate:
    manifests: "{{ rendered_manifests }}"
    kubernetes_version: "1.33"
"""

RETURN = r"""
validated:
  description: Identifiers (kind/namespace/name) of the manifests that passed.
  returned: always
  type: list
  elements: str
  sample: [Deployment/edgeml/sentiment-us-east-1-wl1-bos-wlz-1]
errors:
  description: One entry per invalid manifest.
  returned: always
  type: list
  elements: dict
  contains:
    manifest: {description: kind/namespace/name of the manifest., type: str}
    path: {description: Dotted path of the offending field (empty for the document root)., type: str}
    message: {description: Schema error message., type: str}
schema_version:
  description: Kubernetes minor version whose schemas were used.
  returned: success
  type: str
  sample: "1.33"
"""

import functools
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from kubernetes_validate import utils as kv

    # validate() re-reads the (large) definitions file for every document: read each schema file once.
    kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)
except ImportError:
    KV_IMPORT_ERROR = traceback.format_exc()
else:
    KV_IMPORT_ERROR = None


def manifest_id(doc):
    meta = doc.get("metadata") or {}
    parts = [str(doc.get("kind", "?")), meta.get("namespace"), str(meta.get("name", "?"))]
    return "/".join(p for p in parts if p)


def check(doc, version, strict, allow_unknown):
    """Return (schema_version, error dict or None) for one manifest."""
    if not doc.get("apiVersion") or not doc.get("kind"):
        return None, {"path": "", "message": "apiVersion and kind are required"}
    try:
        return kv.validate(doc, version, strict=strict), None
    except kv.ValidationError as e:
        return e.version, {"path": ".".join(str(p) for p in e.path), "message": e.message}
    except kv.SchemaNotFoundError as e:
        if allow_unknown:
            return None, None
        return None, {"path": "", "message": e.message}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            manifests=dict(type="list", elements="dict", required=True),
            kubernetes_version=dict(type="str", required=True),
            strict=dict(type="bool", default=True),
            allow_unknown_kinds=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if KV_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("kubernetes-validate"), exception=KV_IMPORT_ERROR)

    version = module.params["kubernetes_version"]
    try:
        schema_version = kv.validate({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}, version)
    except kv.VersionNotSupportedError:
        module.fail_json(
            msg=f"kubernetes-validate {kv.__version__} has no schemas for Kubernetes {version} "
            f"(bundled: {', '.join(kv.all_versions())})"
        )

    validated, errors = [], []
    for doc in module.params["manifests"]:
        _, error = check(doc, version, module.params["strict"], module.params["allow_unknown_kinds"])
        if error:
            errors.append({"manifest": manifest_id(doc), **error})
        else:
            validated.append(manifest_id(doc))

    result = dict(changed=False, validated=validated, errors=errors, schema_version=schema_version)
    if errors:
        lines = [f"{e['manifest']}: {e['path'] or '<root>'}: {e['message']}" for e in errors]
        module.fail_json(
            msg=f"{len(errors)} manifest(s) invalid for Kubernetes {schema_version}: " + "; ".join(lines), **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: image_mirror
short_description: Mirror container images into Amazon ECR by digest, with skopeo
version_added: 0.1.0
description:
  - For each image, resolves the digest of its source reference, looks for that digest in its ECR repository and
    copies the image there (C(skopeo copy --all --preserve-digests), daemonless) only when it is missing, under the
    tag C(<version>-<first 12 hex digits of the digest>) (repositories with immutable tags accept a new tag only).
  - Registry logins come from one ECR C(GetAuthorizationToken) call per region, for the source registries that are ECR
    registries (AWS-hosted JumpStart images) and the destination repositories. They live only in a C(0600)
    containers auth file in a private temporary directory that is removed before the module returns; they are never
    part of the result. Source registries that are not ECR are read anonymously and never get the token.
  - Check mode resolves and looks up the same way and reports the copies a real run makes as changes.
  - One task instead of a login, an auth file and a command per image and step - a no-change run costs one module
    start.
author:
  - edgeml team
requirements:
  - skopeo on the control node (bindep.txt)
options:
  images:
    description: The images to mirror.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the image (the model's name); the key of RV(images).
        type: str
        required: true
      source:
        description: Source image reference, by tag or digest (the JumpStart export's C(image_uri)).
        type: str
        required: true
      repository_uri:
        description:
          - URI of the destination ECR repository. Empty when the repository does not exist yet (check mode on a new
            deployment); the image then counts as missing.
        type: str
        default: ""
      version:
        description: First part of the destination tag (the model version).
        type: str
        required: true
  skopeo:
    description: The skopeo executable.
    type: str
    default: skopeo
  source_tls_verify:
    description: Verify the TLS certificates of the source registries.
    type: bool
    default: true
  registry_tls_verify:
    description: Verify the TLS certificates of the ECR registries.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Mirror the inference image of each model into its ECR repository
  edgeml.wavelength.image_mirror:
    images:
      - name: sentiment
        source: 763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.1.0-cpu-py310
        repository_uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/edgeml/sentiment
        version: 2.2.3
  register: mirrored
"""

RETURN = r"""
images:
  description: Image name -> C(<repository_uri>@<digest>), the reference the Deployments pull (empty repository URI in
    check mode when the repository does not exist yet).
  returned: always
  type: dict
  sample: {"sentiment": "123456789012.dkr.ecr.us-east-1.amazonaws.com/edgeml/sentiment@sha256:0f1e..."}
mirror:
  description: One entry per image - C(name), C(source) (by digest), C(digest), C(repository_uri), C(tag), and
    C(copied) (copied by this run, or would be in check mode).
  returned: always
  type: list
  elements: dict
"""

import json
import os
import re
import shutil
import tempfile

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.edgeml.wavelength.plugins.module_utils.ecr_auth import logins

# What skopeo prints when the repository or the manifest does not exist: "not there yet", not an error.
MISSING = re.compile(r"manifest unknown|name unknown|not found|NAME_UNKNOWN|MANIFEST_UNKNOWN")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def by_digest(source, digest):
    """The source reference with its tag or digest replaced by digest."""
    return re.sub(r"(@sha256:[0-9a-f]+|:[^:/@]+)$", "", source) + "@" + digest


def destination_tag(version, digest):
    return f"{version}-{digest.split(':')[-1][:12]}"


class Skopeo:
    def __init__(self, module, authfile):
        self.module, self.authfile = module, authfile
        self.executable = module.get_bin_path(module.params["skopeo"], required=True)

    def run(self, *args):
        return self.module.run_command([self.executable, *args[:1], "--authfile", self.authfile, *args[1:]])

    def source_digest(self, name, source, tls_verify):
        rc, out, err = self.run("inspect", "--no-tags", f"--tls-verify={str(tls_verify).lower()}", f"docker://{source}")
        digest = json.loads(out).get("Digest", "") if rc == 0 else ""
        if not DIGEST.match(digest):
            self.module.fail_json(msg=f"cannot resolve the digest of {name}'s image {source}: {err.strip() or out[:200]}")
        return digest

    def present(self, name, reference, tls_verify):
        rc, _out, err = self.run("inspect", "--raw", f"--tls-verify={str(tls_verify).lower()}", f"docker://{reference}")
        if rc != 0 and not MISSING.search(err):
            self.module.fail_json(msg=f"cannot look for {name}'s image {reference} in ECR: {err.strip()}")
        return rc == 0

    def copy(self, entry, source_tls_verify, dest_tls_verify):
        dest = f"{entry['repository_uri']}:{entry['tag']}"
        rc, _out, err = self.run("copy", "--all", "--preserve-digests", "--retry-times=3",
                                 f"--src-tls-verify={str(source_tls_verify).lower()}",
                                 f"--dest-tls-verify={str(dest_tls_verify).lower()}",
                                 f"docker://{entry['source']}", f"docker://{dest}")
        if rc != 0:
            self.module.fail_json(msg=f"cannot copy {entry['name']}'s image {entry['source']} to {dest}: {err.strip()}")


def write_authfile(directory, auths):
    path = os.path.join(directory, "auth.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"auths": auths}, f)
    return path


def mirror(module, skopeo):
    p = module.params
    plan = []
    for image in p["images"]:
        digest = skopeo.source_digest(image["name"], image["source"], p["source_tls_verify"])
        entry = dict(name=image["name"], source=by_digest(image["source"], digest), digest=digest,
                     repository_uri=image["repository_uri"], tag=destination_tag(image["version"], digest))
        entry["copied"] = not (entry["repository_uri"] and skopeo.present(
            image["name"], f"{entry['repository_uri']}@{digest}", p["registry_tls_verify"]))
        if entry["copied"] and not module.check_mode:
            skopeo.copy(entry, p["source_tls_verify"], p["registry_tls_verify"])
        plan.append(entry)
    return plan


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            images=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                source=dict(type="str", required=True),
                repository_uri=dict(type="str", default=""),
                version=dict(type="str", required=True),
            )),
            skopeo=dict(type="str", default="skopeo"),
            source_tls_verify=dict(type="bool", default=True),
            registry_tls_verify=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    images = module.params["images"]
    references = [i["source"] for i in images] + [i["repository_uri"] for i in images if i["repository_uri"]]
    _registries, auths, _skipped = logins(module, references, skip_others=True)
    directory = tempfile.mkdtemp(prefix="edgeml-image-mirror-")  # mode 0700
    try:
        plan = mirror(module, Skopeo(module, write_authfile(directory, auths)))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result = {e["name"]: f"{e['repository_uri']}@{e['digest']}" for e in plan}
    copies = [e for e in plan if e["copied"]]
    module.exit_json(changed=bool(copies), images=result, mirror=plan,
                     diff=dict(before={e["name"]: "missing" if e["copied"] else "present" for e in plan},
                               after={e["name"]: "present" for e in plan}))


if __name__ == "__main__":
    main()

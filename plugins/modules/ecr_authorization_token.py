#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: ecr_authorization_token
short_description: Get registry credentials for Amazon ECR registries
version_added: 0.1.0
description:
  - Calls ECR C(GetAuthorizationToken) and returns the credentials in the forms registry clients
    use (user/password, and a containers C(auth.json) C(auths) mapping), so that images can be
    copied without the AWS CLI or a Docker daemon.
  - C(GetAuthorizationToken) is called without C(registryIds) (deprecated by ECR) - the token it returns works for
    every ECR registry of its region that the caller may access. The login entries are named from the registry
    hosts of the images (O(registries)), one token per region.
  - Read-only, never reports a change. The result holds secrets, so register it on a task with C(no_log).
author:
  - edgeml.wavelength contributors
options:
  registries:
    description:
      - Registries to name the login entries after, as registry hosts (C(<account>.dkr.ecr.<region>.amazonaws.com))
        or as image references, whose registry host is used (for example the JumpStart image
        C(763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.1.0) or a repository URI).
      - An ECR host gets the token of the region in its name (one C(GetAuthorizationToken) call per region). The host
        of the caller's own registry as ECR reports it (C(proxyEndpoint), for example the lab's registry behind
        O(endpoint_url)) gets the token of O(region).
      - Any other host is not an ECR registry and never gets the token; see O(other_registries).
      - Empty means the caller's own registry in O(region).
    type: list
    elements: str
    default: []
  other_registries:
    description:
      - What to do with O(registries) that are not ECR registries (for example a public registry that is read
        anonymously) - V(fail) the module, or V(skip) them (listed in RV(skipped)).
    type: str
    choices: [fail, skip]
    default: fail
  registry_ids:
    description:
      - Deprecated, use O(registries). ECR deprecated the C(registryIds) parameter of C(GetAuthorizationToken), as
        the token works for every registry the caller may access.
      - Names login entries for these AWS account ids in O(region), C(<id>.dkr.ecr.<region>.<partition DNS suffix>);
        the ids are not sent to ECR.
    type: list
    elements: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Login entries for the source image (JumpStart registry) and the own repository, one token
  edgeml.wavelength.ecr_authorization_token:
    registries:
      - 763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.1.0-transformers4.37.0-cpu-py310-ubuntu22.04
      - 123456789012.dkr.ecr.us-east-1.amazonaws.com/edgeml/sentiment
  register: ecr_auth
  no_log: true

- name: Write a containers auth file with them
  ansible.builtin.copy:
    dest: "{{ auth_dir }}/auth.json"
    mode: "0600"
    content: "{{ {'auths': ecr_auth.auths} | to_json }}"
  no_log: true

- name: Images of several registries, public ones read anonymously (no entry, never the token)
  edgeml.wavelength.ecr_authorization_token:
    registries: "{{ images }}"
    other_registries: skip
  register: ecr_auth
  no_log: true
"""

RETURN = r"""
registries:
  description:
    - One entry per registry host, with keys C(registry) (host as used in image references, no scheme),
      C(username) (always C(AWS)), C(password) (secret) and C(expires_at) (ISO 8601).
  returned: always
  type: list
  elements: dict
auths:
  description: Mapping of registry host to its auth entry, the C(auths) of a containers-auth.json or docker config.json file (secret).
  returned: always
  type: dict
skipped:
  description: Hosts of O(registries) that are not ECR registries and got no entry (O(other_registries=skip)).
  returned: always
  type: list
  elements: str
  sample: ["public.ecr.aws", "docker.io"]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.edgeml.wavelength.plugins.module_utils.ecr_auth import logins, partition_dns_suffix


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            registries=dict(type="list", elements="str", default=[]),
            other_registries=dict(type="str", choices=["fail", "skip"], default="fail"),
            registry_ids=dict(type="list", elements="str", removed_in_version="1.0.0",
                              removed_from_collection="edgeml.wavelength"),
        ),
        supports_check_mode=True,
    )
    p, region = module.params, module.region
    references = list(p["registries"])
    references += [f"{i}.dkr.ecr.{region}.{partition_dns_suffix(region)}" for i in p["registry_ids"] or []]
    registries, auths, skipped = logins(module, references, p["other_registries"] == "skip")
    module.exit_json(changed=False, registries=registries, auths=auths, skipped=skipped)


if __name__ == "__main__":
    main()

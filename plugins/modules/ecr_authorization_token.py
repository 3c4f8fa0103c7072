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

import base64
import re

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# <account>.dkr.ecr.<region>.amazonaws.com, also FIPS (dkr.ecr-fips), dual-stack (dkr-ecr...on.aws) and the other
# partitions' DNS suffixes.
ECR_HOST = re.compile(r"^\d{12}\.dkr[.-]ecr(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|amazonaws\.eu|on\.aws"
                      r"|c2s\.ic\.gov|sc2s\.sgov\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$")


def registry_host(reference):
    """Registry host of a registry host, an image reference or a proxy endpoint URL (as container tools read it:
    the first path component when it has a dot or a port or is localhost, else Docker Hub)."""
    ref = reference.strip().split("://", 1)[-1].rstrip("/")
    first, slash, _rest = ref.partition("/")
    if slash and not ("." in first or ":" in first or first == "localhost"):
        return "docker.io"
    return first.lower()


def ecr_region(host):
    """The region of an ECR registry host, None for any other host."""
    match = ECR_HOST.match(host)
    return match.group(1) if match else None


def partition_dns_suffix(region):
    """amazonaws.com, amazonaws.com.cn, c2s.ic.gov, ... for region (botocore's partition data)."""
    import botocore.loaders

    partitions = botocore.loaders.create_loader().load_data("endpoints")["partitions"]
    for partition in partitions:
        if region in partition.get("regions", {}):
            return partition["dnsSuffix"]
    for partition in partitions:
        if re.match(partition.get("regionRegex") or "$^", region):
            return partition["dnsSuffix"]
    return "amazonaws.com"


def plan(hosts, own_host, region, skip_others):
    """({host: token region}, [skipped hosts], error or None) for the requested hosts, in their order."""
    named, skipped = {}, []
    for host in hosts:
        token_region = ecr_region(host) or (region if host == own_host else None)
        if token_region:
            named.setdefault(host, token_region)
        elif skip_others:
            if host not in skipped:
                skipped.append(host)
        else:
            return {}, [], (f"{host} is not an Amazon ECR registry (nor this endpoint's registry {own_host}): the ECR "
                            "token is only handed to ECR registries; set other_registries=skip to leave it out")
    return named, skipped, None


def get_token(module, region):
    """The authorizationData item of GetAuthorizationToken in region (no registryIds: deprecated)."""
    ecr = module.client("ecr", region=region, retry_decorator=AWSRetry.jittered_backoff())
    try:
        data = ecr.get_authorization_token(aws_retry=True)["authorizationData"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"cannot get an ECR authorization token in region {region}")
    if not data:
        module.fail_json(msg=f"ECR returned no authorization data in region {region}")
    return data[0]


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
    hosts = [registry_host(r) for r in p["registries"]]
    hosts += [f"{i}.dkr.ecr.{region}.{partition_dns_suffix(region)}" for i in p["registry_ids"] or []]
    tokens, own_host = {}, None
    if not hosts or any(ecr_region(h) is None for h in hosts):  # the own registry's host is needed
        tokens[region] = get_token(module, region)
        own_host = registry_host(tokens[region]["proxyEndpoint"])
    named, skipped, error = plan(hosts or [own_host], own_host, region, p["other_registries"] == "skip")
    if error:
        module.fail_json(msg=error)
    for token_region in named.values():
        if token_region not in tokens:
            tokens[token_region] = get_token(module, token_region)
    registries, auths = [], {}
    for host, token_region in named.items():
        item = tokens[token_region]
        username, _, password = base64.b64decode(item["authorizationToken"]).decode().partition(":")
        registries.append(dict(registry=host, username=username, password=password,
                               expires_at=item["expiresAt"].isoformat()))
        auths[host] = {"auth": item["authorizationToken"]}
    module.exit_json(changed=False, registries=registries, auths=auths, skipped=skipped)


if __name__ == "__main__":
    main()

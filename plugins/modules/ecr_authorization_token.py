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
  - Read-only, never reports a change. The result holds secrets, so register it on a task with C(no_log).
author:
  - edgeml.wavelength contributors
options:
  registry_ids:
    description:
      - AWS account ids of the registries, for example V(763104351884) for the SageMaker and JumpStart
        deep learning containers. Defaults to the caller's own registry.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Credentials for the own registry and the JumpStart image registry
  edgeml.wavelength.ecr_authorization_token:
    registry_ids: ["123456789012", "763104351884"]
  register: ecr_auth
  no_log: true
"""

RETURN = r"""
registries:
  description:
    - One entry per registry, with keys C(registry) (host as used in image references, no scheme),
      C(username) (always C(AWS)), C(password) (secret) and C(expires_at) (ISO 8601).
  returned: always
  type: list
  elements: dict
auths:
  description: Mapping of registry host to its auth entry, the C(auths) of a containers-auth.json or docker config.json file (secret).
  returned: always
  type: dict
"""

import base64

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(registry_ids=dict(type="list", elements="str", default=[])),
        supports_check_mode=True,
    )
    ecr = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    kwargs = {"registryIds": module.params["registry_ids"]} if module.params["registry_ids"] else {}
    try:
        data = ecr.get_authorization_token(aws_retry=True, **kwargs)["authorizationData"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="cannot get an ECR authorization token")
    registries, auths = [], {}
    for item in data:
        username, _, password = base64.b64decode(item["authorizationToken"]).decode().partition(":")
        host = item["proxyEndpoint"].split("://", 1)[-1].rstrip("/")
        registries.append(dict(registry=host, username=username, password=password,
                               expires_at=item["expiresAt"].isoformat()))
        auths[host] = {"auth": item["authorizationToken"]}
    module.exit_json(changed=False, registries=registries, auths=auths)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: eks_kubeconfig
version_added: 0.1.0
short_description: Connection data and a bearer token for an Amazon EKS cluster, without the AWS CLI
description:
  - Returns the API server endpoint, the cluster CA, a bearer token and a kubeconfig dictionary that
    M(kubernetes.core.k8s) and M(kubernetes.core.k8s_info) take as O(kubernetes.core.k8s#module:kubeconfig).
  - The token is made the way C(aws eks get-token) makes it, in Python, from a presigned STS C(GetCallerIdentity) URL
    signed with the C(x-k8s-aws-id) header, base64url encoded and prefixed with C(k8s-aws-v1.). It is valid for
    15 minutes. Set C(no_log) on the task, since the token is a credential.
  - Never changes anything.
author:
  - edgeml team
options:
  cluster_name:
    description: Cluster name.
    type: str
    required: true
  user_name:
    description: User and context name in the kubeconfig.
    type: str
    default: eks
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Connection data for the cluster
  edgeml.wavelength.eks_kubeconfig:
    cluster_name: edgeml
  register: kube
  no_log: true

- name: Use it
  kubernetes.core.k8s_info:
    kind: Node
    kubeconfig: "{{ kube.kubeconfig }}"
"""

RETURN = r"""
host:
  description: API server endpoint.
  returned: always
  type: str
  sample: https://0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com
certificate_authority_data:
  description: Base64 PEM of the cluster CA.
  returned: always
  type: str
token:
  description: Bearer token (a credential).
  returned: always
  type: str
expiration:
  description: UTC time after which the token is refused.
  returned: always
  type: str
kubeconfig:
  description: A kubeconfig with one cluster, user and context; the user carries the token.
  returned: always
  type: dict
"""

import base64
import datetime

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 (a format prefix, not a secret)
URL_TTL = 60  # seconds the presigned URL claims; EKS accepts the token for 15 minutes regardless


def get_token(sts, cluster_name):
    """Presigned GetCallerIdentity URL with the cluster name as signed header x-k8s-aws-id."""

    def add_header(request, **kwargs):
        request.headers["x-k8s-aws-id"] = cluster_name

    sts.meta.events.register_first("before-sign.sts.GetCallerIdentity", add_header)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=URL_TTL, HttpMethod="GET")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            user_name=dict(type="str", default="eks"),
        ),
        supports_check_mode=True,
    )
    name, user = module.params["cluster_name"], module.params["user_name"]
    eks = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    # STS regional endpoint (as aws eks get-token uses), or the endpoint_url override.
    sts = module.client("sts")
    try:
        cluster = eks.describe_cluster(name=name, aws_retry=True)["cluster"]
        token = get_token(sts, name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to get connection data for EKS cluster {name}")
    if cluster.get("status") != "ACTIVE" or not cluster.get("endpoint"):
        module.fail_json(msg=f"EKS cluster {name} is {cluster.get('status')}, not ACTIVE")
    host = cluster["endpoint"]
    ca = (cluster.get("certificateAuthority") or {}).get("data") or ""
    expiration = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster_entry = {"server": host}
    if ca and host.startswith("https://"):
        cluster_entry["certificate-authority-data"] = ca
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
        "clusters": [{"name": name, "cluster": cluster_entry}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
    }
    module.exit_json(changed=False, host=host, certificate_authority_data=ca, token=token, expiration=expiration,
                     kubeconfig=kubeconfig)


if __name__ == "__main__":
    main()

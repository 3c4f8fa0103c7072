#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: eks_kubeconfig
version_added: 0.1.0
short_description: Connection data, a bearer token and a self-renewing kubeconfig for an Amazon EKS cluster
description:
  - Returns the API server endpoint, the cluster CA, a bearer token and a kubeconfig dictionary that
    M(kubernetes.core.k8s) and M(kubernetes.core.k8s_info) take as O(kubernetes.core.k8s#module:kubeconfig).
  - The token is made the way C(aws eks get-token) makes it, in Python, from a presigned STS C(GetCallerIdentity) URL
    signed with the C(x-k8s-aws-id) header, base64url encoded and prefixed with C(k8s-aws-v1.). EKS accepts it for
    15 minutes after signing; RV(expiration) is the signing time + 14 minutes. Set C(no_log) on the task, since the
    token is a credential.
  - With O(path) or O(tempdir) the module also writes a kubeconfig file whose user is an exec credential plugin
    (C(client.authentication.k8s.io/v1beta1)) instead of a static token, so that clients using the file
    (M(kubernetes.core.k8s) with O(kubernetes.core.k8s#module:kubeconfig) set to RV(path), kubectl, helm) get a fresh
    token whenever theirs runs out, however long the play runs. The plugin is a copy of the collection's
    C(eks_token) module_utils, written next to the kubeconfig as C(eks-token.py) and run with the Python
    interpreter of this module (it needs botocore only). It keeps its token in C(eks-token.cache.json) in the same
    directory and mints a new one when less than a minute is left.
  - The cluster must be C(ACTIVE) and have an https endpoint and a certificate authority; otherwise the module
    fails with a message naming the cluster and what is wrong (for a missing cluster C(error.code) is
    C(ResourceNotFoundException)).
  - Changes nothing in AWS. The kubeconfig file is scratch data for the caller, not managed state, so RV(changed)
    is always C(false); the module runs the same way in check mode (including writing the file) so that later
    read-only steps work in check mode too.
author:
  - edgeml team
options:
  cluster_name:
    description: Cluster name.
    type: str
    required: true
  user_name:
    description: User name in the kubeconfig (the cluster and context are named after the cluster).
    type: str
    default: eks
  path:
    description:
      - Write a kubeconfig file with an exec credential plugin user to this path (replaced if it exists).
      - The plugin C(eks-token.py) and its token cache C(eks-token.cache.json) are written to the same directory,
        which is created with mode C(0700) when missing. The kubeconfig is written with mode C(0600).
      - When the module was given O(access_key), O(secret_key) and O(session_token) as parameters (directly or
        through C(module_defaults)) they are written into the file as the plugin's C(env). The file then holds
        credentials (it is only readable by its owner); remove it (or the whole RV(directory)) when done.
        A O(profile) parameter is passed to the plugin as C(--profile) (a name, not a secret), which then takes its
        credentials from that profile even when the client that runs it has access keys in its environment.
        Credentials the module took from its environment are not written; the plugin then uses the environment
        of the client that runs it.
      - Mutually exclusive with O(tempdir).
    type: path
  tempdir:
    description:
      - Write the kubeconfig file as with O(path), as C(config) in a new private temporary directory
        (C(edgeml-kube-*), mode C(0700)). Remove RV(directory) when done, for example with M(ansible.builtin.file)
        C(state=absent) in an C(always) section.
      - Mutually exclusive with O(path).
    type: bool
    default: false
  return_token:
    description:
      - Return a static token (RV(token), RV(expiration), RV(kubeconfig)). Turn it off when only the kubeconfig file
        is used, so that no credential sits in the registered result (shown with C(-v)).
    type: bool
    default: true
notes:
  - The exec plugin runs C(python eks-token.py --cluster-name NAME --region REGION [--endpoint-url URL]
    [--profile NAME] --cache DIR/eks-token.cache.json) and prints an C(ExecCredential). It takes credentials from its
    C(env) entries and the standard botocore chain of its environment, or from the profile given.
  - The kubeconfig file is JSON (which is YAML, so every Kubernetes client reads it).
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

- name: Use it (the token in the dictionary is valid for about 14 minutes)
  kubernetes.core.k8s_info:
    kind: Node
    kubeconfig: "{{ kube.kubeconfig }}"

- name: Long-running work with a kubeconfig that renews its own token
  block:
    - name: Kubeconfig file with an exec credential plugin
      edgeml.wavelength.eks_kubeconfig:
        cluster_name: edgeml
        tempdir: true
      register: kube_file
      no_log: true

    - name: Nodes, however late in the play
      kubernetes.core.k8s_info:
        kind: Node
        kubeconfig: "{{ kube_file.path }}"
  always:
    - name: Remove the kubeconfig, the plugin and its token cache
      ansible.builtin.file:
        path: "{{ kube_file.directory }}"
        state: absent
      when: kube_file.directory is defined
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
  returned: unless O(return_token=false)
  type: str
expiration:
  description: UTC time (RFC 3339) after which the token should no longer be used (signing time + 14 minutes).
  returned: unless O(return_token=false)
  type: str
  sample: "2025-01-01T12:14:00Z"
cluster:
  description: The cluster as EKS describes it (a few fields).
  returned: always
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
    arn:
      description: Cluster ARN.
      type: str
    status:
      description: Cluster status (always C(ACTIVE) on success).
      type: str
    version:
      description: Kubernetes version.
      type: str
      sample: "1.33"
    endpoint:
      description: API server endpoint.
      type: str
    service_ipv4_cidr:
      description: Service CIDR (C(kubernetesNetworkConfig.serviceIpv4Cidr)).
      type: str
      sample: 10.100.0.0/16
    certificate_authority_data:
      description: Base64 PEM of the cluster CA.
      type: str
kubeconfig:
  description:
    - A kubeconfig with one cluster (server and C(certificate-authority-data)), user and context; the user carries
      the static RV(token).
  returned: unless O(return_token=false)
  type: dict
path:
  description: The kubeconfig file written, whose user is the exec credential plugin.
  returned: when O(path) is set or O(tempdir=true)
  type: str
  sample: /tmp/edgeml-kube-k2j4x9/config
directory:
  description: Directory of RV(path), holding also C(eks-token.py) and C(eks-token.cache.json).
  returned: when O(path) is set or O(tempdir=true)
  type: str
  sample: /tmp/edgeml-kube-k2j4x9
"""

import inspect
import json
import os
import pkgutil
import sys
import tempfile

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.basic import _load_params
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.edgeml.wavelength.plugins.module_utils.eks_token import (
    API_VERSION,
    get_token,
    rfc3339,
)

MODULE_UTILS = "ansible_collections.edgeml.wavelength.plugins.module_utils"
SCRIPT = "eks-token.py"  # the exec plugin, next to the kubeconfig
CACHE = "eks-token.cache.json"  # its token cache
CONFIG = "config"  # the kubeconfig file name in a tempdir
# Credentials written into the exec env only when given as module parameters: (parameter, variable).
CREDENTIAL_ENV = (("access_key", "AWS_ACCESS_KEY_ID"), ("secret_key", "AWS_SECRET_ACCESS_KEY"),
                  ("session_token", "AWS_SESSION_TOKEN"))


def token_script():
    """Source of module_utils/eks_token.py: from the package data (also inside the AnsiballZ zip), else from the
    imported module."""
    try:
        data = pkgutil.get_data(MODULE_UTILS, "eks_token.py")
    except (OSError, ValueError, ImportError):
        data = None
    return data or inspect.getsource(sys.modules[get_token.__module__]).encode()


def explicit_params(module):
    """Options the task set (directly, by an alias or through module_defaults), not filled from the environment."""
    given = set(_load_params())
    spec = module.argument_spec
    return {name for name, opt in spec.items() if given & {name, *(opt.get("aliases") or ())}}


def write_private(path, data, mode):
    """Replace path atomically with data (bytes) at the given mode."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def exec_kubeconfig(module, name, user, host, ca, directory):
    """Kubeconfig whose user runs the token script in directory."""
    p = module.params
    args = [os.path.join(directory, SCRIPT), "--cluster-name", name, "--region", module.region]
    if p["endpoint_url"]:
        args += ["--endpoint-url", p["endpoint_url"]]
    explicit = explicit_params(module)
    # A profile goes in as an argument, not as AWS_PROFILE: botocore lets access keys of the environment (the
    # client's, which the plugin inherits) win over AWS_PROFILE, but not over a profile it is given explicitly.
    if "profile" in explicit and p["profile"]:
        args += ["--profile", p["profile"]]
    args += ["--cache", os.path.join(directory, CACHE)]
    env = [{"name": var, "value": p[param]} for param, var in CREDENTIAL_ENV if param in explicit and p[param]]
    exec_config = {"apiVersion": API_VERSION, "command": sys.executable, "args": args, "interactiveMode": "Never",
                   "provideClusterInfo": False}
    if env:
        exec_config["env"] = env
    return kubeconfig_dict(name, user, host, ca, {"exec": exec_config})


def kubeconfig_dict(name, user, host, ca, credentials):
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": host, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
    }


def write_kubeconfig(module, name, user, host, ca):
    """Write the exec kubeconfig, the token script and clear a stale cache; (path, directory)."""
    if module.params["tempdir"]:
        directory = tempfile.mkdtemp(prefix="edgeml-kube-")  # mode 0700
        path = os.path.join(directory, CONFIG)
    else:
        path = os.path.abspath(module.params["path"])
        directory = os.path.dirname(path)
        if os.path.isdir(path):
            module.fail_json(msg=f"path {path} is a directory; give the path of the kubeconfig file to write")
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700)
            os.chmod(directory, 0o700)
    write_private(os.path.join(directory, SCRIPT), token_script(), 0o700)
    config = exec_kubeconfig(module, name, user, host, ca, directory)
    write_private(path, (json.dumps(config, indent=2) + "\n").encode(), 0o600)
    cache = os.path.join(directory, CACHE)
    if os.path.lexists(cache):
        os.unlink(cache)  # a token of an earlier run, possibly for other credentials
    return path, directory


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            user_name=dict(type="str", default="eks"),
            path=dict(type="path"),
            tempdir=dict(type="bool", default=False),
            return_token=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("path", "tempdir")],
        supports_check_mode=True,  # read-only in AWS; the scratch kubeconfig is written in check mode too
    )
    name, user, region = module.params["cluster_name"], module.params["user_name"], module.region
    eks = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    try:
        cluster = eks.describe_cluster(name=name, aws_retry=True)["cluster"]
    except is_boto3_error_code("ResourceNotFoundException") as e:
        module.fail_json_aws(e, msg=f"EKS cluster {name} does not exist in region {region}")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to describe EKS cluster {name}")

    status, host = cluster.get("status"), cluster.get("endpoint") or ""
    ca = (cluster.get("certificateAuthority") or {}).get("data") or ""
    if status != "ACTIVE":
        module.fail_json(msg=f"EKS cluster {name} is {status}, not ACTIVE")
    if not host.startswith("https://"):
        module.fail_json(msg=f"EKS cluster {name} has no https API endpoint (endpoint: {host or 'none'})")
    if not ca:
        module.fail_json(msg=f"EKS cluster {name} reports no certificate authority data (certificateAuthority.data)")

    result = dict(
        changed=False, host=host, certificate_authority_data=ca,
        cluster={"name": cluster.get("name"), "arn": cluster.get("arn"), "status": status,
                 "version": cluster.get("version"), "endpoint": host,
                 "service_ipv4_cidr": (cluster.get("kubernetesNetworkConfig") or {}).get("serviceIpv4Cidr"),
                 "certificate_authority_data": ca},
    )
    if module.params["return_token"]:
        # STS regional endpoint (as aws eks get-token uses), or the endpoint_url override. Presigning sends nothing.
        sts = module.client("sts")
        try:
            token, expires = get_token(sts, name)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to make a token for EKS cluster {name}")
        result.update(token=token, expiration=rfc3339(expires),
                      kubeconfig=kubeconfig_dict(name, user, host, ca, {"token": token}))
    if module.params["path"] or module.params["tempdir"]:
        try:
            result["path"], result["directory"] = write_kubeconfig(module, name, user, host, ca)
        except OSError as e:
            module.fail_json(msg=f"Cannot write the kubeconfig for EKS cluster {name}: {e}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()

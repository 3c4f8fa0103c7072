#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: eks_addon
version_added: 0.1.0
short_description: Manage an Amazon EKS add-on (version and configuration values)
description:
  - Creates, updates and deletes an EKS add-on, for example C(vpc-cni) with C(enableNetworkPolicy) set to the
    string V(true) in its configuration values, so that the cluster enforces NetworkPolicies.
  - Idempotent on what is asked - the version when O(version) is given, and the configuration values, compared as
    data (JSON or YAML, key order and formatting do not matter). An add-on that is being created or updated is
    waited for before it is changed.
  - EKS checks the configuration values against the add-on version's schema; a refusal is reported with EKS's
    message, which names the key.
author:
  - edgeml team
options:
  cluster_name:
    description: Cluster name.
    type: str
    required: true
  name:
    description: Add-on name, for example V(vpc-cni), V(coredns), V(kube-proxy).
    type: str
    required: true
  state:
    description: Whether the add-on exists.
    type: str
    choices: [present, absent]
    default: present
  version:
    description:
      - Add-on version, for example C(v1.20.4-eksbuild.1). Omitted - a new add-on gets the default version for the
        cluster's Kubernetes version and an existing one keeps its version.
    type: str
  configuration_values:
    description: Configuration values (a dict, sent as JSON). Omitted - not managed; V({}) - none.
    type: dict
  resolve_conflicts:
    description: How EKS resolves fields the add-on's objects had from another manager (a self-managed add-on).
    type: str
    choices: [OVERWRITE, NONE, PRESERVE]
    default: OVERWRITE
  preserve:
    description: On delete, keep the add-on's objects in the cluster (only the management by EKS ends).
    type: bool
    default: false
  wait:
    description: Wait until the add-on is C(ACTIVE) (or gone, for V(absent)); a failed or degraded add-on fails.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 900
  tags:
    description: Tags of a new add-on.
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Enforce NetworkPolicies (the VPC CNI's network policy agent)
  edgeml.wavelength.eks_addon:
    cluster_name: edgeml
    name: vpc-cni
    configuration_values:
      enableNetworkPolicy: "true"
"""

RETURN = r"""
addon:
  description: The add-on as EKS describes it (empty after a delete).
  returned: always
  type: dict
  sample: {addonName: vpc-cni, addonVersion: v1.20.4-eksbuild.1, status: ACTIVE,
           configurationValues: '{"enableNetworkPolicy":"true"}'}
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.edgeml.wavelength.plugins.module_utils.eks_addons import (
    RESOLVE_CONFLICTS,
    AddonError,
    converge_addon,
)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            version=dict(type="str"),
            configuration_values=dict(type="dict"),
            resolve_conflicts=dict(type="str", choices=RESOLVE_CONFLICTS, default="OVERWRITE"),
            preserve=dict(type="bool", default=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=900),
            tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    cluster, name = p["cluster_name"], p["name"]
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    try:
        result = converge_addon(client, cluster, p, module.check_mode, wait=p["wait"], timeout=p["wait_timeout"])
    except AddonError as e:
        module.fail_json(msg=str(e), **({"addon": e.addon} if e.addon is not None else {}))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage add-on {name} of cluster {cluster}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()

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

import json
import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

import yaml
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

BUSY = ("CREATING", "UPDATING", "DELETING")
BROKEN = ("CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED")  # DEGRADED can recover (e.g. once nodes exist): waited on
POLL = (0.5, 10.0)  # first and longest pause between polls (doubling)


def parse_values(text: str | None) -> dict:
    """configurationValues as data ('' or absent: none)."""
    if not text:
        return {}
    value = yaml.safe_load(text)  # JSON is YAML
    return value if isinstance(value, dict) else {}


def describe(client, cluster: str, name: str) -> dict | None:
    try:
        return client.describe_addon(clusterName=cluster, addonName=name, aws_retry=True)["addon"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None


def health_issues(addon: dict | None) -> str:
    return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in ((addon or {}).get("health") or {}).get("issues", []))


def wait_for(module, client, cluster: str, name: str, gone: bool = False) -> dict | None:
    deadline = time.monotonic() + module.params["wait_timeout"]
    pause = POLL[0]
    while True:
        addon = describe(client, cluster, name)
        status = (addon or {}).get("status")
        if (gone and addon is None) or (not gone and status == "ACTIVE"):
            return addon
        if status in BROKEN:
            module.fail_json(msg=f"add-on {name} of cluster {cluster} is {status}: {health_issues(addon) or 'no detail'}",
                             addon=addon)
        if addon is None and not gone:
            module.fail_json(msg=f"add-on {name} of cluster {cluster} disappeared while waiting for it")
        if time.monotonic() >= deadline:
            issues = health_issues(addon)
            module.fail_json(msg=f"add-on {name} of cluster {cluster} is still {status} after "
                                 f"{module.params['wait_timeout']} s (wait_timeout){': ' if issues else ''}{issues}",
                             addon=addon)
        time.sleep(pause)
        pause = min(pause * 2, POLL[1])


def wanted_changes(addon: dict, params: dict) -> dict:
    """UpdateAddon arguments for what differs (empty: nothing to do)."""
    changes = {}
    if params["version"] and params["version"] != addon.get("addonVersion"):
        changes["addonVersion"] = params["version"]
    values = params["configuration_values"]
    if values is not None and values != parse_values(addon.get("configurationValues")):
        # "{}" (not ""): valid for every add-on's schema, and means its defaults.
        changes["configurationValues"] = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return changes


def state(addon: dict | None) -> dict:
    if not addon:
        return {}
    return {"version": addon.get("addonVersion"), "configuration_values": parse_values(addon.get("configurationValues"))}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            version=dict(type="str"),
            configuration_values=dict(type="dict"),
            resolve_conflicts=dict(type="str", choices=["OVERWRITE", "NONE", "PRESERVE"], default="OVERWRITE"),
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
        addon = describe(client, cluster, name)
        if addon and addon.get("status") in BUSY and p["wait"] and not module.check_mode:
            addon = wait_for(module, client, cluster, name, gone=addon["status"] == "DELETING")
        if addon and addon.get("status") == "DELETING" and module.check_mode:
            addon = None  # gone by the time a real run would wait for it
        if addon and addon.get("status") == "DELETING" and p["state"] == "present":
            module.fail_json(msg=f"add-on {name} of cluster {cluster} is being deleted; wait (wait=true) or run again "
                                 "once it is gone")
        before = state(addon)
        if p["state"] == "absent":
            if not addon:
                module.exit_json(changed=False, addon={})
            if not module.check_mode:
                client.delete_addon(clusterName=cluster, addonName=name, preserve=p["preserve"], aws_retry=True)
                if p["wait"]:
                    wait_for(module, client, cluster, name, gone=True)
            module.exit_json(changed=True, addon={}, diff={"before": before, "after": {}})

        if not addon:
            after = {"version": p["version"] or "(default)", "configuration_values": p["configuration_values"] or {}}
            if not module.check_mode:
                args = {"clusterName": cluster, "addonName": name, "resolveConflicts": p["resolve_conflicts"]}
                if p["version"]:
                    args["addonVersion"] = p["version"]
                if p["configuration_values"]:
                    args["configurationValues"] = json.dumps(p["configuration_values"], sort_keys=True,
                                                             separators=(",", ":"))
                if p["tags"]:
                    args["tags"] = p["tags"]
                addon = client.create_addon(**args, aws_retry=True)["addon"]
                if p["wait"]:
                    addon = wait_for(module, client, cluster, name)
            module.exit_json(changed=True, addon=addon or {}, diff={"before": {}, "after": after})

        changes = wanted_changes(addon, p)
        if not changes:
            module.exit_json(changed=False, addon=addon)
        after = {**before, **({"version": changes["addonVersion"]} if "addonVersion" in changes else {}),
                 **({"configuration_values": p["configuration_values"]} if "configurationValues" in changes else {})}
        if not module.check_mode:
            client.update_addon(clusterName=cluster, addonName=name, resolveConflicts=p["resolve_conflicts"],
                                **changes, aws_retry=True)
            addon = wait_for(module, client, cluster, name) if p["wait"] else describe(client, cluster, name)
        module.exit_json(changed=True, addon=addon, diff={"before": before, "after": after})
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage add-on {name} of cluster {cluster}")


if __name__ == "__main__":
    main()

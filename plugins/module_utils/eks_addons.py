# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

"""The converge of one EKS add-on (version and configuration values), shared by the modules eks_addon and
eks_cluster (its addons option)."""

import json
import time

import yaml
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

BUSY = ("CREATING", "UPDATING", "DELETING")
BROKEN = ("CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED")  # DEGRADED can recover (e.g. once nodes exist): waited on
POLL = (0.5, 10.0)  # first and longest pause between polls (doubling)
RESOLVE_CONFLICTS = ["OVERWRITE", "NONE", "PRESERVE"]


class AddonError(Exception):
    """An add-on that failed, disappeared, timed out or cannot be changed now (addon: its description, if any)."""

    def __init__(self, msg, addon=None):
        super().__init__(msg)
        self.addon = addon


def parse_values(text: str | None) -> dict:
    """configurationValues as data ('' or absent: none)."""
    if not text:
        return {}
    value = yaml.safe_load(text)  # JSON is YAML
    return value if isinstance(value, dict) else {}


def to_json(values: dict) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def describe(client, cluster: str, name: str) -> dict | None:
    try:
        return client.describe_addon(clusterName=cluster, addonName=name, aws_retry=True)["addon"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None


def health_issues(addon: dict | None) -> str:
    issues = ((addon or {}).get("health") or {}).get("issues", [])
    return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues)


def wait_for(client, cluster: str, name: str, timeout: int, gone: bool = False) -> dict | None:
    """Poll until the add-on is ACTIVE (or gone); AddonError when it fails, disappears or the timeout passes."""
    deadline = time.monotonic() + timeout
    pause = POLL[0]
    while True:
        addon = describe(client, cluster, name)
        status = (addon or {}).get("status")
        if (gone and addon is None) or (not gone and status == "ACTIVE"):
            return addon
        if status in BROKEN:
            raise AddonError(f"add-on {name} of cluster {cluster} is {status}: {health_issues(addon) or 'no detail'}",
                             addon)
        if addon is None and not gone:
            raise AddonError(f"add-on {name} of cluster {cluster} disappeared while waiting for it")
        if time.monotonic() >= deadline:
            issues = health_issues(addon)
            raise AddonError(f"add-on {name} of cluster {cluster} is still {status} after {timeout} s (wait_timeout)"
                             f"{': ' if issues else ''}{issues}", addon)
        time.sleep(pause)
        pause = min(pause * 2, POLL[1])


def wanted_changes(addon: dict, params: dict) -> dict:
    """UpdateAddon arguments for what differs (empty: nothing to do)."""
    changes = {}
    if params.get("version") and params["version"] != addon.get("addonVersion"):
        changes["addonVersion"] = params["version"]
    values = params.get("configuration_values")
    if values is not None and values != parse_values(addon.get("configurationValues")):
        # "{}" (not ""): valid for every add-on's schema, and means its defaults.
        changes["configurationValues"] = to_json(values)
    return changes


def state(addon: dict | None) -> dict:
    if not addon:
        return {}
    return {"version": addon.get("addonVersion"),
            "configuration_values": parse_values(addon.get("configurationValues"))}


def converge_addon(client, cluster, spec, check_mode, wait=True, timeout=900, planned=False):
    """Make one add-on as `spec` asks: dict(name, state (present), version, configuration_values, resolve_conflicts
    (OVERWRITE), preserve (false), tags). planned: the cluster does not exist yet (check mode), so nothing is read
    and the add-on would be created. Returns dict(changed, addon (as EKS describes it; {} when absent or planned),
    diff (only when changed)). Writes and waits only outside check mode. Raises AddonError, botocore errors."""
    name = spec["name"]
    present = spec.get("state", "present") == "present"
    version, values = spec.get("version"), spec.get("configuration_values")
    resolve_conflicts = spec.get("resolve_conflicts") or "OVERWRITE"
    addon = None if planned else describe(client, cluster, name)
    if addon and addon.get("status") in BUSY and wait and not check_mode:
        addon = wait_for(client, cluster, name, timeout, gone=addon["status"] == "DELETING")
    if addon and addon.get("status") == "DELETING" and check_mode:
        addon = None  # gone by the time a real run would wait for it
    if addon and addon.get("status") == "DELETING" and present:
        raise AddonError(f"add-on {name} of cluster {cluster} is being deleted; wait (wait=true) or run again once it "
                         "is gone", addon)
    before = state(addon)
    if not present:
        if not addon:
            return dict(changed=False, addon={})
        if not check_mode:
            client.delete_addon(clusterName=cluster, addonName=name, preserve=bool(spec.get("preserve")),
                                aws_retry=True)
            if wait:
                wait_for(client, cluster, name, timeout, gone=True)
        return dict(changed=True, addon={}, diff={"before": before, "after": {}})

    if not addon:
        after = {"version": version or "(default)", "configuration_values": values or {}}
        if not check_mode:
            args = {"clusterName": cluster, "addonName": name, "resolveConflicts": resolve_conflicts}
            if version:
                args["addonVersion"] = version
            if values:
                args["configurationValues"] = to_json(values)
            if spec.get("tags"):
                args["tags"] = spec["tags"]
            addon = client.create_addon(**args, aws_retry=True)["addon"]
            if wait:
                addon = wait_for(client, cluster, name, timeout)
        return dict(changed=True, addon=addon or {}, diff={"before": {}, "after": after})

    changes = wanted_changes(addon, {"version": version, "configuration_values": values})
    if not changes:
        return dict(changed=False, addon=addon)
    after = {**before, **({"version": changes["addonVersion"]} if "addonVersion" in changes else {}),
             **({"configuration_values": values} if "configurationValues" in changes else {})}
    if not check_mode:
        client.update_addon(clusterName=cluster, addonName=name, resolveConflicts=resolve_conflicts, **changes,
                            aws_retry=True)
        addon = wait_for(client, cluster, name, timeout) if wait else describe(client, cluster, name)
    return dict(changed=True, addon=addon, diff={"before": before, "after": after})

"""EKS add-ons (REST-JSON, served from the WSGI layer: moto 5.2 has no add-on API).

CreateAddon, DescribeAddon, ListAddons, UpdateAddon, DeleteAddon, DescribeAddonVersions and
DescribeAddonConfiguration for the three default add-ons (vpc-cni, coredns, kube-proxy), with EKS's shapes and
errors: a new add-on is CREATING, an update UPDATING, a delete DELETING, each for the `addon` delay;
`configurationValues` (JSON or YAML; "" is refused as not an object: the lab's choice, EKS's answer to "" is not
known here) are checked against the add-on version's JSON schema (a subset of the real one:
the keys listed below; anything else is refused as EKS refuses unknown keys); a version must be compatible with
the cluster's Kubernetes version. What the add-ons do is not emulated, except one thing the node agent reads:
vpc-cni's `enableNetworkPolicy` ("true" turns on NetworkPolicy enforcement at the nodes, lab/edgelab/nodes/).
"""

import json
import time
from urllib.parse import parse_qs, unquote

import jsonschema
import yaml
from moto.eks.models import eks_backends

from edgelab import config

from .state import LAB, now

ARN = "arn:aws:eks:{region}:{account}:addon/{cluster}/{name}/{uid}"
_ANY = {"type": "object"}
_RESOURCES = {"type": "object", "properties": {"limits": _ANY, "requests": _ANY}, "additionalProperties": False}
SCHEMAS = {
    "vpc-cni": {"type": "object", "additionalProperties": False, "properties": {
        "enableNetworkPolicy": {"type": "string", "enum": ["true", "false"]},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "nodeAgent": {"type": "object", "additionalProperties": False, "properties": {
            "enablePolicyEventLogs": {"type": "string", "enum": ["true", "false"]},
            "enableCloudWatchLogs": {"type": "string", "enum": ["true", "false"]},
            "healthProbeBindAddr": {"type": "string"}, "metricsBindAddr": {"type": "string"},
            "resources": _RESOURCES}},
        "resources": _RESOURCES, "tolerations": {"type": "array"}}},
    "coredns": {"type": "object", "additionalProperties": False, "properties": {
        "replicaCount": {"type": "integer", "minimum": 1}, "affinity": _ANY, "nodeSelector": _ANY,
        "tolerations": {"type": "array"}, "topologySpreadConstraints": {"type": "array"},
        "podDisruptionBudget": _ANY, "resources": _RESOURCES, "corefile": {"type": "string"}}},
    "kube-proxy": {"type": "object", "additionalProperties": False, "properties": {
        "mode": {"type": "string", "enum": ["iptables", "ipvs", "nftables"]}, "resources": _RESOURCES}},
}
# addon -> [(version, Kubernetes versions it supports)], newest first; the first that supports a version is its default.
# Every Kubernetes version EKS offers (eks.CALENDAR) has a default for each add-on (tests/unit/test_eks_addon.py).
# Sources, read 2026-12-03: the EKS user guide's tables of the latest add-on version per Kubernetes version give the
# defaults of coredns (1.32-1.36) and kube-proxy (1.32-1.36). Lab values, not read anywhere: the vpc-cni versions
# (the guide read had no vpc-cni table past 1.33), 1.37's coredns and kube-proxy, and which older versions a
# Kubernetes version also accepts.
VERSIONS = {
    "vpc-cni": [("v1.20.4-eksbuild.1", ("1.32", "1.33", "1.34", "1.35", "1.36", "1.37")),
                ("v1.19.6-eksbuild.7", ("1.32", "1.33", "1.34", "1.35", "1.36"))],
    "coredns": [("v1.14.3-eksbuild.3", ("1.35", "1.36", "1.37")),
                ("v1.13.2-eksbuild.11", ("1.34", "1.35", "1.36")),
                ("v1.12.4-eksbuild.18", ("1.33", "1.34")),
                ("v1.11.4-eksbuild.40", ("1.32", "1.33"))],
    "kube-proxy": [("v1.37.1-eksbuild.1", ("1.37",)), ("v1.36.0-eksbuild.14", ("1.36",)),
                   ("v1.35.3-eksbuild.13", ("1.35",)), ("v1.34.6-eksbuild.13", ("1.34",)),
                   ("v1.33.10-eksbuild.13", ("1.33",)), ("v1.32.13-eksbuild.16", ("1.32",))],
}


class Error(Exception):
    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _addons(region: str, cluster: str) -> dict:
    return LAB.addons.setdefault((config.ACCOUNT_ID, region, cluster), {})


def _cluster(region: str, name: str):
    cluster = eks_backends[config.ACCOUNT_ID][region].clusters.get(name)
    if cluster is None:
        raise Error(404, "ResourceNotFoundException", f"No cluster found for name: {name}.")
    return cluster


def default_version(name: str, kubernetes: str) -> str | None:
    return next((v for v, ks in VERSIONS.get(name, []) if kubernetes in ks), None)


def _check(name: str, version: str | None, kubernetes: str, values: str | None) -> str:
    if name not in VERSIONS:
        raise Error(400, "InvalidParameterException", f"Addon {name} specified is not supported")
    version = version or default_version(name, kubernetes)
    if version not in dict(VERSIONS[name]) or kubernetes not in dict(VERSIONS[name])[version]:
        raise Error(400, "InvalidParameterException",
                    f"Addon version specified is not supported by the cluster (Kubernetes {kubernetes}): {version}")
    if values is not None:
        try:
            doc = yaml.safe_load(values)  # JSON is YAML
            jsonschema.validate(doc, SCHEMAS[name])
        except (yaml.YAMLError, jsonschema.ValidationError) as e:
            where = "$" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in getattr(e, "path", []))
            raise Error(400, "InvalidParameterException", "ConfigurationValue provided in request is not supported: "
                        f"Json schema validation failed with error: [{where}: {getattr(e, 'message', e)}]") from None
    return version


def _status(addon: dict) -> dict:
    if addon["status"] in ("CREATING", "UPDATING") and now() >= addon["_until"]:
        addon["status"] = "ACTIVE"
    return addon


def _purge(addons: dict) -> None:
    """Add-ons whose DELETING time is over are gone."""
    for name in [n for n, a in addons.items() if a["status"] == "DELETING" and now() >= a["_until"]]:
        del addons[name]


def _public(addon: dict) -> dict:
    return {k: v for k, v in _status(addon).items() if not k.startswith("_")}


def network_policy_enabled(region: str, cluster: str) -> bool:
    """Whether the cluster's vpc-cni add-on enforces NetworkPolicies (ACTIVE with enableNetworkPolicy "true")."""
    with LAB.lock:
        addon = _addons(region, cluster).get("vpc-cni")
        if not addon or _status(addon)["status"] != "ACTIVE" or not addon.get("configurationValues"):
            return False
        return str((yaml.safe_load(addon["configurationValues"]) or {}).get("enableNetworkPolicy")) == "true"


def handle_environ(environ: dict, region: str):
    """(status, headers, body) for an add-on API request, or None if the path is not one of it (body left unread)."""
    raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]).split("?")[0]
    parts = [unquote(p) for p in raw.strip("/").split("/")]
    if not (parts[:1] == ["addons"] or (len(parts) >= 3 and parts[0] == "clusters" and parts[2] == "addons")):
        return None
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        answer = handle(environ["REQUEST_METHOD"], parts, query, body, region)
        if answer is None:
            return None
        return 200, [("Content-Type", "application/json")], json.dumps(answer, default=str).encode()
    except Error as e:
        return e.status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", e.kind)], \
            json.dumps({"message": e.message}).encode()


def handle(method: str, parts: list[str], query: dict, body: dict, region: str) -> dict | None:
    """The add-on API for a request path split in `parts`; None if the path is not one of it."""
    if parts == ["addons", "supported-versions"]:
        return describe_versions(query)
    if parts == ["addons", "configuration-schemas"]:
        name, version = query.get("addonName", ""), query.get("addonVersion", "")
        if name not in SCHEMAS or version not in dict(VERSIONS[name]):
            raise Error(404, "ResourceNotFoundException", f"Addon {name} version {version} not found")
        return {"addonName": name, "addonVersion": version, "configurationSchema": json.dumps(SCHEMAS[name])}
    if len(parts) < 3 or parts[0] != "clusters" or parts[2] != "addons":
        return None
    cluster = _cluster(region, parts[1])
    with LAB.lock:
        addons = _addons(region, cluster.name)
        _purge(addons)
        if len(parts) == 3:
            if method == "GET":
                return {"addons": sorted(addons)}
            return create(cluster, addons, body, region)
        name = parts[3]
        if name not in addons:
            raise Error(404, "ResourceNotFoundException", f"No addon: {name} found in cluster: {cluster.name}")
        addon = _status(addons[name])
        if len(parts) == 5 and parts[4] == "update" and method == "POST":
            return update(cluster, addon, body)
        if method == "DELETE":
            if addon["status"] != "DELETING":
                addon.update(status="DELETING", modifiedAt=time.time(), _until=LAB.deadline("addon"))
            return {"addon": _public(addon)}
        return {"addon": _public(addon)}


def create(cluster, addons: dict, body: dict, region: str) -> dict:
    name = body.get("addonName", "")
    if name in addons:
        raise Error(409, "ResourceInUseException", "Addon already exists." if addons[name]["status"] != "DELETING"
                    else f"Addon {name} is being deleted.")
    version = _check(name, body.get("addonVersion"), cluster.version, body.get("configurationValues"))
    stamp = time.time()
    addons[name] = {
        "addonName": name, "clusterName": cluster.name, "status": "CREATING", "addonVersion": version,
        "health": {"issues": []}, "createdAt": stamp, "modifiedAt": stamp, "tags": body.get("tags") or {},
        "addonArn": ARN.format(region=region, account=config.ACCOUNT_ID, cluster=cluster.name, name=name,
                               uid=f"{int(stamp * 1000):x}"),
        "configurationValues": body.get("configurationValues") or "",
        **({"serviceAccountRoleArn": body["serviceAccountRoleArn"]} if body.get("serviceAccountRoleArn") else {}),
        "_until": LAB.deadline("addon")}
    return {"addon": _public(addons[name])}


def update(cluster, addon: dict, body: dict) -> dict:
    if addon["status"] in ("CREATING", "UPDATING", "DELETING"):
        raise Error(409, "ResourceInUseException", f"Addon {addon['addonName']} is {addon['status']}; "
                    "wait until it is ACTIVE to update it.")
    version = _check(addon["addonName"], body.get("addonVersion") or addon["addonVersion"], cluster.version,
                     body["configurationValues"] if "configurationValues" in body
                     else addon["configurationValues"] or None)
    params = [{"type": "AddonVersion", "value": version}]
    if "configurationValues" in body:
        addon["configurationValues"] = body["configurationValues"] or ""
        params.append({"type": "ConfigurationValues", "value": addon["configurationValues"]})
    addon.update(addonVersion=version, status="UPDATING", modifiedAt=time.time(), _until=LAB.deadline("addon"))
    return {"update": {"id": f"{int(time.time() * 1000):x}", "status": "InProgress", "type": "AddonUpdate",
                       "params": params, "createdAt": time.time(), "errors": []}}


def describe_versions(query: dict) -> dict:
    kubernetes, wanted = query.get("kubernetesVersion"), query.get("addonName")
    out = []
    for name, versions in VERSIONS.items():
        if wanted and name != wanted:
            continue
        rows = [{"addonVersion": v, "architecture": ["amd64", "arm64"], "requiresConfiguration": False,
                 "compatibilities": [{"clusterVersion": k, "platformVersions": ["*"],
                                      "defaultVersion": default_version(name, k) == v} for k in ks
                                     if not kubernetes or k == kubernetes]}
                for v, ks in versions if not kubernetes or kubernetes in ks]
        out.append({"addonName": name, "type": "networking", "addonVersions": rows, "publisher": "eks",
                    "owner": "aws"})
    return {"addons": out}

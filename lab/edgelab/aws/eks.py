"""EKS: CREATING -> ACTIVE / DELETING -> gone with delays, the lab Kubernetes API as endpoint, access config
and endpoint access settings, UpdateClusterConfig, nodegroup updateConfig, and access entries (served here,
moto has none). CreateCluster takes only the Kubernetes versions EKS offers on the lab's day (CALENDAR)."""

import json
import re
import time
import uuid
from datetime import date
from urllib.parse import unquote

from moto.core.responses import ActionResult
from moto.eks.exceptions import InvalidParameterException, ResourceInUseException, ResourceNotFoundException
from moto.eks.models import Cluster, EKSBackend, Nodegroup, eks_backends
from moto.eks.responses import EKSResponse

from edgelab import config, kubetls

from .state import LAB, now

# -- Kubernetes versions ---------------------------------------------------------------------------
# The Amazon EKS Kubernetes release calendar: the one place where the lab learns which versions EKS offers.
# CreateCluster (below), the SSM AMI parameters (ssm.py) and the add-on versions (eks_addons.py) follow it. The lab
# plays the day TODAY, fixed so that it answers the same on every day it runs: following EKS means moving TODAY and
# adding a row. A version is in standard support from its EKS release until its end of standard support, then in
# extended support (extra cost per cluster hour) until its end of extended support, from which day EKS creates no
# cluster with it; the dates are UTC days, as EKS bills them.
# Sources, read 2026-12-03: 1.29-1.34, every date: the EKS user guide, "Understand the Kubernetes version lifecycle
# on EKS", release calendar. 1.35: endoflife.date/amazon-eks. 1.36: the EKS user guide ("Kubernetes 1.36 is now
# available in Amazon EKS"; its add-on tables list 1.36) and EKS AL2023 AMIs since awslabs/amazon-eks-ami v20260610;
# its release date from a third-party post, its end dates from EKS's policy (standard support 14 months from the EKS
# release, extended support 12 more). 1.37: EKS AL2023 AMIs in awslabs/amazon-eks-ami v20261023 (the release date
# used here is that day, at the latest), its end dates from the policy; the EKS user guide read had no 1.37 yet.
TODAY = date(2026, 12, 3)
CALENDAR = {  # Kubernetes version: (EKS release, end of standard support, end of extended support)
    "1.29": (date(2024, 1, 23), date(2025, 3, 23), date(2026, 3, 23)),
    "1.30": (date(2024, 5, 23), date(2025, 7, 23), date(2026, 7, 23)),
    "1.31": (date(2024, 9, 26), date(2025, 11, 26), date(2026, 11, 26)),
    "1.32": (date(2025, 1, 23), date(2026, 3, 23), date(2027, 3, 23)),
    "1.33": (date(2025, 5, 29), date(2026, 7, 29), date(2027, 7, 29)),
    "1.34": (date(2025, 10, 2), date(2026, 12, 2), date(2027, 12, 2)),
    "1.35": (date(2026, 1, 28), date(2027, 3, 27), date(2028, 3, 27)),
    "1.36": (date(2026, 6, 2), date(2027, 8, 2), date(2028, 8, 2)),
    "1.37": (date(2026, 10, 23), date(2027, 12, 23), date(2028, 12, 23)),
}
# CreateCluster without a version: EKS takes its default version (DescribeClusterVersions defaultVersion, not known
# here); the lab takes the product's default (roles/edge/defaults/main.yml edge_kubernetes_version).
DEFAULT_VERSION = "1.36"


def support(version: str, today: date = TODAY) -> str | None:
    """"standard" or "extended" for a version EKS offers on `today`, None for one it does not (not released yet, past
    its end of extended support, or unknown)."""
    if version not in CALENDAR:
        return None
    release, end_standard, end_extended = CALENDAR[version]
    return None if not release <= today < end_extended else "standard" if today < end_standard else "extended"


def supported_versions(today: date = TODAY, kind: str | None = None) -> list[str]:
    """The versions EKS offers on `today` (only those in `kind` support, "standard" or "extended"), oldest first."""
    return sorted((v for v in CALENDAR if support(v, today) and kind in (None, support(v, today))),
                  key=lambda v: tuple(int(n) for n in v.split(".")))
ACCESS_POLICIES = ["AmazonEKSAdminPolicy", "AmazonEKSClusterAdminPolicy", "AmazonEKSEditPolicy",
                   "AmazonEKSViewPolicy", "AmazonEKSAdminViewPolicy"]
POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/"


# -- cluster lifecycle -----------------------------------------------------------------------------
def _get_status(self) -> str:
    status = self.__dict__.get("_status", "ACTIVE")
    if status == "CREATING" and now() >= self._ready_at:
        status = self._status = "ACTIVE"
    if status == "UPDATING" and now() >= self._ready_at:  # a version update: the new version once it is done
        self.version, self._update["status"] = self._update_version, "Successful"
        status = self._status = "ACTIVE"
    return status


def _set_status(self, value: str) -> None:
    if "_status" not in self.__dict__ and value == "ACTIVE":
        value, self._ready_at = "CREATING", LAB.deadline("eks_create")
    self._status = value


_cluster_init = Cluster.__init__


def cluster_init(self, *args, **kwargs) -> None:
    _cluster_init(self, *args, **kwargs)
    self.endpoint = LAB.kube_url
    self.version = kwargs.get("version") or DEFAULT_VERSION
    self.resources_vpc_config = _vpc_config(self, kwargs.get("resources_vpc_config") or {}, {})
    self.access_config = {"authenticationMode": "API_AND_CONFIG_MAP"}


def _certificate_authority(self) -> dict:
    """The lab Kubernetes API's CA (base64 PEM), read from its state directory (created there if missing)."""
    return {"data": kubetls.ensure(LAB.kube_state_dir).ca_data()}


def _vpc_config(cluster, given: dict, current: dict) -> dict:
    cfg = {"endpointPublicAccess": True, "endpointPrivateAccess": False, "publicAccessCidrs": ["0.0.0.0/0"],
           "subnetIds": [], "securityGroupIds": []}
    cfg.update(current)
    cfg.update({k: v for k, v in given.items() if v is not None})
    if not cfg["endpointPublicAccess"] and not cfg["endpointPrivateAccess"]:
        raise InvalidParameterException(
            clusterName=cluster.name, message="Cluster must have either private or public endpoint access or both")
    cfg.setdefault("clusterSecurityGroupId", f"sg-{uuid.uuid4().hex[:17]}")
    if cfg["subnetIds"] and "vpcId" not in cfg:
        from moto.ec2.models import ec2_backends
        ec2 = ec2_backends[config.ACCOUNT_ID][cluster.arn.split(":")[3]]
        cfg["vpcId"] = ec2.get_subnet(cfg["subnetIds"][0]).vpc_id
    return cfg


_create_cluster = EKSBackend.create_cluster
_delete_cluster = EKSBackend.delete_cluster
_describe_cluster = EKSBackend.describe_cluster


def _deleting(backend, name: str):
    key = (backend.account_id, backend.region_name, name)
    with LAB.lock:
        cluster, deadline = LAB.deleting_clusters.get(key, (None, 0))
        if cluster and now() >= deadline:
            del LAB.deleting_clusters[key]
            return None
        return cluster


# Availability zone ids where EKS places no control plane (EKS user guide; AWS answers
# UnsupportedAvailabilityZoneException and names the zones it would take).
UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})


class UnsupportedAvailabilityZoneException(InvalidParameterException):
    TYPE = "UnsupportedAvailabilityZoneException"
    STATUS = 400


def _check_zones(backend, name: str, vpc_config: dict) -> None:
    from moto.ec2.models import ec2_backends
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    subnets = [ec2.get_subnet(s) for s in (vpc_config or {}).get("subnetIds") or []]
    bad = sorted({s.availability_zone for s in subnets if s.availability_zone_id in UNSUPPORTED_ZONE_IDS})
    if bad:
        valid = sorted(z.name for z in ec2.describe_availability_zones()
                       if z.zone_id not in UNSUPPORTED_ZONE_IDS and z.zone_type == "availability-zone")
        raise UnsupportedAvailabilityZoneException(
            clusterName=name, nodegroupName=None, addonName=None, validZones=valid,
            message=f"Cannot create cluster '{name}' because {', '.join(bad)}, the targeted availability zone, does "
                    f"not currently have sufficient capacity to support the cluster. Retry and choose from these "
                    f"availability zones: {', '.join(valid)}")


def create_cluster(self, name, *args, **kwargs):
    if _deleting(self, name):
        raise ResourceInUseException(clusterName=name, nodegroupName=None, addonName=None,
                                     message=f"Cluster already exists with name: {name}")
    version = kwargs.get("version", args[2] if len(args) > 2 else None)
    if version and not support(version):  # EKS's answer to a version past its support, or not released yet
        raise InvalidParameterException(clusterName=name, nodegroupName=None, addonName=None,
                                        message=f"unsupported Kubernetes version {version}")
    _check_zones(self, name, kwargs.get("resources_vpc_config") or (args[1] if len(args) > 1 else {}))
    return _create_cluster(self, name, *args, **kwargs)


def delete_cluster(self, name):
    cluster = _delete_cluster(self, name)
    cluster._status = "DELETING"
    with LAB.lock:
        LAB.deleting_clusters[(self.account_id, self.region_name, name)] = (cluster, LAB.deadline("eks_delete"))
        LAB.access_entries.pop((self.account_id, self.region_name, name), None)
        LAB.addons.pop((self.account_id, self.region_name, name), None)
    return cluster


def describe_cluster(self, name):
    try:
        cluster = _describe_cluster(self, name)
        cluster.status  # noqa: B018 (settles a finished update before the description is written)
        return cluster
    except ResourceNotFoundException:
        cluster = _deleting(self, name)
        if cluster is None:
            raise
        return cluster


_resp_create_cluster = EKSResponse.create_cluster


def resp_create_cluster(self) -> ActionResult:
    result = _resp_create_cluster(self)
    cluster = self.eks_backend.clusters[self._get_param("name")]
    access = self._get_param("accessConfig") or {}
    cluster.access_config = {"authenticationMode": access.get("authenticationMode", "API_AND_CONFIG_MAP")}
    if access.get("bootstrapClusterCreatorAdminPermissions", True) and \
            cluster.access_config["authenticationMode"] != "CONFIG_MAP":
        # AWS grants the creator cluster admin through an access entry.
        creator = _creator(self)
        entry = _new_entry(cluster, creator, {"type": "STANDARD"})
        entry["_policies"][POLICY_ARN + "AmazonEKSClusterAdminPolicy"] = _assoc(
            POLICY_ARN + "AmazonEKSClusterAdminPolicy", {"type": "cluster"})
        _entries(self.current_account, self.region, cluster.name)[creator] = entry
    return result


def resp_update_cluster_config(self) -> ActionResult:
    name = self._get_param("name")
    cluster = self.eks_backend.describe_cluster(name)
    if cluster.status != "ACTIVE":
        raise ResourceInUseException(clusterName=name, nodegroupName=None, addonName=None,
                                     message=f"Cluster is in {cluster.status} state, cannot update.")
    params, kind = [], "ConfigUpdate"
    if (vpc := self._get_param("resourcesVpcConfig")) is not None:
        cluster.resources_vpc_config = _vpc_config(cluster, vpc, cluster.resources_vpc_config)
        params += [{"type": k[0].upper() + k[1:], "value": json.dumps(v)} for k, v in vpc.items()]
        kind = "EndpointAccessUpdate"
    if (access := self._get_param("accessConfig")) is not None:
        cluster.access_config.update({k: v for k, v in access.items() if k == "authenticationMode"})
        params.append({"type": "AuthenticationMode", "value": access.get("authenticationMode", "")})
        kind = "AccessConfigUpdate"
    if (logging := self._get_param("logging")) is not None:
        cluster.logging, kind = logging, "LoggingUpdate"
        params.append({"type": "ClusterLogging", "value": json.dumps(logging)})
    update = {"id": str(uuid.uuid4()), "status": "Successful", "type": kind, "params": params,
              "createdAt": time.time(), "errors": []}
    return ActionResult({"update": update})


_nodegroup_init = Nodegroup.__init__


def nodegroup_init(self, *args, **kwargs) -> None:
    _nodegroup_init(self, *args, **kwargs)
    self.update_config = self.update_config or {"maxUnavailable": 1}


# -- access entries (REST-JSON, served from the WSGI layer) -----------------------------------------
def _entries(account: str, region: str, cluster: str) -> dict:
    return LAB.access_entries.setdefault((account, region, cluster), {})


_SESSION = re.compile(
    r"arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):(?P<kind>assumed-role|federated-user)/(?P<rest>.+)")
_ROLE = re.compile(r"arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[^/]+)")


def _creator(response) -> str:
    """The IAM principal of the CreateCluster caller, as EKS names it in the creator's access entry: what STS says
    for the request's key (moto: the key's IAM user or assumed role, else its default identity), an assumed-role
    session mapped to its role (with the role's path when IAM knows the role)."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends
    partition = response.partition
    _, arn, account = sts_backends[response.current_account][partition].get_caller_identity(
        response.get_access_key(), response.region)
    session = _SESSION.fullmatch(arn)
    if session and session["kind"] == "assumed-role":
        role = session["rest"].split("/")[0]
        try:
            return iam_backends[account][partition].get_role(role).arn
        except NotFoundException:  # a role IAM does not know: its ARN without a path
            return f"arn:{session['partition']}:iam::{account}:role/{role}"
    return arn


def _check_principal(kind: str, principal: str) -> None:
    """EKS refuses STS session principals (assumed-role sessions, federated users) for every entry type, and
    anything but an IAM role for node types."""
    if _SESSION.fullmatch(principal) or (kind != "STANDARD" and not _ROLE.fullmatch(principal)):
        raise _Error(400, "InvalidParameterException", "The specified principalArn is invalid: invalid principal.")


def _default_username(kind: str, principal: str) -> str:
    """EKS's user name for an entry created without one: nodes by their private DNS name, a role by its sessions
    (arn:aws:sts::ACCT:assumed-role/ROLE/{{SessionName}}, no path), anyone else by the principal ARN."""
    if kind in MANAGED_GROUPS:
        return "system:node:{{EC2PrivateDNSName}}" if kind.startswith("EC2") else \
            "system:node:{{SessionName}}"
    role = _ROLE.fullmatch(principal)
    if role:
        return f"arn:{role['partition']}:sts::{role['account']}:assumed-role/{role['name']}/{{{{SessionName}}}}"
    return principal


def _assoc(policy_arn: str, scope: dict) -> dict:
    scope = {"type": scope.get("type", "cluster"), "namespaces": scope.get("namespaces", [])}
    return {"policyArn": policy_arn, "accessScope": scope, "associatedAt": time.time(), "modifiedAt": time.time()}


# EKS fills in the groups of node entries itself, reads them back, and refuses them from the caller.
MANAGED_GROUPS = {"EC2_LINUX": ["system:nodes"], "EC2_WINDOWS": ["system:nodes", "system:nodes-windows"],
                  "FARGATE_LINUX": ["system:node-proxier"]}


def _check_groups(kind: str, body: dict) -> None:
    if kind in MANAGED_GROUPS and body.get("kubernetesGroups"):
        raise _Error(400, "InvalidParameterException",
                     f"The kubernetesGroups parameter is not supported for access entries of type {kind}.")


def _new_entry(cluster, principal: str, body: dict) -> dict:
    kind = body.get("type", "STANDARD")
    _check_groups(kind, body)
    username = body.get("username") or _default_username(kind, principal)
    return {"clusterName": cluster.name, "principalArn": principal, "type": kind, "username": username,
            "kubernetesGroups": MANAGED_GROUPS.get(kind, body.get("kubernetesGroups", [])),
            "tags": body.get("tags", {}),
            "accessEntryArn": f"{cluster.arn.replace(':cluster/', ':access-entry/')}/{uuid.uuid4()}",
            "createdAt": time.time(), "modifiedAt": time.time(), "_policies": {}}


def _public(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


class _Error(Exception):
    def __init__(self, status: int, kind: str, message: str):
        self.status, self.kind, self.message = status, kind, message


def handle_access_entries(environ: dict, region: str):
    """Serve the access-entry API; returns (status, headers, body) or None if the path is not one of it."""
    raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]).split("?")[0]
    parts = [unquote(p) for p in raw.strip("/").split("/")]
    method = environ["REQUEST_METHOD"]
    if parts == ["access-policies"]:
        policies = [{"name": n, "arn": POLICY_ARN + n} for n in ACCESS_POLICIES]
        return _json(200, {"accessPolicies": policies})
    if len(parts) < 3 or parts[0] != "clusters" or parts[2] != "access-entries":
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        return _json(200, _access_entries(method, parts[1], parts[3:], body, region))
    except _Error as e:
        return e.status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", e.kind)], \
            json.dumps({"message": e.message}).encode()


def _minor(version: str) -> tuple[int, int] | None:
    try:
        major, minor = (int(n) for n in str(version).split("."))
    except ValueError:
        return None
    return major, minor


def _update_version(cluster, body: dict) -> dict:
    """UpdateClusterVersion as EKS answers it: one minor version up from the current one, to a version EKS offers,
    only while the cluster is ACTIVE; the cluster is UPDATING for the eks_update delay, then runs the new version."""
    version = str(body.get("version") or "")
    if cluster.status != "ACTIVE":
        raise _Error(409, "ResourceInUseException", f"Cluster is in {cluster.status} state, cannot update.")
    have, want = _minor(cluster.version), _minor(version)
    if not want or not support(version):
        raise _Error(400, "InvalidParameterException", f"unsupported Kubernetes version {version}")
    if want == have:
        raise _Error(400, "InvalidParameterException", f"Cluster is already at the desired configuration with "
                                                       f"version: {version}")
    if want[0] != have[0] or want[1] != have[1] + 1:
        raise _Error(400, "InvalidParameterException",
                     f"Unsupported Kubernetes minor version update from {cluster.version} to {version}")
    update = {"id": str(uuid.uuid4()), "status": "InProgress", "type": "VersionUpdate",
              "params": [{"type": "Version", "value": version},
                         {"type": "PlatformVersion", "value": "eks.1"}], "createdAt": time.time(), "errors": []}
    cluster._update, cluster._update_version = update, version
    cluster._ready_at, cluster._status = LAB.deadline("eks_update"), "UPDATING"
    cluster.__dict__.setdefault("_updates", {})[update["id"]] = update
    return {"update": update}


def handle_cluster_updates(environ: dict, region: str):
    """UpdateClusterVersion (POST /clusters/<name>/updates) and DescribeUpdate (GET .../updates/<id>); None for
    other paths."""
    raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]).split("?")[0]
    parts = [unquote(p) for p in raw.strip("/").split("/")]
    if len(parts) < 3 or parts[0] != "clusters" or parts[2] != "updates":
        return None
    cluster = eks_backends[config.ACCOUNT_ID][region].clusters.get(parts[1])
    try:
        if cluster is None:
            raise _Error(404, "ResourceNotFoundException", f"No cluster found for name: {parts[1]}.")
        with LAB.lock:
            cluster.status  # noqa: B018 (settles a finished update)
            if environ["REQUEST_METHOD"] == "POST" and len(parts) == 3:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                return _json(200, _update_version(cluster, json.loads(environ["wsgi.input"].read(length) or b"{}")))
            if environ["REQUEST_METHOD"] == "GET" and len(parts) == 4:
                update = cluster.__dict__.get("_updates", {}).get(parts[3])
                if update is None:
                    raise _Error(404, "ResourceNotFoundException", f"No update found for ID: {parts[3]}.")
                return _json(200, {"update": update})
            if environ["REQUEST_METHOD"] == "GET" and len(parts) == 3:
                return _json(200, {"updateIds": list(cluster.__dict__.get("_updates", {}))})
        raise _Error(405, "InvalidRequestException", f"{environ['REQUEST_METHOD']} {raw} is not an EKS API call")
    except _Error as e:
        return e.status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", e.kind)], \
            json.dumps({"message": e.message}).encode()


def _json(status: int, data: dict):
    return status, [("Content-Type", "application/json")], json.dumps(data).encode()


def _access_entries(method: str, cluster_name: str, rest: list, body: dict, region: str) -> dict:
    account = config.ACCOUNT_ID
    backend = eks_backends[account][region]
    cluster = backend.clusters.get(cluster_name)
    if cluster is None:
        raise _Error(404, "ResourceNotFoundException", f"No cluster found for name: {cluster_name}.")
    if cluster.access_config.get("authenticationMode") == "CONFIG_MAP":
        raise _Error(400, "InvalidRequestException", "The cluster's authentication mode must be set to one of "
                     "[API, API_AND_CONFIG_MAP] to perform this operation.")
    with LAB.lock:
        entries = _entries(account, region, cluster_name)
        if not rest:
            if method == "GET":
                return {"accessEntries": sorted(entries)}
            principal = body.get("principalArn", "")
            if principal in entries:
                raise _Error(409, "ResourceInUseException",
                             "The specified access entry resource is already in use on this cluster.")
            if body.get("type", "STANDARD") not in ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX"):
                raise _Error(400, "InvalidParameterException", f"The type {body.get('type')} is not valid.")
            _check_principal(body.get("type", "STANDARD"), principal)
            entries[principal] = _new_entry(cluster, principal, body)
            return {"accessEntry": _public(entries[principal])}
        principal = rest[0]
        if principal not in entries:
            raise _Error(404, "ResourceNotFoundException", "The specified principalArn could not be found. "
                         "You can view your available access entries with 'list-access-entries'.")
        entry = entries[principal]
        if len(rest) == 1:
            if method == "DELETE":
                del entries[principal]
                return {}
            if method == "POST":  # UpdateAccessEntry
                _check_groups(entry["type"], body)
                entry.update({k: body[k] for k in ("kubernetesGroups", "username") if k in body},
                             modifiedAt=time.time())
            return {"accessEntry": _public(entry)}
        policies = entry["_policies"]
        if len(rest) == 2:
            if method == "POST":
                arn = body.get("policyArn", "")
                if not arn.startswith(POLICY_ARN) or arn[len(POLICY_ARN):] not in ACCESS_POLICIES:
                    raise _Error(404, "ResourceNotFoundException", f"The specified policy {arn} was not found.")
                policies[arn] = _assoc(arn, body.get("accessScope", {}))
                return {"clusterName": cluster_name, "principalArn": principal,
                        "associatedAccessPolicy": policies[arn]}
            return {"clusterName": cluster_name, "principalArn": principal,
                    "associatedAccessPolicies": list(policies.values())}
        arn = "/".join(rest[2:])
        if arn not in policies:
            raise _Error(404, "ResourceNotFoundException", f"The specified policy {arn} is not associated.")
        del policies[arn]
        return {}


def install() -> None:
    Cluster.status = property(_get_status, _set_status)
    Cluster.is_active = property(lambda self: self.status == "ACTIVE")
    Cluster.__init__ = cluster_init
    Cluster.certificate_authority = property(_certificate_authority, lambda self, value: None)  # moto sets a fake
    Nodegroup.__init__ = nodegroup_init
    EKSBackend.create_cluster = create_cluster
    EKSBackend.delete_cluster = delete_cluster
    EKSBackend.describe_cluster = describe_cluster
    EKSResponse.create_cluster = resp_create_cluster
    EKSResponse.update_cluster_config = resp_update_cluster_config

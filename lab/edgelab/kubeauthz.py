"""Authorization of the lab Kubernetes API as EKS does it: IAM principal -> access entry -> access policies.

After edgelab.kubeauth has verified an EKS token (which key signed it, for which cluster), EKS
- asks STS who the key is (GetCallerIdentity signed with it; the lab takes what its AWS endpoint knows of the key,
  kubeauth.LabKeys, with IAM enforcement on or off: an IAM user's key -> arn:aws:iam::ACCT:user/[PATH/]NAME, an
  AssumeRole session -> arn:aws:sts::ACCT:assumed-role/ROLE/SESSION, the lab's key `testing` -> moto's
  arn:aws:sts::ACCT:user/moto) and maps an assumed-role session to its role (arn:aws:iam::ACCT:role/[PATH/]ROLE):
  access entries name IAM roles and users, never STS sessions. Roles and users are matched by account and name
  (EKS matches the principal's unique id, so a role with a path matches its session, whose ARN has no path);
- looks up that principal's access entry on the token's cluster. None -> the authenticator maps no user: 401
  Unauthorized, as for a bad token. Else the user is the entry's username (templates {{SessionName}},
  {{SessionNameRaw}}, {{AccountID}}, {{EC2PrivateDNSName}} filled in) with the entry's kubernetesGroups and
  system:authenticated;
- authorizes each request by the entry's access policies (rules of the EKS user guide, "Review access policy
  permissions": AmazonEKSClusterAdminPolicy, AmazonEKSAdminPolicy, AmazonEKSEditPolicy, AmazonEKSViewPolicy,
  AmazonEKSAdminViewPolicy), each within its access scope (cluster; or namespace: the listed namespaces, `*` as a
  wildcard), plus what Kubernetes grants every authenticated user (discovery, /version, self reviews) and, for the
  group system:nodes (EC2_LINUX entries), what a kubelet may do (approximated, see NODE_RULES). Denied -> 403
  Forbidden with the Status kube-apiserver sends (`<resource> is forbidden: User "<name>" cannot <verb> resource
  ...`).
The lab's admin token (kubeauth.ADMIN) is the lab's own superuser and is never looked up.
Not evaluated: Kubernetes RBAC objects (Roles/ClusterRoles bound to an entry's groups or username grant nothing
here), the aws-auth ConfigMap (authentication modes CONFIG_MAP / API_AND_CONFIG_MAP), impersonation.
Lookups (the key's caller: POST /_lab/credentials through kubeauth.LabKeys, unless the Identity carries it; EKS access
entries, with the lab's own credentials) go to the lab AWS endpoint and are cached for a few seconds (like EKS, a
change to an access entry takes effect within seconds, not at once).
"""

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from edgelab import config, kubeauth

log = logging.getLogger(__name__)

POLICY_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
NODE_GROUP = "system:nodes"
AUTHENTICATED = "system:authenticated"
READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")


# -- request attributes (kube-apiserver's RequestInfoFactory) ----------------------------------------------------
@dataclass(frozen=True)
class RequestInfo:
    verb: str
    path: str
    resource_request: bool = False
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def qualified_resource(self) -> str:
        """What a 403 names: `deployments.apps`, `pods`."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
NAMESPACE_SUBRESOURCES = {"status", "finalize"}


def request_info(method: str, path: str, query: str | dict = "") -> RequestInfo:
    """The attributes kube-apiserver authorizes: verb, API group, resource[/subresource], namespace, name."""
    params = parse_qs(query) if isinstance(query, str) else {k: [v] if isinstance(v, str) else list(v)
                                                              for k, v in query.items()}
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return RequestInfo(verb=method.lower(), path=path)  # non-resource URL: verb is the lower-case method
    group = ""
    rest = parts[1:]
    if parts[0] == "apis":
        if len(rest) < 3:
            return RequestInfo(verb=method.lower(), path=path)  # /apis/<group>/<version>: discovery
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    verb = VERBS.get(method.upper(), "")
    if rest and rest[0] == "watch" and verb == "get":  # legacy /api/v1/watch/...
        verb, rest = "watch", rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if params.get("watch", [""])[0].lower() in ("true", "1") else "list"
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(verb=verb, path=path, resource_request=True, group=group, version=version,
                       resource=resource, subresource=subresource, namespace=namespace, name=name)


# -- rules -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    verbs: frozenset
    groups: frozenset = frozenset()
    resources: frozenset = frozenset()
    urls: tuple = ()  # non-resource URLs ("/api/*" matches by prefix)

    def allows(self, info: RequestInfo) -> bool:
        if "*" not in self.verbs and info.verb not in self.verbs:
            return False
        if not info.resource_request:
            return any(u == "*" or info.path == u or (u.endswith("*") and info.path.startswith(u[:-1]))
                       for u in self.urls)
        if not self.resources or ("*" not in self.groups and info.group not in self.groups):
            return False
        wanted = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        return "*" in self.resources or wanted in self.resources


def rule(verbs, groups=("",), resources=(), urls=()) -> Rule:
    return Rule(frozenset(verbs), frozenset(groups), frozenset(resources), tuple(urls))


def _tables(*rows) -> tuple:
    """Rows (api group, resources, verbs) of the EKS user guide's tables, as Rules."""
    return tuple(rule(verbs, (group,), resources.split()) for group, resources, verbs in rows)


_VIEW = (
    ("apps", "controllerrevisions daemonsets daemonsets/status deployments deployments/scale deployments/status "
             "replicasets replicasets/scale replicasets/status statefulsets statefulsets/scale statefulsets/status",
     READ),
    ("autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status", READ),
    ("batch", "cronjobs cronjobs/status jobs jobs/status", READ),
    ("discovery.k8s.io", "endpointslices", READ),
    ("extensions", "daemonsets daemonsets/status deployments deployments/scale deployments/status ingresses "
                   "ingresses/status networkpolicies replicasets replicasets/scale replicasets/status "
                   "replicationcontrollers/scale", READ),
    ("networking.k8s.io", "ingresses ingresses/status networkpolicies", READ),
    ("policy", "poddisruptionbudgets poddisruptionbudgets/status", READ),
    ("", "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods replicationcontrollers "
         "replicationcontrollers/scale serviceaccounts services services/status", READ),
    ("", "bindings events limitranges namespaces/status pods/log pods/status replicationcontrollers/status "
         "resourcequotas resourcequotas/status", READ),
    ("", "namespaces", READ),
)
_EDIT = (
    *_VIEW,
    ("apps", "daemonsets deployments deployments/rollback deployments/scale replicasets replicasets/scale "
             "statefulsets statefulsets/scale", WRITE),
    ("autoscaling", "horizontalpodautoscalers", WRITE),
    ("batch", "cronjobs jobs", WRITE),
    ("extensions", "daemonsets deployments deployments/rollback deployments/scale ingresses networkpolicies "
                   "replicasets replicasets/scale replicationcontrollers/scale", WRITE),
    ("networking.k8s.io", "ingresses networkpolicies", WRITE),
    ("policy", "poddisruptionbudgets", WRITE),
    ("", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy", READ),
    ("", "serviceaccounts", ("impersonate",)),
    ("", "pods pods/attach pods/exec pods/portforward pods/proxy", WRITE),
    ("", "configmaps events persistentvolumeclaims replicationcontrollers replicationcontrollers/scale secrets "
         "serviceaccounts services services/proxy", WRITE),
)
_ADMIN = (
    *_EDIT,
    ("authorization.k8s.io", "localsubjectaccessreviews", ("create",)),
    ("rbac.authorization.k8s.io", "rolebindings roles", READ + WRITE),
)
EVERYTHING = (rule(("*",), ("*",), ("*",)), rule(("*",), urls=("*",)))

POLICIES = {
    "AmazonEKSClusterAdminPolicy": EVERYTHING,
    "AmazonEKSAdminPolicy": _tables(*_ADMIN),
    "AmazonEKSEditPolicy": _tables(*_EDIT),
    "AmazonEKSViewPolicy": _tables(*_VIEW),
    "AmazonEKSAdminViewPolicy": (rule(READ, ("*",), ("*",)),),
}

# What Kubernetes binds to system:authenticated: system:discovery, system:public-info-viewer, system:basic-user.
AUTHENTICATED_RULES = (
    rule(("get",), urls=("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi",
                         "/openapi/*", "/version", "/version/")),
    rule(("create",), ("authorization.k8s.io",), ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
    rule(("create",), ("authentication.k8s.io",), ("selfsubjectreviews",)),
)

# The group system:nodes (EC2_LINUX entries), approximating the Node authorizer and the system:node role: a kubelet
# reads what its pods need, registers and updates its Node, reports pod status, writes events and leases, manages
# mirror pods and asks for certificates. (The Node authorizer's limit to the node's own objects is not modelled.)
NODE_RULES = _tables(
    ("", "nodes pods services endpoints configmaps secrets persistentvolumeclaims persistentvolumes", READ),
    ("", "nodes nodes/status", ("create", "get", "list", "watch", "update", "patch", "delete")),
    ("", "pods", ("create", "delete")),
    ("", "pods/status", ("update", "patch")),
    ("", "pods/eviction", ("create",)),
    ("", "serviceaccounts/token", ("create",)),
    ("", "events", ("create", "update", "patch")),
    ("events.k8s.io", "events", ("create", "update", "patch")),
    ("coordination.k8s.io", "leases", ("create", "delete", "get", "patch", "update", "list", "watch")),
    ("discovery.k8s.io", "endpointslices", READ),
    ("storage.k8s.io", "csinodes", ("create", "delete", "get", "patch", "update")),
    ("storage.k8s.io", "csidrivers storageclasses volumeattachments", READ),
    ("node.k8s.io", "runtimeclasses", READ),
    ("certificates.k8s.io", "certificatesigningrequests", ("create", "get", "list", "watch")),
    ("authentication.k8s.io", "tokenreviews", ("create",)),
    ("authorization.k8s.io", "subjectaccessreviews localsubjectaccessreviews", ("create",)),
)


# -- principals ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Principal:
    """An IAM identity as STS names it, and what access entries know it by."""
    arn: str  # as STS answered (an assumed-role session stays a session here)
    partition: str = "aws"
    account: str = ""
    kind: str = ""  # role, user, root, federated-user or "" (unknown)
    name: str = ""  # role or user name, without path
    session: str = ""  # assumed-role session name (or a federated user's name)

    @property
    def key(self) -> tuple:
        """What an access entry must match: EKS compares principal ids, so paths do not count."""
        return (self.partition, self.account, self.kind, self.name) if self.kind else (self.arn,)

    @property
    def entry_arn(self) -> str:
        """The access entry ARN for this principal (a session maps to its role, without the path STS omits)."""
        if self.kind == "role":
            return f"arn:{self.partition}:iam::{self.account}:role/{self.name}"
        return self.arn


_ARN = re.compile(r"arn:(?P<partition>aws[a-z-]*):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)")


def principal(arn: str) -> Principal:
    """Principal of an ARN (an STS GetCallerIdentity answer or an access entry's principalArn)."""
    m = _ARN.fullmatch(arn or "")
    if not m:
        return Principal(arn=arn)
    partition, service, account, resource = m.group("partition", "service", "account", "resource")
    base = {"arn": arn, "partition": partition, "account": account}
    if resource == "root" and service == "iam":
        return Principal(kind="root", **base)
    kind, _, rest = resource.partition("/")
    if service == "sts" and kind == "assumed-role" and "/" in rest:
        role, _, session = rest.partition("/")
        return Principal(kind="role", name=role, session=session, **base)
    if service == "sts" and kind == "federated-user" and rest:
        return Principal(kind="federated-user", name=rest, session=rest, **base)
    if kind in ("role", "user") and rest:  # iam role/user ARNs may have a path; moto's default caller is sts:user/
        return Principal(kind=kind, name=rest.rsplit("/", 1)[-1], **base)
    return Principal(arn=arn)


# -- subjects and decisions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Association:
    policy: str  # name, e.g. AmazonEKSViewPolicy
    scope: str = "cluster"  # or namespace
    namespaces: tuple = ()

    def covers(self, namespace: str) -> bool:
        if self.scope == "cluster":
            return True
        return bool(namespace) and any(re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), namespace)
                                       for pattern in self.namespaces)


@dataclass(frozen=True)
class Subject:
    """The Kubernetes user an access entry maps a principal to, and its access policies."""
    username: str
    groups: tuple = ()
    associations: tuple = ()
    principal_arn: str = ""
    entry_type: str = "STANDARD"
    admin: bool = False  # the lab's own superuser (the admin token)


ADMIN = Subject(username=kubeauth.ADMIN.username, groups=("system:masters", AUTHENTICATED), admin=True)


def username_for(template: str, caller: Principal) -> str:
    values = {"SessionName": caller.session, "SessionNameRaw": caller.session, "AccountID": caller.account,
              "EC2PrivateDNSName": caller.session}  # the lab has no private DNS names: a node's session name
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1)) or m.group(0), template)


def subject_of(caller: Principal, entry: dict, associations: list[dict]) -> Subject:
    """A Subject from an access entry (DescribeAccessEntry) and its policies (ListAssociatedAccessPolicies)."""
    groups = (*(entry.get("kubernetesGroups") or ()), AUTHENTICATED)
    assocs = tuple(Association(a["policyArn"].removeprefix(POLICY_PREFIX),
                               (a.get("accessScope") or {}).get("type", "cluster"),
                               tuple((a.get("accessScope") or {}).get("namespaces") or ())) for a in associations)
    return Subject(username=username_for(entry.get("username") or caller.arn, caller), groups=groups,
                   associations=assocs, principal_arn=entry.get("principalArn", ""),
                   entry_type=entry.get("type", "STANDARD"))


def allowed(subject: Subject, info: RequestInfo) -> bool:
    if subject.admin:
        return True
    if any(r.allows(info) for r in AUTHENTICATED_RULES):
        return True
    if NODE_GROUP in subject.groups and info.resource_request and any(r.allows(info) for r in NODE_RULES):
        return True
    for assoc in subject.associations:
        rules = POLICIES.get(assoc.policy, ())
        if not info.resource_request:
            if assoc.scope == "cluster" and any(r.allows(info) for r in rules):
                return True
        elif assoc.covers(info.namespace) and any(r.allows(info) for r in rules):
            return True
    return False


def forbidden(username: str, info: RequestInfo) -> dict:
    """The 403 Status kube-apiserver sends (responsewriters.Forbidden + apierrors.NewForbidden)."""
    if not info.resource_request:
        message = f'forbidden: User "{username}" cannot {info.verb} path "{info.path}"'
        details = {}
    else:
        resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        where = f'in the namespace "{info.namespace}"' if info.namespace else "at the cluster scope"
        reason = (f'User "{username}" cannot {info.verb} resource "{resource}" in API group "{info.group}" '
                  f"{where}")
        named = f' "{info.name}"' if info.name else ""
        message = f"{info.qualified_resource}{named} is forbidden: {reason}"
        details = {k: v for k, v in (("name", info.name), ("group", info.group), ("kind", info.resource)) if v}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "Forbidden", "details": details, "code": 403}


# -- lookups against the lab AWS endpoint ----------------------------------------------------------------------
@dataclass
class _Cache:
    ttl: float
    items: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key):
        with self.lock:
            hit = self.items.get(key)
        return hit[1] if hit and time.monotonic() < hit[0] else None

    def put(self, key, value):
        with self.lock:
            if len(self.items) > 1000:
                self.items.clear()
            self.items[key] = (time.monotonic() + self.ttl, value)
        return value


_MISSING = object()


class Authorizer:
    """subject(identity) -> Subject (raises kubeauth.Refused: no access entry, 401); check(identity, method, path,
    query) -> None if allowed, else the 403 Status. Blocking (lab AWS calls on a cache miss): run it in a thread
    from async code."""

    def __init__(self, aws_url: str = config.KUBE_AWS_URL, ttl: float = 2.0, principal_ttl: float = 30.0,
                 clusters: "kubeauth.EksClusters | None" = None, keys: "kubeauth.LabKeys | None" = None):
        self.aws_url = aws_url
        self.clusters = clusters or kubeauth.EksClusters(aws_url)
        self.keys = keys or kubeauth.LabKeys(aws_url)
        self._principals = _Cache(principal_ttl)
        self._subjects = _Cache(ttl)

    def caller(self, identity: kubeauth.Identity) -> Principal:
        """Who signed the token, as STS answers GetCallerIdentity signed with the token's key: the ARN the
        authenticator found, else the lab AWS endpoint's answer for the key (raises kubeauth.Refused for a key it
        does not accept: unknown, inactive, expired, wrong session token)."""
        if identity.arn:
            return principal(identity.arn)
        key = (identity.access_key_id, identity.session_token)
        cached = self._principals.get(key)
        if cached is not None:
            return cached
        arn = self.keys.lookup(identity.access_key_id or "", identity.session_token).arn
        return self._principals.put(key, principal(arn))

    def subject(self, identity: kubeauth.Identity) -> Subject:
        if identity.admin:
            return ADMIN
        caller = self.caller(identity)
        key = (identity.region, identity.cluster, caller.key)
        cached = self._subjects.get(key)
        if cached is None:
            cached = self._subjects.put(key, self._lookup(identity, caller) or _MISSING)
        if cached is _MISSING:
            raise kubeauth.Refused(f"no access entry for {caller.arn} ({caller.entry_arn}) on EKS cluster "
                                   f"{identity.cluster} ({identity.region})")
        return cached

    def _lookup(self, identity: kubeauth.Identity, caller: Principal) -> Subject | None:
        eks = self.clusters._client(identity.region)
        ids = {"clusterName": identity.cluster}
        try:
            arns = [a for page in eks.get_paginator("list_access_entries").paginate(**ids)
                    for a in page.get("accessEntries", [])]
            match = next((a for a in arns if principal(a).key == caller.key), None)
            if match is None:
                return None
            entry = eks.describe_access_entry(principalArn=match, **ids)["accessEntry"]
            policies = [p for page in eks.get_paginator("list_associated_access_policies").paginate(
                principalArn=match, **ids) for p in page.get("associatedAccessPolicies", [])]
        except eks.exceptions.ResourceNotFoundException:
            return None  # the cluster or the entry went away meanwhile
        except Exception as e:
            raise kubeauth.Refused(f"cannot read the access entries of {identity.cluster}: {e}") from None
        return subject_of(caller, entry, policies)

    def check(self, identity: kubeauth.Identity, method: str, path: str, query: str | dict = "") -> dict | None:
        """None if the request is allowed, else the 403 Status; raises kubeauth.Refused (401) for an unmapped
        principal."""
        subject = self.subject(identity)
        if subject.admin:
            return None
        info = request_info(method, path, query)
        if allowed(subject, info):
            return None
        status = forbidden(subject.username, info)
        log.warning("403 %s %s: %s", method, path, status["message"])
        return status

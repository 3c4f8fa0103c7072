"""IAM enforcement on the lab AWS endpoint (lab config `iam`: "off" by default, "enforce", "audit").

When enforced, every AWS call is authenticated and authorized here, in the WSGI layer, before faults, the lab's own
handlers (EKS access entries, add-ons, cluster updates) and moto:
- the lab's own key (config.CREDENTIALS, "testing") is the administrator: it may do anything, as today;
- any other key must be an IAM user's access key or STS session credentials (session token checked, not expired)
  that moto holds, and a header-signed request must carry the right SigV4 signature, else AWS's error for the
  protocol (InvalidClientTokenId, UnrecognizedClientException, AuthFailure, S3 InvalidAccessKeyId, ...);
- the call is turned into (IAM action, resource ARN, condition context) targets (`targets`) and each must be allowed
  by the caller's identity policies (iam_policy.py), else AWS's AccessDenied shape for the protocol.
In "audit" mode every call is evaluated the same way but goes on: what enforcement would refuse is logged (logger
edgelab.aws.iam_enforce, `IAM audit: <code>: <message>`), so one run lists every permission a policy lacks.
What is and is not evaluated: lab/edgelab/aws/README.md, "IAM enforcement".
"""

import functools
import io
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from moto.core.utils import utcnow

from edgelab import config

from . import iam_policy
from .state import LAB

log = logging.getLogger(__name__)
ADMIN_KEY = config.CREDENTIALS["AWS_ACCESS_KEY_ID"]
ACCOUNT = config.ACCOUNT_ID
_REST = ("s3", "eks", "route53")  # REST services the lab serves (the others are query or JSON protocol)
_SCOPE = re.compile(r"^([^/]+)/\d+/([^/]+)/([^/]+)/aws4_request$")


@dataclass
class Call:
    service: str  # the signing name, which is also the IAM service prefix for every service the lab serves
    region: str
    operation: str  # the API operation (botocore's name), e.g. GetObject, CreateCluster
    params: dict = field(default_factory=dict)  # query/form fields, JSON body, URI and query-string parameters
    headers: dict = field(default_factory=dict)  # lower-case names


@dataclass
class Target:
    action: str  # IAM action, e.g. s3:GetObject
    resource: str  # ARN or "*"
    context: dict = field(default_factory=dict)  # condition keys (lower case) -> list of values


class Refused(Exception):
    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# -- reading the request -------------------------------------------------------------------------------------------
def _credential(environ: dict, query: dict) -> tuple[str, str, str, str | None] | None:
    """(access key, region, service, session token) from the Authorization header or a presigned URL's query."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = re.search(r"Credential=([^,\s]+)", auth)
    scope = m.group(1) if m else (query.get("X-Amz-Credential") or [""])[0]
    parts = _SCOPE.match(scope)
    if not parts:
        return None
    token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN") or (query.get("X-Amz-Security-Token") or [None])[0]
    return parts.group(1), parts.group(2), parts.group(3), token


@functools.cache
def _routes(service: str) -> list:
    """(method, path regex, required query keys, operation) for a REST service, most specific first."""
    import botocore.session
    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = http["requestUri"].partition("?")
        regex = ""
        for literal, var, greedy in re.findall(r"([^{]*)(?:\{([^}+]+)(\+)?\})?", path):
            regex += re.escape(literal)
            if var:
                regex += f"(?P<{var}>.+)" if greedy else f"(?P<{var}>[^/]+)"
        required = [q for q in query.split("&") if q and not q.startswith("x-id=")]
        shape = model.operation_model(name).input_shape  # required query members tell e.g. AbortMultipartUpload apart
        for member in (shape.required_members if shape else []):
            where = shape.members[member].serialization
            if where.get("location") in ("querystring", "header"):  # headers as "header:<lower-case name>"
                required.append(where["name"] if where["location"] == "querystring" else f"header:{where['name']}")
        routes.append((http["method"], re.compile(regex.rstrip("/") + "/?"), required, name, len(path)))
    routes.sort(key=lambda r: (-len(r[2]), -r[4]))
    return routes


def _rest_operation(service: str, method: str, path: str, query: dict, headers: dict) -> tuple[str, dict] | None:
    def present(req: str) -> bool:
        if req.startswith("header:"):
            return req[7:].lower() in headers
        key, _, value = req.partition("=")
        return key in query and (not value or query[key][0] == value)

    for verb, regex, required, name, _ in _routes(service):
        m = regex.fullmatch(path)
        if verb == method and m and all(present(q) for q in required):
            return name, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


def parse(environ: dict, body: bytes) -> tuple[Call | None, tuple | None]:
    """(call, credential) of an AWS request; call is None when the operation is not recognised."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    url = urlsplit(raw)
    query = parse_qs(url.query or environ.get("QUERY_STRING", ""), keep_blank_values=True)
    cred = _credential(environ, query)
    if not cred:
        return None, None
    _, region, service, _ = cred
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    headers["content-type"] = environ.get("CONTENT_TYPE", "")
    target = headers.get("x-amz-target")
    if target:  # JSON protocol: ECR, SSM, ...
        params = json.loads(body or b"{}")
        return Call(service, region, target.rpartition(".")[2], params, headers), cred
    form_encoded = "x-www-form-urlencoded" in headers["content-type"] or "Action" in query
    if service not in _REST and form_encoded:  # query protocol: EC2, IAM, STS, Auto Scaling
        form = {k: v[0] for k, v in {**query, **parse_qs(body.decode(errors="replace"), True)}.items()}
        return Call(service, region, form.get("Action", ""), form, headers), cred
    found = _rest_operation(service, environ["REQUEST_METHOD"], url.path or "/", query, headers)
    if not found:
        return None, cred
    operation, uri_params = found
    params = {k: v[0] for k, v in query.items()}
    if body[:1] == b"{":
        try:
            params.update(json.loads(body))
        except ValueError:
            pass
    params.update(uri_params)
    params["_body"] = body
    return Call(service, region, operation, params, headers), cred


# -- who is calling ------------------------------------------------------------------------------------------------
@dataclass
class Principal:
    arn: str
    policies: list  # identity policy documents (dicts)
    session_policy: dict | None = None  # AssumeRole's Policy: intersects with the role's
    username: str | None = None


def _errors(service: str) -> str:
    if service == "ec2":
        return "ec2"
    if service == "s3":
        return "s3"
    return "query" if service in ("iam", "sts", "autoscaling", "route53", "elasticloadbalancing", "cloudformation") \
        else "json"


def authenticate(environ: dict, cred: tuple, body: bytes) -> Principal | None:
    """The caller (None for the lab's administrator key), or Refused with AWS's error for a key it does not know."""
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key
    key, region, service, token = cred
    if key == ADMIN_KEY:
        return None
    kind = _errors(service)
    headers = {"X-Amz-Security-Token": token} if token else {}
    try:
        access_key = create_access_key(ACCOUNT, "aws", key, headers)
    except CreateAccessKeyFailure as e:
        raise _invalid_key(kind, e.reason) from None
    session = _session(key) if token else None
    if session and session.expiration < utcnow():  # moto keeps expired sessions: AWS refuses them
        raise Refused("ExpiredToken", "The security token included in the request is expired", 400 if kind == "json"
                      else 403)
    if "HTTP_AUTHORIZATION" in environ:
        _check_signature(environ, access_key, region, service, body, kind)
    principal = Principal(access_key.arn, [iam_policy.document(p) for p in access_key.collect_policies()])
    if ":user/" in principal.arn:
        principal.username = principal.arn.rpartition("/")[2]
    if session and session.policy:
        principal.session_policy = json.loads(session.policy)
    return principal


def _session(key: str):
    from moto.sts.models import sts_backends
    return next((s for s in sts_backends[ACCOUNT]["aws"].assumed_roles if s.access_key_id == key), None)


def _check_signature(environ: dict, access_key, region: str, service: str, body: bytes, kind: str) -> None:
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    auth_header = environ["HTTP_AUTHORIZATION"]
    given = re.search(r"Signature=([0-9a-f]+)", auth_header)
    signed = re.search(r"SignedHeaders=([^,\s]+)", auth_header)
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    headers["content-type"] = environ.get("CONTENT_TYPE", "")
    headers["content-length"] = environ.get("CONTENT_LENGTH", "")
    names = signed.group(1).split(";") if signed else []
    request = AWSRequest(method=environ["REQUEST_METHOD"],
                         url=environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"],
                         data=body, headers={n: headers.get(n, "") for n in names})
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(access_key.create_credentials(), service, region)
    canonical = signer.canonical_request(request)
    if not given or signer.signature(signer.string_to_sign(request, canonical), request) != given.group(1):
        if kind == "ec2":
            raise Refused("AuthFailure", "AWS was not able to validate the provided access credentials", 401)
        raise Refused("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you "
                      "provided. Check your AWS Secret Access Key and signing method. Consult the service "
                      "documentation for details.", 403)


def _invalid_key(kind: str, reason: str) -> Refused:
    if kind == "ec2":
        return Refused("AuthFailure", "AWS was not able to validate the provided access credentials", 401)
    if kind == "s3":
        if reason == "InvalidToken":
            return Refused("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
        return Refused("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403)
    if kind == "json":
        return Refused("UnrecognizedClientException", "The security token included in the request is invalid.", 400)
    return Refused("InvalidClientTokenId", "The security token included in the request is invalid.", 403)


# -- what the call touches -----------------------------------------------------------------------------------------
def _arn(service: str, region: str, resource: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _indexed(params: dict, prefix: str) -> list[str]:
    """Values of a query-protocol list (Prefix.1, Prefix.2, ... or Prefix.member.1, ...)."""
    pat = re.compile(rf"^{re.escape(prefix)}(\.member)?\.\d+$")
    return [v for k, v in sorted(params.items()) if pat.match(k)]


def _tag_context(tags: dict, prefix: str = "aws") -> dict:
    return {f"{prefix}:resourcetag/{k}".lower(): [v] for k, v in tags.items()}


def _request_tags(tags: dict) -> dict:
    if not tags:
        return {}
    out = {f"aws:requesttag/{k}".lower(): [v] for k, v in tags.items()}
    out["aws:tagkeys"] = list(tags)
    return out


def _role_arn(name: str, path: str = "/") -> str:
    from moto.iam.models import iam_backends
    try:
        return iam_backends[ACCOUNT]["aws"].get_role(name).arn
    except Exception:  # a role that does not exist (yet): its would-be ARN
        return f"arn:aws:iam::{ACCOUNT}:role{path}{name}"


def _pass_role(role_arn: str, to_service: str | None) -> Target:
    return Target("iam:PassRole", role_arn, {"iam:passedtoservice": [to_service]} if to_service else {})


def _profile_roles(name: str | None = None, arn: str | None = None) -> list[str]:
    from moto.iam.models import iam_backends
    backend = iam_backends[ACCOUNT]["aws"]
    try:
        profile = backend.get_instance_profile_by_arn(arn) if arn else backend.get_instance_profile(name)
    except Exception:
        return []
    return [role.arn for role in profile.roles]


# EC2 resource ids -> ARN resource types (the ids moto and the product use)
_EC2_TYPES = {"i": "instance", "vpc": "vpc", "subnet": "subnet", "sg": "security-group", "cagw": "carrier-gateway",
              "eipalloc": "elastic-ip", "rtb": "route-table", "lt": "launch-template", "igw": "internet-gateway",
              "eni": "network-interface", "ami": "image", "vol": "volume", "nat": "natgateway", "snap": "snapshot",
              "eigw": "egress-only-internet-gateway", "acl": "network-acl", "vpce": "vpc-endpoint", "key": "key-pair"}
_EC2_ID = re.compile(rf"^({'|'.join(_EC2_TYPES)})-[0-9a-f]+$")
_EC2_CREATES = {"RunInstances": "instance", "CreateVpc": "vpc", "CreateSubnet": "subnet",
                "CreateSecurityGroup": "security-group", "CreateCarrierGateway": "carrier-gateway",
                "AllocateAddress": "elastic-ip", "CreateRouteTable": "route-table",
                "CreateLaunchTemplate": "launch-template", "CreateInternetGateway": "internet-gateway",
                "CreateNatGateway": "natgateway", "CreateNetworkInterface": "network-interface",
                "CreateKeyPair": "key-pair", "CreateVolume": "volume", "CreateEgressOnlyInternetGateway":
                "egress-only-internet-gateway", "CreateVpcEndpoint": "vpc-endpoint"}


def _ec2(call: Call) -> list[Target]:
    from moto.ec2.models import ec2_backends
    p, action = call.params, f"ec2:{call.operation}"
    if call.operation.startswith("Describe"):  # EC2 Describe* have no resource-level permissions
        return [Target(action, "*")]
    spec_tags: dict = {}  # ResourceType -> {key: value} from TagSpecification.N
    for k, rtype in p.items():
        m = re.match(r"^TagSpecification\.(\d+)\.ResourceType$", k)
        if m:
            n = m.group(1)
            spec_tags[rtype] = {p[f"TagSpecification.{n}.Tag.{i}.Key"]: p.get(f"TagSpecification.{n}.Tag.{i}.Value", "")
                                for i in range(1, 51) if f"TagSpecification.{n}.Tag.{i}.Key" in p}
    targets = []
    for rtype in {_EC2_CREATES.get(call.operation), *spec_tags} - {None}:
        targets.append(Target(action, _arn("ec2", call.region, f"{rtype}/*"), _request_tags(spec_tags.get(rtype, {}))))
    tags_backend = ec2_backends[ACCOUNT][call.region]
    create_tags = {p[f"Tag.{i}.Key"]: p.get(f"Tag.{i}.Value", "") for i in range(1, 51) if f"Tag.{i}.Key" in p}
    # A launch template's content (its AMI, subnet, groups) is authorized when instances are launched from it, not
    # when the template is written (the Service Authorization Reference lists only launch-template for those calls).
    ids = {v for k, v in p.items() if not k.startswith(("Filter.", "TagSpecification.", "LaunchTemplateData."))
           and k != "LaunchTemplateName" and isinstance(v, str) and _EC2_ID.match(v)}  # a name is no id
    association = p.get("AssociationId", "")
    if association.startswith("eipassoc-"):  # DisassociateAddress: authorized on the address
        ids |= {a.allocation_id for a in tags_backend.addresses
                if a.association_id == association and a.allocation_id}
    if association.startswith("rtbassoc-"):  # DisassociateRouteTable: authorized on the table
        ids |= {t.id for t in tags_backend.route_tables.values()
                if association in t._associations}  # moto keeps them private
    named = tags_backend.launch_template_name_to_ids.get(p.get("LaunchTemplateName", ""))
    if named and call.operation != "CreateLaunchTemplate":  # a template named, not given by id: AWS resolves it
        ids.add(named)
    for rid in sorted(ids):
        tags = dict(tags_backend.tags.get(rid, {}))
        rtype = _EC2_TYPES[rid.split("-")[0]]
        account = "" if rtype == "image" else ACCOUNT  # AMIs are region resources without an account in the ARN
        ctx = {**_tag_context(tags), **_tag_context(tags, "ec2"), **_request_tags(create_tags)}
        targets.append(Target(action, _arn("ec2", call.region, f"{rtype}/{rid}", account), ctx))
    for role in _profile_roles(p.get("IamInstanceProfile.Name"), p.get("IamInstanceProfile.Arn")):
        targets.append(_pass_role(role, "ec2.amazonaws.com"))
    return targets or [Target(action, "*")]


def _autoscaling(call: Call) -> list[Target]:
    from moto.autoscaling.models import autoscaling_backends
    p, action = call.params, f"autoscaling:{call.operation}"
    if call.operation.startswith("Describe"):
        return [Target(action, "*")]
    names = {p["AutoScalingGroupName"]} if "AutoScalingGroupName" in p else set()
    names |= {v for k, v in p.items() if re.match(r"^Tags\.member\.\d+\.ResourceId$", k)}
    names |= set(_indexed(p, "AutoScalingGroupNames"))
    request = {p[f"Tags.member.{i}.Key"]: p.get(f"Tags.member.{i}.Value", "") for i in range(1, 51)
               if f"Tags.member.{i}.Key" in p}
    groups = autoscaling_backends[ACCOUNT][call.region].autoscaling_groups
    # Calls naming an instance only (TerminateInstanceInAutoScalingGroup, SetInstanceHealth...) are authorized on
    # the group the instance is in.
    instances = {p["InstanceId"]} if "InstanceId" in p else set(_indexed(p, "InstanceIds"))
    names |= {g.name for g in groups.values() if any(s.instance.id in instances for s in g.instance_states)}
    targets = []
    for name in sorted(names):
        group = groups.get(name)
        arn = group.arn if group else \
            _arn("autoscaling", call.region, f"autoScalingGroup:*:autoScalingGroupName/{name}")
        tags = {t["Key"]: t.get("Value", "") for t in (group.tags if group else [])}
        ctx = {**_tag_context(tags), **_tag_context(tags, "autoscaling"), **_request_tags(request)}
        targets.append(Target(action, arn, ctx))
    return targets or [Target(action, "*")]


def _eks(call: Call) -> list[Target]:
    from moto.eks.models import eks_backends
    p, action, op = call.params, f"eks:{call.operation}", call.operation
    cluster_name = p.get("name") or p.get("clusterName")
    backend = eks_backends[ACCOUNT][call.region]
    cluster = backend.clusters.get(cluster_name) if cluster_name else None
    targets = []
    if op == "CreateCluster" and p.get("roleArn"):
        targets.append(_pass_role(p["roleArn"], "eks.amazonaws.com"))
    if op == "CreateNodegroup" and p.get("nodeRole"):
        targets.append(_pass_role(p["nodeRole"], "eks.amazonaws.com"))
    request = _request_tags(p.get("tags") if isinstance(p.get("tags"), dict) else {})
    if "resourceArn" in p:  # TagResource, UntagResource, ListTagsForResource
        keys = [*(p.get("tags") or {})] or [v for k, v in p.items() if k == "tagKeys"]
        return [Target(action, p["resourceArn"], {**request, "aws:tagkeys": keys} if keys else request)]
    if not cluster_name:
        return [*targets, Target(action, "*")]
    if "nodegroupName" in p:
        group = cluster.nodegroups.get(p["nodegroupName"]) if cluster else None
        arn = group.arn if group else _arn("eks", call.region, f"nodegroup/{cluster_name}/{p['nodegroupName']}/*")
    elif "addonName" in p and op != "CreateAddon":
        addon = LAB.addons.get((ACCOUNT, call.region, cluster_name), {}).get(p["addonName"])
        arn = addon["addonArn"] if addon else _arn("eks", call.region, f"addon/{cluster_name}/{p['addonName']}/*")
    elif "principalArn" in p and op != "CreateAccessEntry":
        entry = LAB.access_entries.get((ACCOUNT, call.region, cluster_name), {}).get(p["principalArn"])
        arn = entry["accessEntryArn"] if entry else _arn("eks", call.region, f"access-entry/{cluster_name}/*")
    else:
        arn = cluster.arn if cluster else _arn("eks", call.region, f"cluster/{cluster_name}")
    tags = dict(cluster.tags or {}) if cluster and ":cluster/" in arn else {}
    return [*targets, Target(action, arn, {**_tag_context(tags), **request})]


def _ecr(call: Call) -> list[Target]:
    p, action = call.params, f"ecr:{call.operation}"
    names = [p["repositoryName"]] if p.get("repositoryName") else list(p.get("repositoryNames") or [])
    tags = {t["Key"]: t.get("Value", "") for t in p.get("tags") or [] if isinstance(t, dict)}
    targets = [Target(action, _arn("ecr", call.region, f"repository/{n}"), _request_tags(tags)) for n in names]
    if p.get("resourceArn"):
        targets.append(Target(action, p["resourceArn"], _request_tags(tags)))
    return targets or [Target(action, "*")]


def _ssm_arn(region: str, name: str) -> str:
    account = "" if name.startswith("/aws/") else ACCOUNT  # AWS public parameters have no account in their ARN
    return _arn("ssm", region, f"parameter/{name.lstrip('/')}", account)


def _ssm(call: Call) -> list[Target]:
    p, action = call.params, f"ssm:{call.operation}"
    names = [p["Name"]] if p.get("Name") else [p["Path"]] if p.get("Path") else list(p.get("Names") or [])
    return [Target(action, _ssm_arn(call.region, n)) for n in names] or [Target(action, "*")]


def _iam(call: Call) -> list[Target]:
    p, action, op = call.params, f"iam:{call.operation}", call.operation
    targets = []
    if "RoleName" in p:
        arn = _role_arn(p["RoleName"], p.get("Path", "/")) if op != "CreateRole" else \
            f"arn:aws:iam::{ACCOUNT}:role{p.get('Path', '/')}{p['RoleName']}"
        if op == "AddRoleToInstanceProfile":  # AWS: the caller must be allowed to pass the role
            targets.append(_pass_role(arn, None))
            arn = f"arn:aws:iam::{ACCOUNT}:instance-profile{p.get('Path', '/')}{p['InstanceProfileName']}"
    elif "InstanceProfileName" in p:
        arn = f"arn:aws:iam::{ACCOUNT}:instance-profile{p.get('Path', '/')}{p['InstanceProfileName']}"
    elif "UserName" in p:
        arn = f"arn:aws:iam::{ACCOUNT}:user{p.get('Path', '/')}{p['UserName']}"
    elif "GroupName" in p:
        arn = f"arn:aws:iam::{ACCOUNT}:group{p.get('Path', '/')}{p['GroupName']}"
    elif "PolicyArn" in p:
        arn = p["PolicyArn"]
    elif op == "CreatePolicy":
        arn = f"arn:aws:iam::{ACCOUNT}:policy{p.get('Path', '/')}{p['PolicyName']}"
    elif op == "CreateServiceLinkedRole":
        service = p.get("AWSServiceName", "")
        return [Target(action, f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{service}/*",
                       {"iam:awsservicename": [service]})]
    else:
        arn = "*"
    ctx = {"iam:policyarn": [p["PolicyArn"]]} if "PolicyArn" in p and arn != p["PolicyArn"] else {}
    request = {p[f"Tags.member.{i}.Key"]: p.get(f"Tags.member.{i}.Value", "") for i in range(1, 51)
               if f"Tags.member.{i}.Key" in p}
    return [*targets, Target(action, arn, {**ctx, **_request_tags(request)})]


def _sts(call: Call) -> list[Target]:
    if call.operation in ("AssumeRole", "AssumeRoleWithWebIdentity") and call.params.get("RoleArn"):
        return [Target(f"sts:{call.operation}", call.params["RoleArn"])]
    return [Target(f"sts:{call.operation}", "*")]


def _route53(call: Call) -> list[Target]:
    p, action = call.params, f"route53:{call.operation}"
    zone = p.get("HostedZoneId") or (p.get("Id") if call.operation != "GetChange" else None)
    if zone:
        return [Target(action, f"arn:aws:route53:::hostedzone/{zone.rpartition('/')[2]}")]
    if call.operation == "GetChange":
        return [Target(action, f"arn:aws:route53:::change/{p['Id'].rpartition('/')[2]}")]
    return [Target(action, "*")]


def _s3(call: Call) -> list[Target]:
    from .iam_actions import s3_action
    p, op = call.params, call.operation
    bucket, key = p.get("Bucket"), p.get("Key")
    action = s3_action(op, versioned=bool(p.get("versionId")))
    if not bucket:
        return [Target(action, "*")]
    if op == "DeleteObjects":  # one s3:DeleteObject per key in the XML body
        keys = re.findall(rb"<Key>(.*?)</Key>", p.get("_body") or b"")
        return [Target(action, f"arn:aws:s3:::{bucket}/{k.decode()}") for k in keys] or \
            [Target(action, f"arn:aws:s3:::{bucket}/*")]
    if key is None:
        ctx = {"s3:prefix": [p.get("prefix", "")], "s3:delimiter": [p["delimiter"]] if "delimiter" in p else None}
        return [Target(action, f"arn:aws:s3:::{bucket}", {k: v for k, v in ctx.items() if v is not None})]
    targets = [Target(action, f"arn:aws:s3:::{bucket}/{key}")]
    source = call.headers.get("x-amz-copy-source")
    if source:  # CopyObject / UploadPartCopy read the source object
        src = unquote(source.split("?")[0]).lstrip("/")
        targets.append(Target("s3:GetObject", f"arn:aws:s3:::{src}"))
    return targets


_RESOURCES = {"ec2": _ec2, "autoscaling": _autoscaling, "eks": _eks, "ecr": _ecr, "ssm": _ssm, "iam": _iam,
              "sts": _sts, "route53": _route53, "s3": _s3}


def targets(call: Call) -> list[Target]:
    """Every (IAM action, resource) the call needs; services not listed are evaluated by action on "*"."""
    fn = _RESOURCES.get(call.service)
    return fn(call) if fn else [Target(f"{call.service}:{call.operation}", "*")]


# -- deciding ------------------------------------------------------------------------------------------------------
def _trusted(principal: Principal, role_arn: str) -> tuple[bool, bool]:
    """(the role's trust policy lets the caller assume it, it names the caller explicitly)."""
    from moto.iam.models import iam_backends
    try:
        role = iam_backends[ACCOUNT]["aws"].get_role_by_arn(role_arn)
    except Exception:
        return False, False
    trust = json.loads(role.assume_role_policy_document)
    caller = [principal.arn]
    if ":assumed-role/" in principal.arn:  # a session matches its role's ARN
        role_name = principal.arn.split("/")[1]
        caller.append(_role_arn(role_name))
    allowed = explicit = False
    for st in iam_policy._list(trust.get("Statement", [])):
        aws = iam_policy._list((st.get("Principal") or {}).get("AWS", []) if isinstance(st.get("Principal"), dict)
                               else st.get("Principal"))
        names = any(a in caller for a in aws)
        hits = names or any(a in ("*", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root") for a in aws)
        if not hits or not any(iam_policy.wildcard(a, "sts:AssumeRole", True) for a in
                               iam_policy._list(st.get("Action", []))):
            continue
        if st.get("Effect") == "Deny":
            return False, False
        allowed, explicit = True, explicit or names
    return allowed, explicit


def authorize(principal: Principal, call: Call) -> Target | None:
    """The first target the caller may not act on, with its verdict in .context['_verdict'], or None."""
    if call.service == "sts" and call.operation == "GetCallerIdentity":  # AWS: always allowed
        return None
    base = {"aws:principalarn": [principal.arn], "aws:principalaccount": [ACCOUNT], "aws:securetransport": ["true"],
            "aws:requestedregion": [call.region]}
    if principal.username:
        base["aws:username"] = [principal.username]
    for target in targets(call):
        ctx = {**base, **target.context}
        verdict = iam_policy.evaluate(principal.policies, target.action, target.resource, ctx)
        if verdict == iam_policy.ALLOWED and principal.session_policy is not None:
            verdict = iam_policy.evaluate([principal.session_policy], target.action, target.resource, ctx)
        if target.action == "sts:AssumeRole":
            trusted, named = _trusted(principal, target.resource)
            if not trusted:
                verdict = iam_policy.IMPLICIT if verdict != iam_policy.DENIED else verdict
            elif named and verdict == iam_policy.IMPLICIT:  # same account: a trust naming the caller suffices
                verdict = iam_policy.ALLOWED
        if verdict != iam_policy.ALLOWED:
            target.context["_verdict"] = verdict
            return target
    return None


def denial(principal: Principal, target: Target, service: str) -> Refused:
    why = "with an explicit deny in an identity-based policy" if target.context.get("_verdict") == iam_policy.DENIED \
        else f"because no identity-based policy allows the {target.action} action"
    message = (f"User: {principal.arn} is not authorized to perform: {target.action} on resource: {target.resource} "
               f"{why}")
    kind = _errors(service)
    if kind == "ec2":
        return Refused("UnauthorizedOperation", f"You are not authorized to perform this operation. {message}", 403)
    if kind in ("s3", "query"):
        return Refused("AccessDenied", message, 403)
    return Refused("AccessDeniedException", message, 400)  # 403 for REST-JSON (response)


def response(environ: dict, cred: tuple | None, refused: Refused) -> tuple[int, list, bytes]:
    """AWS's error shape for the protocol of this request."""
    service = cred[2] if cred else ""
    rid = str(uuid.uuid4())
    code, msg = refused.code, escape(refused.message)
    if service == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>")
        return refused.status, [("Content-Type", "text/xml")], body.encode()
    if service == "s3":
        body = f"<Error><Code>{code}</Code><Message>{msg}</Message><RequestId>{rid}</RequestId></Error>"
        return refused.status, [("Content-Type", "application/xml")], body.encode()
    if _errors(service) == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{msg}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>")
        return refused.status, [("Content-Type", "text/xml")], body.encode()
    headers = [("x-amzn-RequestId", rid), ("x-amzn-ErrorType", code)]
    if environ.get("HTTP_X_AMZ_TARGET"):
        return refused.status, [*headers, ("Content-Type", "application/x-amz-json-1.1")], \
            json.dumps({"__type": code, "message": refused.message}).encode()
    status = 403 if code in ("AccessDeniedException", "UnrecognizedClientException") else refused.status
    return status, [*headers, ("Content-Type", "application/json")], \
        json.dumps({"message": refused.message}).encode()


def check(environ: dict, audit: bool = False) -> tuple[int, list, bytes] | None:
    """None if the call may go on (environ's body is put back for the next reader), else the error response.
    audit: log the refusal instead and let the call go on."""
    from werkzeug.wsgi import get_input_stream
    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    call, cred = parse(environ, body)
    if cred is None:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return None
        return response(environ, None, Refused("MissingAuthenticationToken", "Missing Authentication Token", 403))
    try:
        principal = authenticate(environ, cred, body)
        if principal is None:
            return None
        if call is None:  # an operation the lab cannot name: only the administrator may call it
            raise Refused("AccessDenied" if _errors(cred[2]) != "json" else "AccessDeniedException",
                          f"User: {principal.arn} is not authorized to perform this operation (unrecognised by the "
                          f"lab's IAM enforcement)", 403)
        denied = authorize(principal, call)
        if denied:
            raise denial(principal, denied, cred[2])
    except Refused as refused:
        if audit:
            log.warning("IAM audit: %s: %s", refused.code, refused.message)
            return None
        return response(environ, cred, refused)
    return None

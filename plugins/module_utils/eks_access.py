# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

"""EKS access: the IAM principal an access entry names for the caller, and the converge of one access entry.
Shared by the modules caller_principal, eks_access_entry and eks_cluster (its access_entries, admin_principal_arns
and grant_caller options)."""

import re

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ARN = re.compile(r"arn:(?P<partition>aws[a-z-]*):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)")
ENTRY_TYPES = ["STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX"]

# Argument spec of a list of access policy associations (eks_access_entry policy_associations, eks_cluster
# access_entries[].policy_associations and admin_policy_associations).
POLICY_ASSOCIATIONS_SPEC = dict(
    policy_arn=dict(type="str", required=True),
    access_scope=dict(type="dict", default={"type": "cluster"}, options=dict(
        type=dict(type="str", choices=["cluster", "namespace"], default="cluster"),
        namespaces=dict(type="list", elements="str", default=[]),
    )),
)


class NoAccessEntry(ValueError):
    """The caller has no IAM principal an access entry can name."""


class AccessEntryError(ValueError):
    """An access entry the module cannot converge as asked (the message says why)."""


def principal_of(caller_arn):
    """What an EKS access entry names for a caller ARN (STS GetCallerIdentity):
    dict(principal_arn, principal_type, role_name, session_name). Raises NoAccessEntry for a federated user."""
    m = ARN.fullmatch(caller_arn or "")
    result = dict(principal_arn=caller_arn, principal_type="other", role_name=None, session_name=None)
    if not m:
        return result
    partition, service, account, resource = m.group("partition", "service", "account", "resource")
    kind, _, rest = resource.partition("/")
    if service == "sts" and kind == "assumed-role" and "/" in rest:
        role, _, session = rest.partition("/")
        return dict(principal_arn=f"arn:{partition}:iam::{account}:role/{role}", principal_type="role",
                    role_name=role, session_name=session)
    if service == "sts" and kind == "federated-user":
        raise NoAccessEntry(
            f"The caller {caller_arn} is a federated user session (GetFederationToken): EKS access entries name IAM "
            "roles and users only. Run with a role or user, or name the principals in eks_cluster_admin_principal_arns "
            "and set eks_cluster_grant_caller to false.")
    if service == "iam" and resource == "root":
        result["principal_type"] = "root"
    elif service == "iam" and kind in ("user", "role") and rest:
        result["principal_type"] = kind
    return result


def resolve_caller(module, resolve_role_path=True):
    """The caller as the caller_principal module returns it: dict(caller_arn, account, user_id, principal_arn,
    principal_type[, session_name]). STS GetCallerIdentity; an assumed-role session maps to its role, whose full ARN
    (with its path) IAM GetRole gives (without that permission: the path-less ARN, with a warning). Fails the module
    for a federated user session. Reads only."""
    sts = module.client("sts", retry_decorator=AWSRetry.jittered_backoff())
    try:
        identity = sts.get_caller_identity(aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to ask STS who the caller is (GetCallerIdentity)")
    try:
        found = principal_of(identity["Arn"])
    except NoAccessEntry as e:
        module.fail_json(msg=str(e), caller_arn=identity["Arn"])

    if found["principal_type"] == "role" and resolve_role_path:
        iam = module.client("iam", retry_decorator=AWSRetry.jittered_backoff())
        try:
            found["principal_arn"] = iam.get_role(RoleName=found["role_name"], aws_retry=True)["Role"]["Arn"]
        except is_boto3_error_code(["AccessDenied", "AccessDeniedException"]):
            module.warn(f"Not allowed to read role {found['role_name']} (iam:GetRole): using {found['principal_arn']}, "
                        "right unless the role has a path (EKS then refuses the access entry).")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f"Failed to read role {found['role_name']}")
    if found["principal_type"] == "root":
        module.warn(f"Running as the account root user: {found['principal_arn']} gets an access entry. "
                    "AWS recommends an IAM role.")

    caller = dict(caller_arn=identity["Arn"], account=identity["Account"], user_id=identity["UserId"],
                  principal_arn=found["principal_arn"], principal_type=found["principal_type"])
    if found["session_name"]:
        caller["session_name"] = found["session_name"]
    return caller


def scope_key(scope):
    """Comparable access scope."""
    return (scope.get("type", "cluster"), tuple(sorted(scope.get("namespaces") or [])))


def entry_spec(spec):
    """An access entry's parameters with the defaults of eks_access_entry's options filled in."""
    return dict(dict(state="present", type="STANDARD", kubernetes_groups=[], username=None, policy_associations=[],
                     purge_policy_associations=True, tags=None),
                **{k: v for k, v in spec.items() if v is not None})


def check_entry_spec(spec):
    """Why the parameters of an access entry are refused before any call (empty when they are not)."""
    if spec["type"] != "STANDARD" and (spec["policy_associations"] or spec["kubernetes_groups"]):
        return f"Access entries of type {spec['type']} take no policy_associations or kubernetes_groups"
    return ""


def converge_access_entry(client, cluster_name, spec, check_mode, planned=False):
    """Make one access entry as `spec` asks (eks_access_entry's options but cluster_name; see entry_spec).
    planned: the cluster does not exist yet (check mode), so nothing is read and the entry would be created.
    Returns dict(changed, access_entry (as eks_access_entry returns it; {} when absent), diff). Writes only outside
    check mode. Raises AccessEntryError (a type that differs), botocore errors."""
    p = entry_spec(spec)
    refused = check_entry_spec(p)
    if refused:
        raise AccessEntryError(refused)
    ids = dict(clusterName=cluster_name, principalArn=p["principal_arn"])

    def associations():
        pages = client.get_paginator("list_associated_access_policies").paginate(**ids)
        return {a["policyArn"]: a["accessScope"] for a in pages.build_full_result()["associatedAccessPolicies"]}

    entry = None
    if not planned:
        try:
            entry = client.describe_access_entry(aws_retry=True, **ids)["accessEntry"]
        except is_boto3_error_code("ResourceNotFoundException"):
            entry = None
    current = associations() if entry else {}
    before = dict(type=entry["type"], kubernetes_groups=sorted(entry.get("kubernetesGroups") or []),
                  policies={k: scope_key(v) for k, v in current.items()}) if entry else {}

    if p["state"] == "absent":
        if entry and not check_mode:
            client.delete_access_entry(aws_retry=True, **ids)
        return dict(changed=bool(entry), access_entry={}, diff=dict(before=before, after={}))

    if entry and entry["type"] != p["type"]:
        raise AccessEntryError(f"Access entry of {p['principal_arn']} has type {entry['type']}, not {p['type']};"
                               " delete it first (state=absent) to change the type")
    wanted = {a["policy_arn"]: {"type": a["access_scope"]["type"],
                                **({"namespaces": a["access_scope"]["namespaces"]}
                                   if a["access_scope"]["type"] == "namespace" else {})}
              for a in p["policy_associations"]}
    to_associate = [arn for arn, scope in wanted.items()
                    if arn not in current or scope_key(current[arn]) != scope_key(scope)]
    to_remove = [arn for arn in current if arn not in wanted] if p["purge_policy_associations"] else []
    # EKS sets the groups of node entries itself (EC2_LINUX reads back ["system:nodes"]) and refuses them from
    # the caller: only a STANDARD entry's groups are ours to compare and update.
    groups_differ = (entry is not None and p["type"] == "STANDARD"
                     and sorted(entry.get("kubernetesGroups") or []) != sorted(p["kubernetes_groups"]))
    username_differs = entry is not None and bool(p["username"]) and entry.get("username") != p["username"]
    changed = entry is None or bool(to_associate or to_remove or groups_differ or username_differs)
    after_policies = {k: scope_key(v) for k, v in current.items() if k not in to_remove}
    after_policies.update({k: scope_key(v) for k, v in wanted.items()})
    groups = p["kubernetes_groups"] if p["type"] == "STANDARD" else before.get("kubernetes_groups", [])
    diff = dict(before=before, after=dict(type=p["type"], kubernetes_groups=sorted(groups), policies=after_policies))

    if changed and not check_mode:
        if entry is None:
            kwargs = dict(type=p["type"], **ids)
            if p["kubernetes_groups"]:
                kwargs["kubernetesGroups"] = p["kubernetes_groups"]
            if p["username"]:
                kwargs["username"] = p["username"]
            if p["tags"]:
                kwargs["tags"] = p["tags"]
            client.create_access_entry(aws_retry=True, **kwargs)
        elif groups_differ or username_differs:
            kwargs = dict(kubernetesGroups=p["kubernetes_groups"], **ids)
            if p["username"]:
                kwargs["username"] = p["username"]
            client.update_access_entry(aws_retry=True, **kwargs)
        for arn in to_associate:  # associating again replaces the scope
            client.associate_access_policy(policyArn=arn, accessScope=wanted[arn], aws_retry=True, **ids)
        for arn in to_remove:
            client.disassociate_access_policy(policyArn=arn, aws_retry=True, **ids)
        entry = client.describe_access_entry(aws_retry=True, **ids)["accessEntry"]
        current = associations()

    entry = entry or {}
    return dict(changed=changed, diff=diff, access_entry=dict(
        principal_arn=p["principal_arn"], type=entry.get("type", p["type"]), username=entry.get("username"),
        kubernetes_groups=entry.get("kubernetesGroups", p["kubernetes_groups"]),
        access_entry_arn=entry.get("accessEntryArn"),
        policy_associations=[{"policy_arn": k, "access_scope": v} for k, v in current.items()],
    ))

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: eks_cluster
version_added: 0.1.0
short_description: Manage an Amazon EKS cluster, with endpoint access, access config and logging
description:
  - Creates, updates and deletes an EKS cluster. Unlike M(community.aws.eks_cluster) it manages endpoint
    public/private access and public access CIDRs, the authentication mode (access entries), bootstrap admin
    permissions, control plane logging and tags, and it can start a creation without waiting for it.
  - With O(wait=false) the module returns right after C(CreateCluster); a later call with O(wait=true) on the same
    cluster only waits until it is C(ACTIVE) (and applies updates, if any), so a playbook can start the control
    plane early and await it late.
  - Endpoint access, public access CIDRs, logging, authentication mode, tags and the Kubernetes version are
    updated in place. EKS runs one update at a time, so the module waits for each update before the next.
  - With O(wait=true) the same run then makes the cluster's access entries (O(access_entries), O(admin_principal_arns),
    O(grant_caller)) and EKS add-ons (O(addons)), as M(edgeml.wavelength.eks_access_entry) and
    M(edgeml.wavelength.eks_addon) would, so awaiting a cluster and setting it up is one module run. Check mode on a
    cluster that does not exist yet plans them as to be created.
author:
  - edgeml team
options:
  name:
    description: Cluster name.
    type: str
    required: true
  state:
    description: Whether the cluster exists.
    type: str
    choices: [present, absent]
    default: present
  version:
    description:
      - Kubernetes version (C(major.minor)). Upgrades go one minor version at a time, as EKS requires; a version more
        than one minor version ahead of the cluster's, or behind it, fails before anything changes.
    type: str
  role_arn:
    description: Cluster IAM role ARN. Required to create.
    type: str
  subnets:
    description: Subnet ids of the control plane network interfaces (two or more regional subnets). Required to create.
    type: list
    elements: str
  security_groups:
    description: Additional security groups of the control plane network interfaces.
    type: list
    elements: str
    default: []
  endpoint_public_access:
    description: Expose the API server endpoint publicly.
    type: bool
    default: true
  endpoint_private_access:
    description: Expose the API server endpoint inside the VPC.
    type: bool
    default: true
  public_access_cidrs:
    description: CIDRs allowed to reach the public endpoint. Empty means the EKS default (C(0.0.0.0/0)).
    type: list
    elements: str
    default: []
  service_ipv4_cidr:
    description: Kubernetes service CIDR, set at creation only (must not overlap the VPC). Empty lets EKS choose.
    type: str
  authentication_mode:
    description: Authentication mode. C(API) uses access entries only.
    type: str
    choices: [API, API_AND_CONFIG_MAP, CONFIG_MAP]
    default: API
  bootstrap_cluster_creator_admin_permissions:
    description: Give the creator an admin access entry. Only used at creation.
    type: bool
    default: false
  logging:
    description: Control plane log types to enable; the others are disabled.
    type: list
    elements: str
    choices: [api, audit, authenticator, controllerManager, scheduler]
    default: []
  tags:
    description: Cluster tags.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description: Remove tags not in O(tags).
    type: bool
    default: true
  wait:
    description:
      - Wait until the cluster is C(ACTIVE) (or gone with O(state=absent)).
      - With V(false) a newly created or still C(CREATING) cluster is returned as is; updates are skipped until it
        is C(ACTIVE).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait (for the cluster, and for each add-on of O(addons)).
    type: int
    default: 1800
  access_entries:
    description:
      - Access entries of the cluster, made once it is C(ACTIVE), each as M(edgeml.wavelength.eks_access_entry) makes
        one (its options of the same names; associations not listed are removed). Entries not listed are left alone.
      - Only with O(wait=true); given with O(wait=false) the module fails.
    type: list
    elements: dict
    version_added: 0.3.0
    suboptions:
      principal_arn:
        description: IAM role or user ARN.
        type: str
        required: true
      type:
        description: Access entry type. It cannot change; a different type fails with a message.
        type: str
        choices: [STANDARD, EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX]
        default: STANDARD
      kubernetes_groups:
        description: Kubernetes groups (C(STANDARD) only).
        type: list
        elements: str
        default: []
      policy_associations:
        description: Access policies to associate (C(STANDARD) only).
        type: list
        elements: dict
        default: []
        suboptions:
          policy_arn:
            description: Access policy ARN.
            type: str
            required: true
          access_scope:
            description: Scope of the association.
            type: dict
            default: {type: cluster}
            suboptions:
              type:
                description: C(cluster) or C(namespace).
                type: str
                choices: [cluster, namespace]
                default: cluster
              namespaces:
                description: Namespaces for C(namespace) scope.
                type: list
                elements: str
                default: []
  admin_principal_arns:
    description:
      - Cluster admins (IAM role or user ARNs; a role with a path needs its full ARN). Each gets a C(STANDARD) access
        entry with O(admin_policy_associations); duplicates, and the caller of O(grant_caller), count once.
      - A principal may not be both here (or the caller) and in O(access_entries).
      - Only with O(wait=true).
    type: list
    elements: str
    version_added: 0.3.0
  grant_caller:
    description:
      - Make whoever runs the module an admin too (see O(admin_principal_arns)), as M(edgeml.wavelength.caller_principal)
        names them - STS C(GetCallerIdentity); an assumed-role session maps to its role, with the role's path read with
        C(iam:GetRole) (without that permission the path-less ARN, with a warning); a federated user session fails.
      - Only with O(wait=true).
    type: bool
    default: false
    version_added: 0.3.0
  admin_policy_associations:
    description:
      - The access policy associations of every admin (O(admin_principal_arns), O(grant_caller)), as in
        O(access_entries[].policy_associations). Required with admins.
      - Only with O(wait=true).
    type: list
    elements: dict
    version_added: 0.3.0
    suboptions:
      policy_arn:
        description: Access policy ARN, for example C(arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy).
        type: str
        required: true
      access_scope:
        description: Scope of the association.
        type: dict
        default: {type: cluster}
        suboptions:
          type:
            description: C(cluster) or C(namespace).
            type: str
            choices: [cluster, namespace]
            default: cluster
          namespaces:
            description: Namespaces for C(namespace) scope.
            type: list
            elements: str
            default: []
  addons:
    description:
      - EKS-managed add-ons, made after the access entries, each as M(edgeml.wavelength.eks_addon) makes one -
        idempotent on the version when given and on the configuration values (compared as data), waited for until
        C(ACTIVE) (at most O(wait_timeout) each); a new add-on gets O(tags). Add-ons not listed are left alone.
      - Only with O(wait=true).
    type: list
    elements: dict
    version_added: 0.3.0
    suboptions:
      name:
        description: Add-on name, for example V(vpc-cni), V(kube-proxy).
        type: str
        required: true
      version:
        description: Add-on version. Omitted - a new add-on gets the default version for the cluster's Kubernetes
          version and an existing one keeps its version.
        type: str
      configuration_values:
        description: Configuration values (a dict, sent as JSON). Omitted - not managed; V({}) - none.
        type: dict
      resolve_conflicts:
        description: How EKS resolves fields the add-on's objects had from another manager (a self-managed add-on).
        type: str
        choices: [OVERWRITE, NONE, PRESERVE]
        default: OVERWRITE
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Start the control plane (returns at once)
  edgeml.wavelength.eks_cluster:
    name: edgeml
    version: "1.33"
    role_arn: arn:aws:iam::123456789012:role/edgeml-cluster
    subnets: [subnet-0a, subnet-0b]
    public_access_cidrs: [203.0.113.0/24]
    wait: false

- name: Later, await it
  edgeml.wavelength.eks_cluster:
    name: edgeml
    version: "1.33"
    role_arn: arn:aws:iam::123456789012:role/edgeml-cluster
    subnets: [subnet-0a, subnet-0b]
    public_access_cidrs: [203.0.113.0/24]
  register: cluster

- name: Await it, give the caller and an admin role cluster admin, and enforce NetworkPolicies (one module run)
  edgeml.wavelength.eks_cluster:
    name: edgeml
    version: "1.33"
    role_arn: arn:aws:iam::123456789012:role/edgeml-cluster
    subnets: [subnet-0a, subnet-0b]
    public_access_cidrs: [203.0.113.0/24]
    grant_caller: true
    admin_principal_arns: [arn:aws:iam::123456789012:role/platform-admin]
    admin_policy_associations:
      - policy_arn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy
        access_scope: {type: cluster}
    access_entries:
      - principal_arn: arn:aws:iam::123456789012:role/auditor
        policy_associations:
          - policy_arn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy
    addons:
      - name: vpc-cni
        configuration_values: {enableNetworkPolicy: "true"}
      - name: kube-proxy
"""

RETURN = r"""
cluster:
  description: The cluster (empty after deletion).
  returned: always
  type: dict
  contains:
    name: {description: Name., type: str}
    arn: {description: ARN., type: str}
    endpoint: {description: API server endpoint URL (empty while creating)., type: str}
    certificate_authority_data: {description: Base64 PEM of the cluster CA (empty while creating)., type: str}
    status: {description: CREATING, ACTIVE, UPDATING, DELETING or FAILED., type: str}
    version: {description: Kubernetes version., type: str}
    platform_version: {description: EKS platform version., type: str}
    cluster_security_group_id: {description: The security group EKS created for the cluster., type: str}
    service_ipv4_cidr: {description: Kubernetes service CIDR., type: str}
    role_arn: {description: Cluster role ARN., type: str}
    resources_vpc_config: {description: VPC config as EKS describes it., type: dict}
    access_config: {description: Access config., type: dict}
    logging: {description: Logging config., type: dict}
    tags: {description: Tags., type: dict}
updates:
  description: Names of the updates applied (or planned in check mode).
  returned: always
  type: list
  elements: str
  sample: [endpoint_access, logging]
caller:
  description: Whoever runs the module, as M(edgeml.wavelength.caller_principal) returns it.
  returned: with O(grant_caller)
  type: dict
  version_added: 0.3.0
  contains:
    caller_arn: {description: The caller's ARN as STS answers it., type: str}
    account: {description: The caller's account., type: str}
    user_id: {description: The caller's unique id., type: str}
    principal_arn: {description: The IAM principal its access entry names., type: str}
    principal_type: {description: "V(role), V(user), V(root) or V(other).", type: str}
    session_name: {description: The role session name (assumed roles only)., type: str}
access_entries:
  description:
    - One result per access entry - the caller's and the admins' first (in that order), then O(access_entries) - with
      what M(edgeml.wavelength.eks_access_entry) returns. Empty without O(wait).
  returned: with O(state=present)
  type: list
  elements: dict
  version_added: 0.3.0
  contains:
    principal_arn: {description: Principal., type: str}
    changed: {description: Whether the entry or its associations changed (or would in check mode)., type: bool}
    access_entry: {description: The access entry (as eks_access_entry returns it)., type: dict}
  sample:
    - principal_arn: arn:aws:iam::123456789012:role/platform-admin
      changed: false
      access_entry:
        principal_arn: arn:aws:iam::123456789012:role/platform-admin
        type: STANDARD
        kubernetes_groups: []
        policy_associations:
          - policy_arn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy
            access_scope: {type: cluster}
addons:
  description: One result per add-on of O(addons), with what M(edgeml.wavelength.eks_addon) returns. Empty without O(wait).
  returned: with O(state=present)
  type: list
  elements: dict
  version_added: 0.3.0
  contains:
    name: {description: Add-on name., type: str}
    changed: {description: Whether it changed (or would in check mode)., type: bool}
    addon: {description: The add-on as EKS describes it (empty when planned in check mode)., type: dict}
  sample:
    - name: vpc-cni
      changed: false
      addon: {addonName: vpc-cni, addonVersion: v1.20.4-eksbuild.1, status: ACTIVE,
              configurationValues: '{"enableNetworkPolicy":"true"}'}
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.edgeml.wavelength.plugins.module_utils.eks_access import (
    ENTRY_TYPES,
    POLICY_ASSOCIATIONS_SPEC,
    AccessEntryError,
    check_entry_spec,
    converge_access_entry,
    resolve_caller,
)
from ansible_collections.edgeml.wavelength.plugins.module_utils.eks_addons import (
    RESOLVE_CONFLICTS,
    AddonError,
    converge_addon,
)
from ansible_collections.edgeml.wavelength.plugins.module_utils.wavelength import wait_until

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
# The options that set up an ACTIVE cluster: only with wait=true.
SETUP_OPTIONS = ("access_entries", "admin_principal_arns", "grant_caller", "admin_policy_associations", "addons")


def describe(client, name):
    try:
        return client.describe_cluster(name=name, aws_retry=True)["cluster"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None


IAM_PROPAGATION = 120  # seconds a new cluster role may take to become assumable by EKS


def create_cluster(client, kwargs):
    """CreateCluster, retried while EKS cannot assume a role that is new (IAM is eventually consistent: AWS answers
    InvalidParameterException "... could not be assumed ..." for a few seconds after the role was created)."""
    deadline = time.monotonic() + IAM_PROPAGATION
    while True:
        try:
            return client.create_cluster(aws_retry=True, **kwargs)["cluster"]
        except botocore.exceptions.ClientError as e:
            error = e.response.get("Error", {})
            if (error.get("Code") != "InvalidParameterException" or "could not be assumed" not in error.get("Message", "")
                    or time.monotonic() >= deadline):
                raise
            time.sleep(3)


def to_result(c):
    if not c:
        return {}
    vpc = c.get("resourcesVpcConfig") or {}
    return dict(
        name=c.get("name"), arn=c.get("arn"), endpoint=c.get("endpoint") or "",
        certificate_authority_data=(c.get("certificateAuthority") or {}).get("data") or "",
        status=c.get("status"), version=c.get("version"), platform_version=c.get("platformVersion"),
        cluster_security_group_id=vpc.get("clusterSecurityGroupId") or "", role_arn=c.get("roleArn"),
        service_ipv4_cidr=(c.get("kubernetesNetworkConfig") or {}).get("serviceIpv4Cidr") or "",
        resources_vpc_config=vpc, access_config=c.get("accessConfig") or {}, logging=c.get("logging") or {},
        tags=c.get("tags") or {},
    )


def enabled_logs(c):
    types = set()
    for entry in (c.get("logging") or {}).get("clusterLogging") or []:
        if entry.get("enabled"):
            types.update(entry.get("types") or [])
    return sorted(types)


def logging_config(types):
    off = [t for t in LOG_TYPES if t not in types]
    return {"clusterLogging": [e for e in ({"types": sorted(types), "enabled": True}, {"types": off, "enabled": False})
                               if e["types"]]}


def minor(version):
    """(major, minor) of a Kubernetes version such as 1.33 (None when it is not one)."""
    try:
        major, minor_, *_ = (int(part) for part in str(version).split("."))
    except ValueError:
        return None
    return major, minor_


def version_step_error(name, current, wanted):
    """Why EKS would refuse to take the cluster from `current` to `wanted` (empty when it would not)."""
    have, want = minor(current), minor(wanted)
    if not wanted or not have or not want or have == want:
        return ""
    if want < have:
        return (f"EKS cluster {name} runs Kubernetes {current} and cannot be downgraded to {wanted}: set version "
                f"(edge_kubernetes_version) to {current} or later")
    if want[0] != have[0] or want[1] > have[1] + 1:
        step = f"{have[0]}.{have[1] + 1}"
        return (f"EKS cluster {name} runs Kubernetes {current}; EKS upgrades the control plane one minor version at "
                f"a time, so {wanted} cannot be reached in one step: set version (edge_kubernetes_version) to {step}, "
                f"converge, and repeat up to {wanted}")
    return ""


def planned_updates(p, c):
    """[(name, kwargs for update_cluster_config/update_cluster_version, before, after)] for what differs."""
    updates = []
    vpc = c.get("resourcesVpcConfig") or {}
    cidrs = sorted(p["public_access_cidrs"] or ["0.0.0.0/0"])
    have = dict(public=vpc.get("endpointPublicAccess"), private=vpc.get("endpointPrivateAccess"),
                cidrs=sorted(vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]))
    want = dict(public=p["endpoint_public_access"], private=p["endpoint_private_access"], cidrs=cidrs)
    if have != want:
        updates.append(("endpoint_access", dict(resourcesVpcConfig=dict(
            endpointPublicAccess=want["public"], endpointPrivateAccess=want["private"],
            **({"publicAccessCidrs": cidrs} if want["public"] else {}))), have, want))
    if enabled_logs(c) != sorted(p["logging"]):
        updates.append(("logging", dict(logging=logging_config(p["logging"])), enabled_logs(c), sorted(p["logging"])))
    mode = (c.get("accessConfig") or {}).get("authenticationMode")
    if mode and mode != p["authentication_mode"]:
        updates.append(("authentication_mode", dict(accessConfig={"authenticationMode": p["authentication_mode"]}),
                        mode, p["authentication_mode"]))
    if p["version"] and c.get("version") != p["version"]:
        updates.append(("version", dict(version=p["version"]), c.get("version"), p["version"]))
    return updates


def setup_errors(p):
    """Why the setup options (access entries, admins, add-ons) are refused before any call (empty when they are
    not)."""
    if p["state"] != "present":
        return ""
    given = [o for o in SETUP_OPTIONS if p[o]]
    if given and not p["wait"]:
        return (f"{', '.join(given)}: only with wait=true (access entries and add-ons are made once the cluster is "
                "ACTIVE); leave them out of the call that starts the cluster")
    if (p["admin_principal_arns"] or p["grant_caller"]) and not p["admin_policy_associations"]:
        return "admin_policy_associations is required with admin_principal_arns or grant_caller"
    seen = set()
    for entry in p["access_entries"] or []:
        if entry["principal_arn"] in seen:
            return f"access_entries: {entry['principal_arn']} is listed twice"
        if entry["principal_arn"] in (p["admin_principal_arns"] or []):
            return f"{entry['principal_arn']} is in both admin_principal_arns and access_entries: name it once"
        seen.add(entry["principal_arn"])
        refused = check_entry_spec({"kubernetes_groups": [], "policy_associations": [], **entry})
        if refused:
            return f"access_entries ({entry['principal_arn']}): {refused}"
    names = [a["name"] for a in p["addons"] or []]
    twice = sorted({n for n in names if names.count(n) > 1})
    return f"addons: {', '.join(twice)} listed more than once" if twice else ""


def wanted_entries(p, caller):
    """The access entries to make: the admins (the caller first, each once), then access_entries."""
    admins = ([caller["principal_arn"]] if caller else []) + list(p["admin_principal_arns"] or [])
    entries = [dict(principal_arn=arn, type="STANDARD", kubernetes_groups=[],
                    policy_associations=p["admin_policy_associations"]) for arn in dict.fromkeys(admins)]
    own = [e["principal_arn"] for e in p["access_entries"] or []]
    if caller and caller["principal_arn"] in own:
        raise AccessEntryError(f"The caller {caller['principal_arn']} is in access_entries and grant_caller is true: "
                               "name it once (leave it out of access_entries, or set grant_caller to false)")
    return entries + list(p["access_entries"] or [])


def set_up(module, client, name, entries, planned, result):
    """Converge the access entries, then the add-ons, of an ACTIVE cluster (or plan them: check mode; planned - the
    cluster does not exist yet, or is still being created, so nothing is read). Adds their results, `changed` and
    diff to result."""
    p = module.params
    diff = dict(before={}, after={})
    for spec in entries:
        arn = spec["principal_arn"]
        try:
            done = converge_access_entry(client, name, spec, module.check_mode, planned=planned)
        except AccessEntryError as e:
            module.fail_json(msg=str(e), **result)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to manage access entry of {arn} on EKS cluster {name}", **result)
        result["access_entries"].append(dict(principal_arn=arn, changed=done["changed"],
                                             access_entry=done["access_entry"]))
        if done["changed"]:
            diff["before"].setdefault("access_entries", {})[arn] = done["diff"]["before"]
            diff["after"].setdefault("access_entries", {})[arn] = done["diff"]["after"]
    for spec in p["addons"] or []:
        addon = spec["name"]
        try:
            done = converge_addon(client, name, dict(spec, tags=p["tags"]), module.check_mode,
                                  timeout=p["wait_timeout"], planned=planned)
        except AddonError as e:
            module.fail_json(msg=str(e), **result, **({"addon": e.addon} if e.addon is not None else {}))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Failed to manage add-on {addon} of EKS cluster {name}", **result)
        result["addons"].append(dict(name=addon, changed=done["changed"], addon=done["addon"]))
        if done["changed"]:
            diff["before"].setdefault("addons", {})[addon] = done["diff"]["before"]
            diff["after"].setdefault("addons", {})[addon] = done["diff"]["after"]
    if any(r["changed"] for r in result["access_entries"] + result["addons"]):
        result["changed"] = True
    if module._diff:
        result.setdefault("diff", dict(before={}, after={}))
        for side in ("before", "after"):
            result["diff"][side].update(diff[side])


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            version=dict(type="str"),
            role_arn=dict(type="str"),
            subnets=dict(type="list", elements="str"),
            security_groups=dict(type="list", elements="str", default=[]),
            endpoint_public_access=dict(type="bool", default=True),
            endpoint_private_access=dict(type="bool", default=True),
            public_access_cidrs=dict(type="list", elements="str", default=[]),
            service_ipv4_cidr=dict(type="str"),
            authentication_mode=dict(type="str", choices=["API", "API_AND_CONFIG_MAP", "CONFIG_MAP"], default="API"),
            bootstrap_cluster_creator_admin_permissions=dict(type="bool", default=False),
            logging=dict(type="list", elements="str", choices=LOG_TYPES, default=[]),
            tags=dict(type="dict", aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=1800),
            access_entries=dict(type="list", elements="dict", options=dict(
                principal_arn=dict(type="str", required=True),
                type=dict(type="str", choices=ENTRY_TYPES, default="STANDARD"),
                kubernetes_groups=dict(type="list", elements="str", default=[]),
                policy_associations=dict(type="list", elements="dict", default=[], options=POLICY_ASSOCIATIONS_SPEC),
            )),
            admin_principal_arns=dict(type="list", elements="str"),
            grant_caller=dict(type="bool", default=False),
            admin_policy_associations=dict(type="list", elements="dict", options=POLICY_ASSOCIATIONS_SPEC),
            addons=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                version=dict(type="str"),
                configuration_values=dict(type="dict"),
                resolve_conflicts=dict(type="str", choices=RESOLVE_CONFLICTS, default="OVERWRITE"),
            )),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    refused = setup_errors(p)
    if refused:
        module.fail_json(msg=refused)
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=["ResourceInUseException"]))
    result = dict(changed=False, updates=[])
    setup = p["state"] == "present" and p["wait"]  # access entries and add-ons, once the cluster is ACTIVE
    entries = []
    if p["state"] == "present":
        result.update(access_entries=[], addons=[])
        # Who the caller is, before anything is created (a federated user session fails here).
        caller = resolve_caller(module) if setup and p["grant_caller"] else None
        if caller:
            result["caller"] = caller
        try:
            entries = wanted_entries(p, caller) if setup else []
        except AccessEntryError as e:
            module.fail_json(msg=str(e), **result)
    poll = min(10, max(1, p["wait_timeout"] // 60))  # seconds between polls; short timeouts poll faster

    def await_status(wanted, timeout_msg):
        def check():
            c = describe(client, name)
            if c and c.get("status") == "FAILED":
                module.fail_json(msg=f"EKS cluster {name} is FAILED", cluster=to_result(c))
            return c if (c is None and wanted is None) or (c and c.get("status") == wanted) else None
        if wanted is None:
            wait_until(lambda: describe(client, name) is None, p["wait_timeout"], delay=poll, module=module, msg=timeout_msg)
            return None
        return wait_until(check, p["wait_timeout"], delay=poll, module=module, msg=timeout_msg)

    try:
        cluster = describe(client, name)

        if p["state"] == "absent":
            if cluster:
                result["changed"] = True
                if not module.check_mode:
                    if cluster["status"] != "DELETING":
                        client.delete_cluster(name=name, aws_retry=True)
                    if p["wait"]:
                        await_status(None, f"Timed out waiting for EKS cluster {name} to be deleted")
            if module._diff:
                result["diff"] = dict(before=to_result(cluster), after={})
            module.exit_json(cluster={}, **result)

        if cluster is None:
            missing = [o for o in ("role_arn", "subnets") if not p[o]]
            # In check mode the role and subnets may be planned by earlier tasks and have no ids yet.
            if missing and not module.check_mode:
                module.fail_json(msg=f"Creating EKS cluster {name} needs: {', '.join(missing)}")
            result["changed"] = True
            if module._diff:
                result["diff"] = dict(before={}, after=dict(name=name, version=p["version"], status="ACTIVE"))
            if module.check_mode:
                set_up(module, client, name, entries, True, result)
                module.exit_json(cluster={}, **result)
            kwargs = dict(
                name=name, roleArn=p["role_arn"],
                resourcesVpcConfig=dict(
                    subnetIds=p["subnets"], securityGroupIds=p["security_groups"],
                    endpointPublicAccess=p["endpoint_public_access"], endpointPrivateAccess=p["endpoint_private_access"],
                    **({"publicAccessCidrs": p["public_access_cidrs"]}
                       if p["public_access_cidrs"] and p["endpoint_public_access"] else {})),
                accessConfig=dict(authenticationMode=p["authentication_mode"],
                                  bootstrapClusterCreatorAdminPermissions=p["bootstrap_cluster_creator_admin_permissions"]),
                logging=logging_config(p["logging"]),
            )
            if p["version"]:
                kwargs["version"] = p["version"]
            if p["tags"]:
                kwargs["tags"] = p["tags"]
            if p["service_ipv4_cidr"]:
                kwargs["kubernetesNetworkConfig"] = {"serviceIpv4Cidr": p["service_ipv4_cidr"]}
            cluster = create_cluster(client, kwargs)
            if p["wait"]:
                cluster = await_status("ACTIVE", f"Timed out waiting for EKS cluster {name} to become ACTIVE")
                set_up(module, client, name, entries, False, result)
            module.exit_json(cluster=to_result(cluster), **result)

        # Existing cluster: wait-only while it is creating or updating, then converge the updatable settings.
        if cluster["status"] in ("CREATING", "UPDATING"):
            if module.check_mode and setup:  # planned: a cluster still being created has nothing to read yet
                set_up(module, client, name, entries, cluster["status"] == "CREATING", result)
            if not p["wait"] or module.check_mode:
                module.exit_json(cluster=to_result(cluster), **result)
            cluster = await_status("ACTIVE", f"Timed out waiting for EKS cluster {name} to become ACTIVE")
        if cluster["status"] != "ACTIVE":
            module.fail_json(msg=f"EKS cluster {name} is {cluster['status']}", cluster=to_result(cluster))
        vpc = cluster.get("resourcesVpcConfig") or {}
        if p["subnets"] and sorted(vpc.get("subnetIds") or []) != sorted(p["subnets"]):
            module.warn(f"EKS cluster {name} has subnets {vpc.get('subnetIds')}; the module does not change them")

        refused = version_step_error(name, cluster.get("version"), p["version"])
        if refused:
            module.fail_json(msg=refused, cluster=to_result(cluster))
        updates = planned_updates(p, cluster)
        tags_to_set, tags_to_unset = compare_aws_tags(cluster.get("tags") or {}, p["tags"] or {}, p["purge_tags"])
        if p["tags"] is not None and (tags_to_set or tags_to_unset):
            updates.append(("tags", None, cluster.get("tags") or {}, p["tags"]))
        result["updates"] = [u[0] for u in updates]
        result["changed"] = bool(updates)
        if module._diff:
            result["diff"] = dict(before={u[0]: u[2] for u in updates}, after={u[0]: u[3] for u in updates})
        if module.check_mode:
            if setup:
                set_up(module, client, name, entries, False, result)
            module.exit_json(cluster=to_result(cluster), **result)
        for index, (update, kwargs, _before, _after) in enumerate(updates):
            if update == "tags":
                if tags_to_unset:
                    client.untag_resource(resourceArn=cluster["arn"], tagKeys=tags_to_unset, aws_retry=True)
                if tags_to_set:
                    client.tag_resource(resourceArn=cluster["arn"], tags=tags_to_set, aws_retry=True)
                continue
            if update == "version":
                client.update_cluster_version(name=name, aws_retry=True, **kwargs)
            else:
                client.update_cluster_config(name=name, aws_retry=True, **kwargs)
            # EKS allows one update at a time: wait between updates, and at the end only with wait=true.
            if p["wait"] or any(u[1] for u in updates[index + 1:]):
                await_status("ACTIVE", f"Timed out waiting for update {update} of EKS cluster {name}")
        if updates:
            cluster = describe(client, name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage EKS cluster {name}")
    if setup:
        set_up(module, client, name, entries, False, result)
    module.exit_json(cluster=to_result(cluster), **result)


if __name__ == "__main__":
    main()

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
    description: Seconds to wait.
    type: int
    default: 1800
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
from ansible_collections.edgeml.wavelength.plugins.module_utils.wavelength import wait_until

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


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
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=["ResourceInUseException"]))
    result = dict(changed=False, updates=[])
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
            module.exit_json(cluster=to_result(cluster), **result)

        # Existing cluster: wait-only while it is creating or updating, then converge the updatable settings.
        if cluster["status"] in ("CREATING", "UPDATING"):
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
        cluster = describe(client, name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage EKS cluster {name}")
    module.exit_json(cluster=to_result(cluster), **result)


if __name__ == "__main__":
    main()

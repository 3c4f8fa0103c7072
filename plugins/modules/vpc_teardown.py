#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: vpc_teardown
version_added: 0.1.0
short_description: Delete a VPC's subnets, security groups and the VPC, waiting out the interfaces EKS leaves behind
description:
  - Deletes the given security groups, the subnets (all of the VPC's unless O(subnet_ids) is given) and, with
    O(delete_vpc), the VPC itself.
  - EKS and the VPC CNI leave network interfaces in the VPC for minutes after the cluster or its nodes are gone, the
    cluster's cross-account interfaces (description C(Amazon EKS <cluster>), requester-managed, in use until EKS
    deletes them) and the CNI's node interfaces (description C(aws-K8S-<instance id>), tag
    C(node.k8s.amazonaws.com/instance_id)). Until they are gone EC2 answers DependencyViolation.
  - Every round deletes those leftovers that are C(available) (only in O(vpc_id), only these two kinds), then tries
    each deletion still to do; DependencyViolation is retried until O(wait_timeout). Interfaces in use (EKS's) cannot
    be deleted by the account, the module waits for EKS to remove them.
  - On timeout it fails naming what is left and the network interfaces still in the VPC.
  - A VPC that does not exist (any more) is not an error, there is nothing to do.
author:
  - edgeml team
options:
  vpc_id:
    description: The VPC. Nothing outside it is touched.
    type: str
    required: true
  security_group_ids:
    description: Security groups to delete (the caller empties their rules first if they refer to each other).
    type: list
    elements: str
    default: []
  subnet_ids:
    description: Subnets to delete; omitted = every subnet of the VPC.
    type: list
    elements: str
  delete_vpc:
    description: Delete the VPC too, once its security groups and subnets are gone.
    type: bool
    default: true
  delete_leftover_interfaces:
    description:
      - Delete C(available) interfaces left by EKS or the VPC CNI in the VPC (only in O(subnet_ids) when given).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to keep retrying deletions that fail with DependencyViolation.
    type: int
    default: 1200
  poll_interval:
    description: Longest pause between rounds in seconds (pauses start at 2 s, or this if shorter, and double up to it).
    type: int
    default: 15
notes:
  - Supports check mode (reports what would be deleted, waits for nothing) and diff mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Delete the deployment's network, waiting while EKS still holds interfaces in it
  edgeml.wavelength.vpc_teardown:
    vpc_id: vpc-0123456789abcdef0
    security_group_ids: [sg-0123456789abcdef0, sg-0fedcba9876543210]
    wait_timeout: 1200
"""

RETURN = r"""
deleted_network_interfaces:
  description: Leftover interfaces deleted (would be, in check mode).
  returned: always
  type: list
  elements: str
deleted_security_groups:
  description: Security groups deleted (would be, in check mode).
  returned: always
  type: list
  elements: str
deleted_subnets:
  description: Subnets deleted (would be, in check mode).
  returned: always
  type: list
  elements: str
vpc_deleted:
  description: Whether the VPC was deleted (would be, in check mode).
  returned: always
  type: bool
waited:
  description: Seconds spent waiting for dependencies to go.
  returned: always
  type: float
blocking_network_interfaces:
  description: On timeout, the interfaces still in the VPC (id, status, description, subnet, groups, requester-managed).
  returned: on timeout
  type: list
  elements: dict
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

CNI_INSTANCE_TAG = "node.k8s.amazonaws.com/instance_id"
NOT_FOUND = ["InvalidGroup.NotFound", "InvalidSubnetID.NotFound", "InvalidVpcID.NotFound",
             "InvalidNetworkInterfaceID.NotFound"]


def leftover_kind(eni):
    """'VPC CNI' or 'EKS' for the interfaces those leave behind, else None."""
    description = eni.get("Description") or ""
    tags = {t.get("Key") for t in eni.get("TagSet") or []}
    if description.startswith("aws-K8S-") or CNI_INSTANCE_TAG in tags:
        return "VPC CNI"
    if description.startswith("Amazon EKS "):
        return "EKS"
    return None


def deletable(eni):
    """A leftover the account may delete: EKS's or the CNI's, and no longer attached."""
    return eni.get("Status") == "available" and leftover_kind(eni) is not None


def describe_eni(eni):
    return {"id": eni["NetworkInterfaceId"], "status": eni.get("Status"), "description": eni.get("Description") or "",
            "subnet_id": eni.get("SubnetId"), "groups": [g["GroupId"] for g in eni.get("Groups") or []],
            "requester_managed": bool(eni.get("RequesterManaged")),
            "instance_id": (eni.get("Attachment") or {}).get("InstanceId") or ""}


def blocker_text(eni):
    d = describe_eni(eni)
    extra = ", requester-managed" if d["requester_managed"] else ""
    owner = f", instance {d['instance_id']}" if d["instance_id"] else ""
    return (f"{d['id']} ({d['status']}{extra}{owner}, '{d['description']}', {d['subnet_id']}, "
            f"groups {' '.join(d['groups']) or '-'})")


class Teardown:
    def __init__(self, module):
        self.module = module
        self.vpc_id = module.params["vpc_id"]
        self.client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
        self.deleted = {"network_interfaces": [], "security_groups": [], "subnets": [], "vpc": False}

    def call(self, what, method, **kwargs):
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to {what}")

    def paged(self, method, key, **kwargs):
        items, token = [], None
        while True:
            page = self.call(f"{method.replace('_', ' ')} of {self.vpc_id}", method, **kwargs,
                             **({"NextToken": token} if token else {}))
            items += page.get(key) or []
            token = page.get("NextToken")
            if not token:
                return items

    def in_vpc(self):
        return [{"Name": "vpc-id", "Values": [self.vpc_id]}]

    def vpc_exists(self):
        try:
            return bool(self.client.describe_vpcs(VpcIds=[self.vpc_id], aws_retry=True)["Vpcs"])
        except is_boto3_error_code("InvalidVpcID.NotFound"):
            return False
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(e, msg=f"Failed to describe VPC {self.vpc_id}")

    def interfaces(self):
        """The VPC's interfaces; only those in O(subnet_ids) when given (the rest of a live VPC is not ours to touch:
        an interface the VPC CNI just created is available for a moment before it attaches)."""
        wanted = self.module.params["subnet_ids"]
        if wanted == []:
            return []
        in_subnets = [{"Name": "subnet-id", "Values": wanted}] if wanted is not None else []
        return self.paged("describe_network_interfaces", "NetworkInterfaces", Filters=self.in_vpc() + in_subnets)

    def security_groups(self, wanted):
        if not wanted:
            return []
        found = self.paged("describe_security_groups", "SecurityGroups", Filters=self.in_vpc())
        return [g["GroupId"] for g in found if g["GroupId"] in wanted]

    def subnets(self, wanted):
        found = [s["SubnetId"] for s in self.paged("describe_subnets", "Subnets", Filters=self.in_vpc())]
        return found if wanted is None else [s for s in found if s in wanted]

    def others(self, groups, subnets):
        """What else keeps the VPC: subnets and non-default security groups that were not ours to delete."""
        extra = [g["GroupId"] for g in self.paged("describe_security_groups", "SecurityGroups", Filters=self.in_vpc())
                 if g.get("GroupName") != "default" and g["GroupId"] not in groups]
        extra += [s for s in self.subnets(None) if s not in subnets]
        return f". Also in the VPC: {', '.join(extra)}" if extra else ""

    def try_delete(self, what, method, **kwargs):
        """True when deleted (or already gone), False on DependencyViolation (or an interface that is in use)."""
        try:
            getattr(self.client, method)(aws_retry=True, **kwargs)
        except is_boto3_error_code(NOT_FOUND):
            return True
        except is_boto3_error_code(["DependencyViolation", "InvalidNetworkInterface.InUse"]):
            return False
        except is_boto3_error_code("InvalidParameterValue") as e:  # pylint: disable=duplicate-except
            if "in use" in str(e):  # an interface that got attached again: not ours to force
                return False
            self.module.fail_json_aws(e, msg=f"Failed to delete {what}")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.module.fail_json_aws(e, msg=f"Failed to delete {what}")
        return True

    def delete_leftovers(self):
        for eni in self.interfaces():
            if deletable(eni) and self.try_delete(f"network interface {eni['NetworkInterfaceId']}",
                                                  "delete_network_interface",
                                                  NetworkInterfaceId=eni["NetworkInterfaceId"]):
                self.deleted["network_interfaces"].append(eni["NetworkInterfaceId"])


def plan(teardown, p):
    """What exists now and would be deleted: (interfaces, groups, subnets, vpc)."""
    enis = [e["NetworkInterfaceId"] for e in teardown.interfaces() if deletable(e)] \
        if p["delete_leftover_interfaces"] else []
    return enis, teardown.security_groups(p["security_group_ids"]), teardown.subnets(p["subnet_ids"]), p["delete_vpc"]


def run(module, teardown):
    p = module.params
    groups, subnets = teardown.security_groups(p["security_group_ids"]), teardown.subnets(p["subnet_ids"])
    vpc_left = p["delete_vpc"]
    started = time.monotonic()
    deadline, pause = started + p["wait_timeout"], min(2, p["poll_interval"])
    while True:
        if p["delete_leftover_interfaces"]:
            teardown.delete_leftovers()
        for group in list(groups):
            if teardown.try_delete(f"security group {group}", "delete_security_group", GroupId=group):
                groups.remove(group)
                teardown.deleted["security_groups"].append(group)
        for subnet in list(subnets):
            if teardown.try_delete(f"subnet {subnet}", "delete_subnet", SubnetId=subnet):
                subnets.remove(subnet)
                teardown.deleted["subnets"].append(subnet)
        if vpc_left and not groups and not subnets and \
                teardown.try_delete(f"VPC {teardown.vpc_id}", "delete_vpc", VpcId=teardown.vpc_id):
            vpc_left, teardown.deleted["vpc"] = False, True
        if not groups and not subnets and not vpc_left:
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            left = [*(f"security group {g}" for g in groups), *(f"subnet {s}" for s in subnets),
                    *([f"VPC {teardown.vpc_id}"] if vpc_left else [])]
            enis = teardown.interfaces()
            blockers = "; ".join(blocker_text(e) for e in enis) or "none"
            others = teardown.others(groups, subnets) if vpc_left else ""
            module.fail_json(
                msg=f"Timed out after {p['wait_timeout']} s deleting {', '.join(left)}: DependencyViolation. "
                    f"Network interfaces still in {teardown.vpc_id}: {blockers}{others}",
                blocking_network_interfaces=[describe_eni(e) for e in enis],
                **result(teardown, time.monotonic() - started))
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())) or 0.1)
        pause = min(pause * 2, p["poll_interval"])


def result(teardown, waited):
    d = teardown.deleted
    return {"changed": bool(d["network_interfaces"] or d["security_groups"] or d["subnets"] or d["vpc"]),
            "deleted_network_interfaces": d["network_interfaces"], "deleted_security_groups": d["security_groups"],
            "deleted_subnets": d["subnets"], "vpc_deleted": d["vpc"], "waited": round(waited, 1)}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            vpc_id=dict(type="str", required=True),
            security_group_ids=dict(type="list", elements="str", default=[]),
            subnet_ids=dict(type="list", elements="str"),
            delete_vpc=dict(type="bool", default=True),
            delete_leftover_interfaces=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=1200),
            poll_interval=dict(type="int", default=15),
        ),
        supports_check_mode=True,
    )
    teardown = Teardown(module)
    if not teardown.vpc_exists():
        module.exit_json(**result(teardown, 0), **({"diff": {"before": {}, "after": {}}} if module._diff else {}))
    enis, groups, subnets, vpc = plan(teardown, module.params)
    before = {"network_interfaces": enis, "security_groups": groups, "subnets": subnets,
              "vpc": teardown.vpc_id if vpc else ""}
    if module.check_mode:
        teardown.deleted = {"network_interfaces": enis, "security_groups": groups, "subnets": subnets, "vpc": vpc}
        waited = 0
    else:
        waited = run(module, teardown)
    out = result(teardown, waited)
    if module._diff:
        out["diff"] = {"before": before, "after": {}}
    module.exit_json(**out)


if __name__ == "__main__":
    main()

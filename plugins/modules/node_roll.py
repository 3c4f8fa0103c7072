#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: node_roll
version_added: 0.1.0
short_description: Launch-before-terminate roll of a zone's Auto Scaling group (surge, then retire)
description:
  - The AWS side of a node roll in which new nodes serve before old ones go. O(state=surge) launches instances of the
    group's current launch template version next to the old ones; later stages move the pods and the zone's address
    to the new nodes; O(state=retire) then terminates the old instances and any surplus.
  - The current version is the version the group launches from. For a group on C($Default) (as the edge node groups
    are) this is the template's C(DefaultVersionNumber), read with C(DescribeLaunchTemplates); C($Latest) and a
    fixed version number are honoured as well.
  - An instance's version is the one the group reports for it (C(Instances[].LaunchTemplate.Version)). Where that is
    C($Default) or C($Latest) rather than a number, the instance's C(aws:ec2launchtemplate:version) tag is used, and
    without that tag the symbol as the template resolves it now.
  - Live instances are those in lifecycle state C(Pending), C(Pending:Wait), C(Pending:Proceed) or C(InService)
    (not C(Terminating*), C(Detaching), C(Standby) and the like). Fresh instances are live ones launched from the
    current version of the group's template; every other live instance is stale (older version, other template,
    launch configuration).
  - Ready instances are fresh ones in C(InService) with health status C(Healthy).
author:
  - edgeml team
options:
  name:
    description: Name of the Auto Scaling group (C(<deployment>-<zone>) for the edge node groups).
    type: str
    required: true
  size:
    description:
      - The node count wanted in the zone once the roll is over (N).
      - With O(state=surge) the group's desired capacity becomes the number of stale instances plus N, so that N
        fresh instances launch next to the stale ones; without stale instances it becomes N, or the number of live
        instances when that is larger (a surge never scales in). It is never set below the number of live instances,
        so a surge never terminates anything. C(MaxSize) is raised when the new desired capacity is above it (and
        C(MinSize) lowered when it is below it); both are left as they are otherwise.
      - With O(state=retire) N fresh instances stay and every other live instance is terminated, except those in
        O(keep).
    type: int
    required: true
  state:
    description: The step of the roll.
    type: str
    required: true
    choices: [surge, retire]
  keep:
    description:
      - Instance ids that are never terminated, for example the instance that holds the zone's stable address.
      - With O(state=retire), fresh instances in O(keep) are the first to stay among the N; a kept instance that
        would otherwise be terminated (stale, or fresh beyond N) stays in the group and is reported in RV(kept).
      - Ids that are not live instances of the group are ignored.
    type: list
    elements: str
    default: []
notes:
  - With O(state=retire) nothing is terminated until at least N fresh instances are ready (C(InService) and
    C(Healthy)); until then the module changes nothing and returns RV(waiting=true) with a message that says why, so
    a play can retry it with C(until).
  - The fresh instances that stay are chosen in this order - ready before not ready, in O(keep) before not in it,
    oldest launch time first (then instance id). So the surplus that is terminated is the not-ready fresh instances
    and, among the others, the most recently launched ones.
  - Instances are terminated one by one with C(TerminateInstanceInAutoScalingGroup) and
    C(ShouldDecrementDesiredCapacity=true), so the group does not replace them; the desired capacity ends at N plus
    the number of kept instances. When the desired capacity did not match the live instances first it is set to
    their number before any termination, and C(MinSize) is lowered when it is above the final desired capacity (AWS
    refuses to decrement below it). C(MaxSize) is never lowered.
  - Instances launched by a surge are not in RV(fresh) of the same run (AWS launches them after the call returns);
    the next run, or any read of the group, finds them.
  - Supports check mode (reports what would change, changes nothing) and diff mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Launch new-version nodes next to the old ones
  edgeml.wavelength.node_roll:
    name: edgeml-us-east-1-wl1-bos-wlz-1
    size: 1
    state: surge
  register: surge

- name: Terminate the old nodes once the new ones serve (the address holder stays)
  edgeml.wavelength.node_roll:
    name: edgeml-us-east-1-wl1-bos-wlz-1
    size: 1
    state: retire
    keep: [i-0123456789abcdef0]
  register: retire
  until: not retire.waiting
  retries: 30
  delay: 10
"""

RETURN = r"""
current_version:
  description: The template version the group launches from (the template's default version for C($Default)).
  returned: always
  type: int
  sample: 3
launch_template_id:
  description: Id of the group's launch template.
  returned: always
  type: str
  sample: lt-0123456789abcdef0
fresh:
  description: Live instances on the current version, as found at the start of the run.
  returned: always
  type: list
  elements: str
  sample: [i-0fedcba9876543210]
stale:
  description: Live instances on another version or template, as found at the start of the run.
  returned: always
  type: list
  elements: str
  sample: [i-0123456789abcdef0]
desired:
  description: The group's desired capacity after the run (the planned one in check mode).
  returned: always
  type: int
  sample: 2
min_size:
  description: The group's minimum size after the run (the planned one in check mode).
  returned: always
  type: int
max_size:
  description: The group's maximum size after the run (the planned one in check mode).
  returned: always
  type: int
terminated:
  description: Instances terminated by this run (the ones that would be, in check mode). Always empty for a surge.
  returned: always
  type: list
  elements: str
kept:
  description: Instances in O(keep) that a retire would otherwise have terminated; they stay in the group.
  returned: always
  type: list
  elements: str
waiting:
  description:
    - True when a retire terminated nothing because fewer than O(size) fresh instances are ready.
    - Always false for a surge.
  returned: always
  type: bool
msg:
  description: Why a retire is waiting.
  returned: when RV(waiting) is true
  type: str
  sample: >-
    0 of the 1 fresh instances needed are InService and Healthy (i-0fedcba9876543210 Pending/Healthy), nothing
    terminated
instances:
  description: The group's instances as found at the start of the run.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id: {description: Instance id., type: str}
    lifecycle_state: {description: Auto Scaling lifecycle state., type: str, sample: InService}
    health_status: {description: Auto Scaling health status., type: str, sample: Healthy}
    version: {description: Template version the instance was launched from (null when unknown)., type: int}
    launch_time: {description: EC2 launch time (empty when EC2 does not show the instance yet)., type: str}
    live: {description: Whether the instance is Pending or InService., type: bool}
    fresh: {description: Whether it is live and on the current version of the group's template., type: bool}
    ready: {description: Whether it is fresh, InService and Healthy., type: bool}
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

LIVE_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
VERSION_TAG = "aws:ec2launchtemplate:version"


def group_template(group):
    """The group's launch template specification (plain or in a mixed instances policy), or None."""
    spec = group.get("LaunchTemplate")
    if not spec:
        spec = ((group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}).get(
            "LaunchTemplateSpecification")
    return spec or None


def resolve(version, template):
    """A version as given (number, '$Default', '$Latest', None for $Default) -> number, or None."""
    if version in (None, "", "$Default"):
        return template.get("DefaultVersionNumber")
    if version == "$Latest":
        return template.get("LatestVersionNumber")
    try:
        return int(version)
    except (TypeError, ValueError):
        return None


def instance_version(instance, template, ec2_instance):
    """Template version an Auto Scaling instance was launched from; None when it is not from the group's template."""
    spec = instance.get("LaunchTemplate") or {}
    same = (spec.get("LaunchTemplateId") == template["LaunchTemplateId"] if spec.get("LaunchTemplateId")
            else spec.get("LaunchTemplateName") == template["LaunchTemplateName"])
    if not spec or not same:
        return None
    version = spec.get("Version")
    if version not in (None, "", "$Default", "$Latest"):
        return resolve(version, template)
    tags = {t["Key"]: t["Value"] for t in (ec2_instance or {}).get("Tags") or []}
    if str(tags.get(VERSION_TAG, "")).isdigit():
        return int(tags[VERSION_TAG])
    return resolve(version, template)


def classify(group, template, current, ec2_instances):
    """The group's instances as dicts (see RETURN instances), in the group's order."""
    out = []
    for instance in group.get("Instances") or []:
        found = ec2_instances.get(instance["InstanceId"])
        version = instance_version(instance, template, found)
        state, health = instance.get("LifecycleState", ""), instance.get("HealthStatus", "")
        live = state in LIVE_STATES
        fresh = live and version is not None and version == current
        launch = (found or {}).get("LaunchTime")
        out.append({
            "instance_id": instance["InstanceId"],
            "lifecycle_state": state,
            "health_status": health,
            "version": version,
            "launch_time": launch.isoformat() if hasattr(launch, "isoformat") else str(launch or ""),
            "live": live,
            "fresh": fresh,
            "ready": fresh and state == "InService" and health == "Healthy",
        })
    return out


def plan_surge(group, instances, size):
    live = [i for i in instances if i["live"]]
    stale = [i for i in live if not i["fresh"]]
    desired = max(len(stale) + size, len(live))
    return {"desired": desired, "min_size": min(group["MinSize"], desired), "max_size": max(group["MaxSize"], desired),
            "align": None, "terminate": [], "kept": [], "waiting": False}


def survivor_order(keep):
    # Ready first, then kept ones, then oldest launch (an instance EC2 does not show yet counts as newest), then id.
    return lambda i: (not i["ready"], i["instance_id"] not in keep, i["launch_time"] or "~", i["instance_id"])


def plan_retire(group, instances, size, keep):
    live = [i for i in instances if i["live"]]
    fresh = [i for i in live if i["fresh"]]
    ready = [i for i in fresh if i["ready"]]
    unchanged = {"desired": group["DesiredCapacity"], "min_size": group["MinSize"], "max_size": group["MaxSize"],
                 "align": None, "terminate": [], "kept": [], "waiting": False}
    if len(ready) < size:
        not_ready = ", ".join(f"{i['instance_id']} {i['lifecycle_state']}/{i['health_status']}"
                              for i in fresh if not i["ready"])
        msg = f"{len(ready)} of the {size} fresh instances needed are InService and Healthy"
        msg += f" ({not_ready})" if not_ready else " (and none is on its way, run state=surge first)"
        return {**unchanged, "waiting": True, "msg": msg + ", nothing terminated"}
    stay = {i["instance_id"] for i in sorted(fresh, key=survivor_order(keep))[:size]}
    going = [i["instance_id"] for i in live if i["instance_id"] not in stay]
    kept = [i for i in going if i in keep]
    terminate = [i for i in going if i not in keep]
    desired = len(live) - len(terminate)  # = size + len(kept)
    # Each decrement must start from the live count: a desired capacity above it would launch replacements, one
    # below it would make the group scale in an instance of its own choosing (perhaps a kept one).
    align = len(live) if terminate and group["DesiredCapacity"] != len(live) else None
    return {"desired": desired, "min_size": min(group["MinSize"], desired),
            "max_size": max(group["MaxSize"], desired, align or 0), "align": align, "terminate": terminate,
            "kept": kept, "waiting": False}


class Group:
    """The Auto Scaling group and its launch template; the calls that change it (none in check mode)."""

    def __init__(self, module):
        self.module = module
        self.name = module.params["name"]
        self.asg = module.client("autoscaling", retry_decorator=AWSRetry.jittered_backoff(
            catch_extra_error_codes=["ScalingActivityInProgress", "ResourceContention"]))
        self.ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())

    def call(self, client, what, method, **kwargs):
        try:
            return getattr(client, method)(aws_retry=True, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to {what}")

    def describe(self):
        groups = self.call(self.asg, f"describe Auto Scaling group {self.name}", "describe_auto_scaling_groups",
                           AutoScalingGroupNames=[self.name])["AutoScalingGroups"]
        if not groups:
            self.module.fail_json(msg=f"Auto Scaling group {self.name} not found in region {self.module.region}")
        return groups[0]

    def template(self, group):
        spec = group_template(group)
        if spec is None:
            self.module.fail_json(msg=f"Auto Scaling group {self.name} launches from no launch template "
                                  "(launch configuration?); node_roll needs one")
        ident = spec.get("LaunchTemplateId") or spec.get("LaunchTemplateName")
        params = ({"LaunchTemplateIds": [spec["LaunchTemplateId"]]} if spec.get("LaunchTemplateId")
                  else {"LaunchTemplateNames": [spec["LaunchTemplateName"]]})
        missing = f"Launch template {ident} of Auto Scaling group {self.name} not found"
        try:
            found = self.ec2.describe_launch_templates(aws_retry=True, **params)["LaunchTemplates"]
        except is_boto3_error_code(["InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException",
                                    "InvalidLaunchTemplateId.Malformed"]):
            self.module.fail_json(msg=missing)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to describe launch template {ident}")
        if not found:
            self.module.fail_json(msg=missing)
        return found[0], spec.get("Version")

    def ec2_instances(self, ids):
        """{id: EC2 instance} (filter, not InstanceIds: an instance EC2 does not show yet is no error)."""
        out = {}
        for start in range(0, len(ids), 200):
            found = self.call(self.ec2, "describe the group's instances", "describe_instances",
                              Filters=[{"Name": "instance-id", "Values": ids[start:start + 200]}])
            for reservation in found["Reservations"]:
                out.update({i["InstanceId"]: i for i in reservation["Instances"]})
        return out

    def apply(self, group, plan):
        if plan["min_size"] != group["MinSize"] or plan["max_size"] != group["MaxSize"]:
            self.call(self.asg, f"set the sizes of Auto Scaling group {self.name}", "update_auto_scaling_group",
                      AutoScalingGroupName=self.name, MinSize=plan["min_size"], MaxSize=plan["max_size"])
        if plan["align"] is not None:
            self.set_desired(plan["align"])
        for instance_id in plan["terminate"]:
            self.call(self.asg, f"terminate instance {instance_id} of Auto Scaling group {self.name}",
                      "terminate_instance_in_auto_scaling_group", InstanceId=instance_id,
                      ShouldDecrementDesiredCapacity=True)
        if self.describe()["DesiredCapacity"] != plan["desired"]:
            self.set_desired(plan["desired"])

    def set_desired(self, value):
        self.call(self.asg, f"set the desired capacity of Auto Scaling group {self.name} to {value}",
                  "set_desired_capacity", AutoScalingGroupName=self.name, DesiredCapacity=value, HonorCooldown=False)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            size=dict(type="int", required=True),
            state=dict(type="str", required=True, choices=["surge", "retire"]),
            keep=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    size, state, keep = module.params["size"], module.params["state"], set(module.params["keep"])
    if size < 0:
        module.fail_json(msg=f"size must be 0 or more, got {size}")

    aws = Group(module)
    group = aws.describe()
    template, group_version = aws.template(group)
    current = resolve(group_version, template)
    if current is None:
        module.fail_json(msg=f"Auto Scaling group {aws.name} uses launch template version {group_version!r}, which "
                         f"template {template['LaunchTemplateId']} does not resolve")
    ids = [i["InstanceId"] for i in group.get("Instances") or []]
    instances = classify(group, template, current, aws.ec2_instances(ids) if ids else {})
    plan = plan_surge(group, instances, size) if state == "surge" else plan_retire(group, instances, size, keep)

    changed = bool(plan["terminate"]) or plan["desired"] != group["DesiredCapacity"] or \
        plan["min_size"] != group["MinSize"] or plan["max_size"] != group["MaxSize"]
    if changed and not module.check_mode:
        aws.apply(group, plan)

    fresh = [i["instance_id"] for i in instances if i["fresh"]]
    stale = [i["instance_id"] for i in instances if i["live"] and not i["fresh"]]
    result = dict(
        changed=changed, current_version=current, launch_template_id=template["LaunchTemplateId"],
        fresh=fresh, stale=stale, desired=plan["desired"], min_size=plan["min_size"], max_size=plan["max_size"],
        terminated=plan["terminate"], kept=plan["kept"], waiting=plan["waiting"], instances=instances,
    )
    if plan["waiting"]:
        result["msg"] = plan["msg"]
    if module._diff:
        gone = set(plan["terminate"])
        result["diff"] = dict(
            before=dict(desired=group["DesiredCapacity"], min_size=group["MinSize"], max_size=group["MaxSize"],
                        stale=stale, fresh=fresh, terminated=[]),
            after=dict(desired=plan["desired"], min_size=plan["min_size"], max_size=plan["max_size"],
                       stale=[i for i in stale if i not in gone], fresh=[i for i in fresh if i not in gone],
                       terminated=plan["terminate"]),
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()

"""Auto Scaling: Pending -> InService after a delay, launch-template versions honoured, metrics collection
on/off, instance refresh as AWS runs it (StartInstanceRefresh with healthy percentages, warmup and SkipMatching /
DescribeInstanceRefreshes / CancelInstanceRefresh), the EC2 health check: an instance terminated or stopped
outside the group is replaced (DescribeScalingActivities), and AWS's size checks on SetDesiredCapacity and
TerminateInstanceInAutoScalingGroup (moto accepts a desired capacity outside MinSize..MaxSize)."""

import contextvars
import logging
import uuid
from datetime import UTC, datetime

from moto.autoscaling.exceptions import AutoscalingClientError
from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, InstanceState
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.utils import parse_user_data

from .state import LAB, now

log = logging.getLogger(__name__)
_group_version = contextvars.ContextVar("asg_template_version", default=None)
_group_subnet = contextvars.ContextVar("asg_replacement_subnet", default=None)


def _get_lifecycle(self) -> str:
    state = self.__dict__.get("_lab_state", "InService")
    if state == "Pending" and now() >= self._lab_ready:
        state = self._lab_state = "InService"
    return state


def _set_lifecycle(self, value: str) -> None:
    if "_lab_state" not in self.__dict__ and value == "InService":
        value, self._lab_ready = "Pending", LAB.deadline("asg_instance")  # a new instance boots first
    self._lab_state = value


def active_instances(self):
    # Pending instances count toward the desired capacity, as in AWS.
    return [x for x in self.instance_states if x.lifecycle_state in ("Pending", "InService")]


_init_state = InstanceState.__init__


def init_instance_state(self, *args, **kwargs):
    _init_state(self, *args, **kwargs)
    group, self._lab_template_version = self.auto_scaling_group, None
    if group is not None and group.ec2_launch_template is not None:
        version = getattr(group, "launch_template_version", None) or "$Default"
        self._lab_template_version = group.ec2_launch_template.get_version(version).number


def instance_launch_template(self):
    # AWS reports the template version an instance was launched from (moto: the template's current default),
    # which is what tells a stale instance after a new default version.
    group = self.auto_scaling_group
    if group is None or group.ec2_launch_template is None:
        return None
    version = self.__dict__.get("_lab_template_version") or group.ec2_launch_template.default_version_number
    return {"LaunchTemplateId": group.ec2_launch_template.id, "LaunchTemplateName": group.ec2_launch_template.name,
            "Version": str(version)}


_create_version = LaunchTemplate.create_version


def create_version(self, data, description):
    # moto wraps UserData in Base64EncodedString on CreateLaunchTemplate only; a later version's plain str fails
    # an assertion when an ASG launches from it (500 on scale-out or instance refresh).
    if isinstance(data.get("UserData"), str):
        data = {**data, "UserData": parse_user_data(data["UserData"])}
    return _create_version(self, data, description)


_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances


def replace_autoscaling_group_instances(self, count_needed, propagated_tags):
    # moto launches with the template's default version; AWS uses the group's ($Latest, $Default or N).
    token = _group_version.set(getattr(self, "launch_template_version", None))
    try:
        return _replace(self, count_needed, propagated_tags)
    finally:
        _group_version.reset(token)


def _wrap_run_instances(inner):
    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        version = _group_version.get()
        if version and kwargs.get("launch_template"):
            kwargs["launch_template"] = dict(kwargs["launch_template"], Version=version)
        if _group_subnet.get():  # a health replacement: in the zone of the instance it replaces
            kwargs["subnet_id"] = _group_subnet.get()
        return inner(self, image_id, count, user_data, security_group_names, **kwargs)
    return run_instances


# -- EC2 health check: instances terminated/stopped outside the group are replaced ----------------------------

_DOWN = ("stopping", "stopped", "shutting-down", "terminated")  # EC2 status checks fail: Unhealthy
_activities: dict = {}  # (account, region, group) -> [activity dicts], newest last
_checking = False  # set while the lock holder replaces instances (replacing must not re-enter the check)


def _stamp_down(inner):
    def wrapper(self, *args, **kwargs):
        if self.state not in _DOWN:
            self._lab_down_at = now()  # the health check's delay runs from here
        return inner(self, *args, **kwargs)
    return wrapper


def _clear_down(inner):
    def wrapper(self, *args, **kwargs):
        self.__dict__.pop("_lab_down_at", None)
        return inner(self, *args, **kwargs)
    return wrapper


def _activity(backend, group, description: str, cause: str, status: str = "Successful", message: str = ""):
    at = datetime.now(UTC)
    item = {"ActivityId": str(uuid.uuid4()), "AutoScalingGroupName": group.name, "Description": description,
            "Cause": f"At {at:%Y-%m-%dT%H:%M:%SZ} {cause}", "StartTime": at, "EndTime": at, "StatusCode": status,
            "Progress": 100, "Details": "{}", "AutoScalingGroupARN": group.arn}
    if message:
        item["StatusMessage"] = message
    _activities.setdefault((backend.account_id, backend.region_name, group.name), []).append(item)


def _launch(backend, group, subnet: str | None, reason: str) -> None:
    """Back to the desired capacity (moto launches the missing instances; they start Pending)."""
    before = {s.instance.id for s in group.instance_states}
    capacity = len(group.active_instances())
    token = _group_subnet.set(subnet)
    try:
        group.set_desired_capacity(group.desired_capacity)
    except Exception as e:  # as AWS: a failed launch is a failed activity, retried by a later check
        log.warning("ASG %s: launching a replacement failed: %s", group.name, e)
        group._lab_retry_at = now() + LAB.delays["asg_health"]
        _activity(backend, group, "Launching a new EC2 instance.  Status Reason: " + str(e), reason, "Failed", str(e))
        return
    finally:
        _group_subnet.reset(token)
    group.__dict__.pop("_lab_retry_at", None)
    for state in group.instance_states:
        if state.instance.id not in before:
            capacity += 1
            _activity(backend, group, f"Launching a new EC2 instance: {state.instance.id}",
                      f"{reason}, increasing the capacity from {capacity - 1} to {capacity}.")


def _check_group(backend, group) -> None:
    subnets = [s for s in (group.vpc_zone_identifier or "").split(",") if s]
    for state in list(group.instance_states):
        instance = state.instance
        marked = "_lab_replace_at" in state.__dict__  # once Unhealthy, replaced even if started again
        if (instance.state not in _DOWN and not marked) or state.lifecycle_state not in ("Pending", "InService"):
            continue
        if not marked:
            state.health_status = "Unhealthy"
            down_at = instance.__dict__.get("_lab_down_at", now())
            state._lab_replace_at = down_at + LAB.delays["asg_health"]
        if now() < state._lab_replace_at:
            continue
        # Out of the group (the instance itself stays in EC2, terminated), then a replacement.
        group.instance_states = [s for s in group.instance_states if s is not state]
        if instance.state != "terminated":
            backend.ec2_backend.terminate_instances([instance.id])
        _activity(backend, group, f"Terminating EC2 instance: {instance.id}",
                  "an instance was taken out of service in response to an EC2 instance status check failure.")
        subnet = instance.subnet_id if instance.subnet_id in subnets else None
        _launch(backend, group, subnet, "an instance was started in response to a difference between desired and "
                "actual capacity")
    retry_at = group.__dict__.get("_lab_retry_at")
    if retry_at is not None and now() >= retry_at:
        if len(group.active_instances()) < (group.desired_capacity or 0):
            _launch(backend, group, None, "an instance was started in response to a difference between desired "
                    "and actual capacity")
        else:
            group.__dict__.pop("_lab_retry_at", None)


def check_health(backend) -> None:
    """The EC2 health check, run whenever the groups are read (as the Pending -> InService transition)."""
    global _checking
    with LAB.lock:
        if _checking:
            return
        _checking = True
        try:
            for group in list(backend.autoscaling_groups.values()):
                _check_group(backend, group)
            step_refreshes(backend)
        finally:
            _checking = False


def notify_terminate_instances(self, instance_ids) -> None:
    # moto drops instances terminated through EC2 from their group and relaunches at once; AWS's health check
    # first sees the instance Unhealthy and replaces it a little later (check_health).
    check_health(self)


def _checked(inner):
    def method(self, *args, **kwargs):
        check_health(self)
        return inner(self, *args, **kwargs)
    return method


def describe_scaling_activities(self) -> ActionResult:
    check_health(self.autoscaling_backend)
    name, ids = self._get_param("AutoScalingGroupName"), self._get_param("ActivityIds") or []
    with LAB.lock:
        found = [a for (account, region, group), items in _activities.items()
                 if account == self.current_account and region == self.region and (not name or group == name)
                 for a in items if not ids or a["ActivityId"] in ids]
    found.sort(key=lambda a: a["StartTime"], reverse=True)
    return ActionResult({"Activities": found[:self._get_int_param("MaxRecords", 100)]})


def disable_metrics_collection(self) -> ActionResult:
    group = self.autoscaling_backend.describe_auto_scaling_groups([self._get_param("AutoScalingGroupName")])[0]
    metrics = self._get_param("Metrics") or []
    group.metrics = [m for m in group.metrics if metrics and m not in metrics]
    return EmptyResult()


def _group(self):
    name = self._get_param("AutoScalingGroupName")
    groups = self.autoscaling_backend.describe_auto_scaling_groups([name])
    if not groups:
        raise AutoscalingClientError("ValidationError", f"AutoScalingGroup name not found - {name}")
    return groups[0]


def _refreshes(self, name: str) -> list:
    key = (self.current_account, self.region, name)
    return LAB.instance_refreshes.setdefault(key, [])


# -- Instance refresh as AWS runs it ----------------------------------------------------------------------------
# MinHealthyPercentage (default 90) and MaxHealthyPercentage (default 100, 100..200, at most 100 above the minimum):
# with a maximum of 100 a batch of old instances is terminated, then replaced (batch = desired - healthy minimum, at
# least 1: a minimum of 100 replaces one at a time); above 100 replacements are launched first, up to the maximum,
# and old instances are terminated only while the healthy count stays at the minimum. A new instance counts as
# healthy once InService for InstanceWarmup seconds (default the group's health check grace period; capped by the
# lab delay refresh_warmup). SkipMatching leaves instances already on the group's template version. Each batch
# waits for the previous one. Checkpoints are not emulated. Progress is made whenever the groups are read.


def _pct(prefs: dict, key: str, default: int) -> int:
    value = prefs.get(key)
    return default if value in (None, "") else int(value)


def _validate_preferences(prefs: dict) -> None:
    low, high = _pct(prefs, "MinHealthyPercentage", 90), _pct(prefs, "MaxHealthyPercentage", 100)
    if not 0 <= low <= 100:
        raise AutoscalingClientError("ValidationError", "MinHealthyPercentage must be between 0 and 100.")
    if not 100 <= high <= 200:
        raise AutoscalingClientError("ValidationError", "MaxHealthyPercentage must be between 100 and 200.")
    if high - low > 100:
        raise AutoscalingClientError(
            "ValidationError", "The difference between MaxHealthyPercentage and MinHealthyPercentage cannot be "
            "greater than 100.")


def _warm(state, warmup: float) -> bool:
    return state.lifecycle_state == "InService" and now() >= state.__dict__.get("_lab_ready", 0.0) + warmup


def _replace_in(backend, group, count: int, subnet: str | None, cause: str) -> None:
    """Launch `count` instances from the group's template version (in `subnet`'s zone when given)."""
    before = {s.instance.id for s in group.instance_states}
    token = _group_subnet.set(subnet)
    try:
        group.replace_autoscaling_group_instances(count, group.get_propagated_tags())
    finally:
        _group_subnet.reset(token)
    for state in group.instance_states:
        if state.instance.id not in before:
            _activity(backend, group, f"Launching a new EC2 instance: {state.instance.id}", cause)


def _step_refresh(backend, group, refresh: dict) -> None:
    if refresh["Status"] not in ("Pending", "InProgress"):
        return
    refresh["Status"] = "InProgress"
    prefs = refresh["Preferences"]
    desired = group.desired_capacity or 0
    low, high = _pct(prefs, "MinHealthyPercentage", 90), _pct(prefs, "MaxHealthyPercentage", 100)
    grace = getattr(group, "health_check_grace_period", None) or 0
    warmup = min(float(prefs.get("InstanceWarmup") or grace), LAB.delays["refresh_warmup"])
    subnets = [s for s in (group.vpc_zone_identifier or "").split(",") if s]
    old = [s for s in group.instance_states if s.instance.id in refresh["_old"]]
    new = [s for s in group.instance_states if s.instance.id not in refresh["_old"]]
    warm = [s for s in new if _warm(s, warmup)]
    if not old and len(warm) >= desired:
        refresh.update(Status="Successful", EndTime=datetime.now(UTC))
        return
    if len(warm) < len(new):
        return  # the batch in flight must be healthy and warm first
    cause = f"an instance was launched in response to an instance refresh {refresh['InstanceRefreshId']}."
    ceiling = max(desired, desired * high // 100)
    if high > 100 and len(group.instance_states) < ceiling and len(new) < desired and old:
        count = min(ceiling - len(group.instance_states), desired - len(new), len(old))
        for state in old[:count]:  # each replacement in the zone of the instance it replaces
            subnet = state.instance.subnet_id if state.instance.subnet_id in subnets else None
            _replace_in(backend, group, 1, subnet, cause)
        return
    healthy = len(warm) + sum(s.lifecycle_state == "InService" for s in old)
    minimum = -(-desired * low // 100)  # ceil
    batch = healthy - minimum if high > 100 else max(1, desired - minimum)
    for state in old[:max(0, min(batch, len(old)))]:
        group.instance_states = [s for s in group.instance_states if s is not state]
        backend.ec2_backend.terminate_instances([state.instance.id])
        _activity(backend, group, f"Terminating EC2 instance: {state.instance.id}",
                  f"an instance was taken out of service in response to an instance refresh "
                  f"{refresh['InstanceRefreshId']}.")
        missing = desired - len(group.active_instances())
        if missing > 0:
            subnet = state.instance.subnet_id if state.instance.subnet_id in subnets else None
            _replace_in(backend, group, missing, subnet, cause)


def _progress(refresh: dict, group) -> dict:
    if refresh["Status"] in ("Pending", "InProgress"):
        remaining = [s for s in group.instance_states if s.instance.id in refresh["_old"]]
        total = max(refresh["_total"], 1)
        refresh["InstancesToUpdate"] = len(remaining)
        refresh["PercentageComplete"] = 100 * (refresh["_total"] - len(remaining)) // total
    if refresh["Status"] == "Successful":
        refresh.update(PercentageComplete=100, InstancesToUpdate=0)
    return {k: v for k, v in refresh.items() if not k.startswith("_")}


def step_refreshes(backend) -> None:
    for (account, region, name), refreshes in list(LAB.instance_refreshes.items()):
        group = backend.autoscaling_groups.get(name)
        if group is None or account != backend.account_id or region != backend.region_name:
            continue
        for refresh in refreshes:
            _step_refresh(backend, group, refresh)


def start_instance_refresh(self) -> ActionResult:
    group = _group(self)
    prefs = self._get_param("Preferences") or {}
    _validate_preferences(prefs)
    with LAB.lock:
        refreshes = _refreshes(self, group.name)
        if any(_progress(r, group)["Status"] in ("Pending", "InProgress", "Cancelling") for r in refreshes):
            raise AutoscalingClientError(
                "InstanceRefreshInProgress",
                "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.")
        target = str(group.ec2_launch_template.get_version(
            getattr(group, "launch_template_version", None) or "$Default").number) if group.ec2_launch_template \
            else None
        skip = str(prefs.get("SkipMatching", "")).lower() == "true"
        old = [s.instance.id for s in group.instance_states
               if not (skip and target and (instance_launch_template(s) or {}).get("Version") == target)]
        refresh = {"InstanceRefreshId": str(uuid.uuid4()), "AutoScalingGroupName": group.name,
                   "Status": "Pending", "StartTime": datetime.now(UTC), "PercentageComplete": 0,
                   "InstancesToUpdate": len(old), "Preferences": prefs, "_old": set(old), "_total": len(old)}
        refreshes.append(refresh)
        _step_refresh(self.autoscaling_backend, group, refresh)
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def describe_instance_refreshes(self) -> ActionResult:
    group = _group(self)
    ids = self._get_param("InstanceRefreshIds") or []
    check_health(self.autoscaling_backend)
    with LAB.lock:
        out = [_progress(r, group) for r in reversed(_refreshes(self, group.name))
               if not ids or r["InstanceRefreshId"] in ids]
    return ActionResult({"InstanceRefreshes": out})


def cancel_instance_refresh(self) -> ActionResult:
    group = _group(self)
    with LAB.lock:
        active = [r for r in _refreshes(self, group.name) if _progress(r, group)["Status"] in ("Pending", "InProgress")]
        if not active:
            raise AutoscalingClientError("ActiveInstanceRefreshNotFound",
                                         f"No in progress or pending Instance Refresh found for Auto Scaling "
                                         f"group {group.name}")
        active[0].update(Status="Cancelled", EndTime=datetime.now(UTC))
    return ActionResult({"InstanceRefreshId": active[0]["InstanceRefreshId"]})


# -- Size checks moto skips --------------------------------------------------------------------------------------

def set_desired_capacity(self) -> ActionResult:
    # AWS refuses a desired capacity outside MinSize..MaxSize (moto sets it and launches or terminates).
    group = _group(self)
    value = self._get_int_param("DesiredCapacity")
    if value is not None and value > group.max_size:
        raise AutoscalingClientError(
            "ValidationError", f"New SetDesiredCapacity value {value} is above max value {group.max_size} for the "
            "AutoScalingGroup.")
    if value is not None and value < group.min_size:
        raise AutoscalingClientError(
            "ValidationError", f"New SetDesiredCapacity value {value} is below min value {group.min_size} for the "
            "AutoScalingGroup.")
    return _set_desired_capacity(self)


def terminate_instance_in_auto_scaling_group(self) -> ActionResult:
    # AWS: an instance of no group is a ValidationError (moto: a 500), and a decrement below MinSize is refused.
    instance_id = self._get_param("InstanceId")
    group = next((g for g in self.autoscaling_backend.autoscaling_groups.values()
                  if any(s.instance.id == instance_id for s in g.instance_states)), None)
    if group is None:
        raise AutoscalingClientError(
            "ValidationError", f"Instance Id not found - No managed instance found for instance ID: {instance_id}.")
    decrement = self._get_bool_param("ShouldDecrementDesiredCapacity", False)
    if decrement and (group.desired_capacity or 0) <= group.min_size:
        raise AutoscalingClientError(
            "ValidationError", f"Currently, desiredSize equals minSize ({group.min_size}). Terminating instance "
            "without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity "
            "flag to false or lower group's min size.")
    return _terminate_instance(self)


_set_desired_capacity = AutoScalingResponse.set_desired_capacity
_terminate_instance = AutoScalingResponse.terminate_instance_in_auto_scaling_group


def install() -> None:
    InstanceState.lifecycle_state = property(_get_lifecycle, _set_lifecycle)
    InstanceState.__init__ = init_instance_state
    LaunchTemplate.create_version = create_version
    InstanceState.launch_template = property(instance_launch_template)
    FakeAutoScalingGroup.active_instances = active_instances
    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances
    # wraps the Wavelength wrapper: install ec2_wavelength first
    InstanceBackend.run_instances = _wrap_run_instances(InstanceBackend.run_instances)
    Instance.terminate = _stamp_down(Instance.terminate)  # wraps the Wavelength wrapper too
    Instance.stop = _stamp_down(Instance.stop)
    Instance.start = _clear_down(Instance.start)
    for name in ("describe_auto_scaling_groups", "describe_auto_scaling_instances"):
        setattr(AutoScalingBackend, name, _checked(getattr(AutoScalingBackend, name)))
    AutoScalingBackend.notify_terminate_instances = notify_terminate_instances
    LAB.reset_hooks.append(_activities.clear)
    for fn in (disable_metrics_collection, start_instance_refresh, describe_instance_refreshes,
               cancel_instance_refresh, describe_scaling_activities, set_desired_capacity,
               terminate_instance_in_auto_scaling_group):
        setattr(AutoScalingResponse, fn.__name__, fn)

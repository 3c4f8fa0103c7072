"""Auto Scaling: Pending -> InService after a delay, launch-template versions honoured, metrics collection
on/off, and instance refresh (StartInstanceRefresh / DescribeInstanceRefreshes / CancelInstanceRefresh)."""

import contextvars
import uuid
from datetime import UTC, datetime

from moto.autoscaling.exceptions import AutoscalingClientError
from moto.autoscaling.models import FakeAutoScalingGroup, InstanceState
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.utils import parse_user_data

from .state import LAB, now

_group_version = contextvars.ContextVar("asg_template_version", default=None)


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
        return inner(self, image_id, count, user_data, security_group_names, **kwargs)
    return run_instances


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


def _progress(refresh: dict, group) -> dict:
    if refresh["Status"] == "InProgress":
        states = [s for s in group.instance_states if s.instance.id not in refresh["_old"]]
        ready = [s for s in states if s.lifecycle_state == "InService"]
        total = max(len(refresh["_old"]), 1)
        refresh["PercentageComplete"] = min(100, 100 * len(ready) // total)
        refresh["InstancesToUpdate"] = max(0, total - len(ready))
        if len(ready) >= len(refresh["_old"]):
            refresh.update(Status="Successful", EndTime=datetime.now(UTC))
    return {k: v for k, v in refresh.items() if not k.startswith("_")}


def start_instance_refresh(self) -> ActionResult:
    group = _group(self)
    with LAB.lock:
        refreshes = _refreshes(self, group.name)
        if any(_progress(r, group)["Status"] in ("Pending", "InProgress") for r in refreshes):
            raise AutoscalingClientError(
                "InstanceRefreshInProgress",
                "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.")
        old = [s.instance.id for s in group.instance_states]
        refresh = {"InstanceRefreshId": str(uuid.uuid4()), "AutoScalingGroupName": group.name,
                   "Status": "InProgress", "StartTime": datetime.now(UTC), "PercentageComplete": 0,
                   "InstancesToUpdate": len(old), "Preferences": self._get_param("Preferences") or {},
                   "_old": set(old)}
        refreshes.append(refresh)
    # Replace every instance at once: moto relaunches to the desired capacity (new ones start Pending).
    for instance_id in old:
        self.autoscaling_backend.terminate_instance(instance_id, should_decrement=False)
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def describe_instance_refreshes(self) -> ActionResult:
    group = _group(self)
    ids = self._get_param("InstanceRefreshIds") or []
    with LAB.lock:
        out = [_progress(r, group) for r in reversed(_refreshes(self, group.name))
               if not ids or r["InstanceRefreshId"] in ids]
    return ActionResult({"InstanceRefreshes": out})


def cancel_instance_refresh(self) -> ActionResult:
    group = _group(self)
    with LAB.lock:
        active = [r for r in _refreshes(self, group.name) if _progress(r, group)["Status"] == "InProgress"]
        if not active:
            raise AutoscalingClientError("ActiveInstanceRefreshNotFound",
                                         f"No in progress or pending Instance Refresh found for Auto Scaling "
                                         f"group {group.name}")
        active[0].update(Status="Cancelled", EndTime=datetime.now(UTC))
    return ActionResult({"InstanceRefreshId": active[0]["InstanceRefreshId"]})


def install() -> None:
    InstanceState.lifecycle_state = property(_get_lifecycle, _set_lifecycle)
    InstanceState.__init__ = init_instance_state
    LaunchTemplate.create_version = create_version
    InstanceState.launch_template = property(instance_launch_template)
    FakeAutoScalingGroup.active_instances = active_instances
    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances
    # wraps the Wavelength wrapper: install ec2_wavelength first
    InstanceBackend.run_instances = _wrap_run_instances(InstanceBackend.run_instances)
    for fn in (disable_metrics_collection, start_instance_refresh, describe_instance_refreshes,
               cancel_instance_refresh):
        setattr(AutoScalingResponse, fn.__name__, fn)

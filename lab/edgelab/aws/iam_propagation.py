"""IAM eventual consistency where the product meets it: a new role or instance profile is not yet usable by other
services for a while (the lab delay `iam_propagation`, default 2 s; seconds on AWS).

- Auto Scaling: CreateAutoScalingGroup / UpdateAutoScalingGroup with a launch template whose instance profile is
  that new -> ValidationError "You must use a valid fully-formed launch template. Value (<name>) for parameter
  iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name" (the group is not created).
- EKS: CreateCluster with a role that new -> InvalidParameterException "Role with arn: <arn>, could not be assumed
  because it does not exist or the trusted entity is not correct".
The clock of an instance profile restarts when a role is added to it (AWS propagates that too).
"""

from datetime import UTC, datetime

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import AutoScalingBackend
from moto.eks.exceptions import InvalidParameterException
from moto.eks.models import EKSBackend
from moto.iam.models import IAMBackend, iam_backends

from .state import LAB


def _aware(stamp):
    return stamp.replace(tzinfo=UTC) if stamp is not None and stamp.tzinfo is None else stamp  # moto's are naive UTC


def _young(created) -> bool:
    created = _aware(created)
    return created is not None and (datetime.now(UTC) - created).total_seconds() < LAB.delays["iam_propagation"]


def _iam(account: str):
    return iam_backends[account]["aws"]


def _profile_young(account: str, profile: dict) -> str:
    """The instance profile's name when it is still propagating, else ''."""
    iam = _iam(account)
    name = profile.get("Name") or (profile.get("Arn") or "").rsplit("/", 1)[-1]
    found = next((p for p in iam.instance_profiles.values() if p.name == name), None)
    if found is None:
        return ""
    stamp = max(filter(None, [_aware(found.create_date), getattr(found, "_lab_role_added", None)]))
    return name if _young(stamp) else ""


def _template_data(backend, template: dict | None) -> dict:
    if not template:
        return {}
    ec2 = backend.ec2_backend
    try:
        lt = (ec2.get_launch_template(template["LaunchTemplateId"]) if template.get("LaunchTemplateId")
              else ec2.get_launch_template_by_name(template.get("LaunchTemplateName", "")))
        return lt.get_version(template.get("Version") or "$Default").data or {}
    except Exception:  # an unknown template is moto's own error to raise
        return {}


def _check_group(backend, template: dict | None) -> None:
    profile = _template_data(backend, template).get("IamInstanceProfile") or {}
    name = _profile_young(backend.account_id, profile) if profile else ""
    if name:
        raise ValidationError(
            f"You must use a valid fully-formed launch template. Value ({name}) for parameter "
            "iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")


def _wrap_group(inner):
    def method(self, *args, **kwargs):
        _check_group(self, kwargs.get("launch_template"))
        return inner(self, *args, **kwargs)
    return method


def _wrap_cluster(inner):
    def create_cluster(self, name, *args, **kwargs):
        arn = kwargs.get("role_arn") or (args[0] if args else "")
        role = next((r for r in _iam(self.account_id).roles.values() if r.arn == arn), None)
        if role is not None and _young(role.create_date):
            raise InvalidParameterException(
                clusterName=name, nodegroupName=None, addonName=None,
                message=f"Role with arn: {arn}, could not be assumed because it does not exist or the trusted entity "
                "is not correct")
        return inner(self, name, *args, **kwargs)
    return create_cluster


def _wrap_add_role(inner):
    def add_role_to_instance_profile(self, profile_name, role_name):
        result = inner(self, profile_name, role_name)
        profile = self.get_instance_profile(profile_name)
        profile._lab_role_added = datetime.now(UTC)
        return result
    return add_role_to_instance_profile


def install() -> None:
    for name in ("create_auto_scaling_group", "update_auto_scaling_group"):
        setattr(AutoScalingBackend, name, _wrap_group(getattr(AutoScalingBackend, name)))
    EKSBackend.create_cluster = _wrap_cluster(EKSBackend.create_cluster)
    IAMBackend.add_role_to_instance_profile = _wrap_add_role(IAMBackend.add_role_to_instance_profile)

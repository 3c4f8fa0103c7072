"""SSM EKS-optimized AL2023 AMI parameters, pointing at AMIs registered in moto's EC2 (every region), for the
Kubernetes versions EKS offers on the lab's day (standard and extended support: eks.CALENDAR)."""

import hashlib
from datetime import UTC, datetime

from moto.ec2.models.amis import Ami, AmiBackend
from moto.ssm.models import Parameter, ParameterDict

from .eks import supported_versions

VERSIONS = supported_versions()
PREFIX = "/aws/service/eks/optimized-ami/"
EKS_AMI_OWNER = "602401143452"  # the account that publishes the EKS AMIs
# An AMI release of awslabs/amazon-eks-ami with AL2023 standard x86_64 AMIs for 1.31-1.37.
RELEASE = "v20261119"
RELEASE_DATE = datetime(2026, 11, 19, tzinfo=UTC)


def param_name(version: str) -> str:
    return f"{PREFIX}{version}/amazon-linux-2023/x86_64/standard/recommended/image_id"


def ami_id(region: str, version: str, release: str = RELEASE) -> str:
    seed = f"eks-al2023-{region}-{version}" + ("" if release == RELEASE else f"-{release}")
    return "ami-" + hashlib.sha256(seed.encode()).hexdigest()[:17]


def _register(backend, version: str, release: str) -> str:
    image = ami_id(backend.region_name, version, release)
    backend.amis[image] = Ami(
        backend, image, name=f"amazon-eks-node-al2023-x86_64-standard-{version}-{release}",
        description=f"EKS-optimized Kubernetes node based on Amazon Linux 2023, (k8s: {version})",
        owner_id=EKS_AMI_OWNER, owner_alias="amazon", public=True, virtualization_type="hvm",
        architecture="x86_64", root_device_type="ebs", root_device_name="/dev/xvda", hypervisor="xen",
        creation_date=RELEASE_DATE)
    return image


def publish(region: str, version: str, release: str) -> str:
    """AWS publishes a new EKS AMI release: register it and point the recommended parameter at it (a new
    parameter version). For tests of AMI pinning: POST /_lab/ami {"region", "version", "release"}."""
    from moto.ec2.models import ec2_backends
    from moto.ssm.models import ssm_backends

    from edgelab import config
    if version not in VERSIONS or not release:
        raise ValueError(f"version must be one of {VERSIONS} and release non-empty")
    image = _register(ec2_backends[config.ACCOUNT_ID][region], version, release)
    params = ssm_backends[config.ACCOUNT_ID][region]._parameters
    params[param_name(version)]  # loads the seeded versions first
    history = dict.__getitem__(params, param_name(version))
    history.append(Parameter(
        account_id=config.ACCOUNT_ID, name=param_name(version), value=image, parameter_type="String",
        description=None, allowed_pattern=None, keyid=None, last_modified_date=datetime.now(UTC),
        version=len(history) + 1, data_type="aws:ec2:image"))
    return image


_load_amis = AmiBackend._load_amis


def load_amis(self) -> None:
    _load_amis(self)
    for version in VERSIONS:
        _register(self, version, RELEASE)


_check_loading = ParameterDict._check_loading_status


def check_loading_status(self, key) -> None:
    _check_loading(self, key)
    if str(key or "").startswith(PREFIX) and not getattr(self, "eks_amis_loaded", False):
        self.eks_amis_loaded = True
        for version in VERSIONS:
            super(ParameterDict, self).__getitem__(param_name(version)).append(Parameter(
                account_id=self.account_id, name=param_name(version), value=ami_id(self.region_name, version),
                parameter_type="String", description=None, allowed_pattern=None, keyid=None,
                last_modified_date=datetime.now(UTC), version=1, data_type="aws:ec2:image"))


def install() -> None:
    AmiBackend._load_amis = load_amis
    ParameterDict._check_loading_status = check_loading_status

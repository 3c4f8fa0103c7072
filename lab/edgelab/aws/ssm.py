"""SSM EKS-optimized AL2023 AMI parameters, pointing at AMIs registered in moto's EC2 (every region), for the
Kubernetes versions EKS offers on the lab's day (standard and extended support: eks.CALENDAR) and the AL2023 variants
AWS publishes (x86_64 and arm64; standard, nvidia, and neuron for x86_64)."""

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


STANDARD = "x86_64/standard"
VARIANTS = (STANDARD, "x86_64/nvidia", "x86_64/neuron", "arm64/standard", "arm64/nvidia")


def param_name(version: str, variant: str = STANDARD) -> str:
    return f"{PREFIX}{version}/amazon-linux-2023/{variant}/recommended/image_id"


def ami_id(region: str, version: str, release: str = RELEASE, variant: str = STANDARD) -> str:
    seed = (f"eks-al2023-{region}-{version}" + ("" if release == RELEASE else f"-{release}")
            + ("" if variant == STANDARD else f"-{variant}"))
    return "ami-" + hashlib.sha256(seed.encode()).hexdigest()[:17]


def _register(backend, version: str, release: str, variant: str = STANDARD) -> str:
    image = ami_id(backend.region_name, version, release, variant)
    arch, flavour = variant.split("/")
    backend.amis[image] = Ami(
        backend, image, name=f"amazon-eks-node-al2023-{arch}-{flavour}-{version}-{release}",
        description=f"EKS-optimized Kubernetes node based on Amazon Linux 2023, (k8s: {version})",
        owner_id=EKS_AMI_OWNER, owner_alias="amazon", public=True, virtualization_type="hvm",
        architecture=arch, root_device_type="ebs", root_device_name="/dev/xvda", hypervisor="xen",
        creation_date=RELEASE_DATE)
    return image


def publish(region: str, version: str, release: str, variant: str = STANDARD) -> str:
    """AWS publishes a new EKS AMI release: register it and point the recommended parameter at it (a new
    parameter version). For tests of AMI pinning: POST /_lab/ami {"region", "version", "release"}."""
    from moto.ec2.models import ec2_backends
    from moto.ssm.models import ssm_backends

    from edgelab import config
    if version not in VERSIONS or not release or variant not in VARIANTS:
        raise ValueError(f"version must be one of {VERSIONS}, variant one of {VARIANTS} and release non-empty")
    image = _register(ec2_backends[config.ACCOUNT_ID][region], version, release, variant)
    params = ssm_backends[config.ACCOUNT_ID][region]._parameters
    name = param_name(version, variant)
    params[name]  # loads the seeded versions first
    history = dict.__getitem__(params, name)
    history.append(Parameter(
        account_id=config.ACCOUNT_ID, name=name, value=image, parameter_type="String",
        description=None, allowed_pattern=None, keyid=None, last_modified_date=datetime.now(UTC),
        version=len(history) + 1, data_type="aws:ec2:image"))
    return image


_load_amis = AmiBackend._load_amis


def load_amis(self) -> None:
    _load_amis(self)
    for version in VERSIONS:
        for variant in VARIANTS:
            _register(self, version, RELEASE, variant)


_check_loading = ParameterDict._check_loading_status


def check_loading_status(self, key) -> None:
    _check_loading(self, key)
    if str(key or "").startswith(PREFIX) and not getattr(self, "eks_amis_loaded", False):
        self.eks_amis_loaded = True
        for version in VERSIONS:
            for variant in VARIANTS:
                name = param_name(version, variant)
                super(ParameterDict, self).__getitem__(name).append(Parameter(
                    account_id=self.account_id, name=name, value=ami_id(self.region_name, version, variant=variant),
                    parameter_type="String", description=None, allowed_pattern=None, keyid=None,
                    last_modified_date=datetime.now(UTC), version=1, data_type="aws:ec2:image"))


def install() -> None:
    AmiBackend._load_amis = load_amis
    ParameterDict._check_loading_status = check_loading_status

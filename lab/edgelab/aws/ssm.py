"""SSM EKS-optimized AL2023 AMI parameters, pointing at AMIs registered in moto's EC2 (every region)."""

import hashlib
from datetime import UTC, datetime

from moto.ec2.models.amis import Ami, AmiBackend
from moto.ssm.models import Parameter, ParameterDict

VERSIONS = ["1.29", "1.30", "1.31", "1.32", "1.33", "1.34"]
PREFIX = "/aws/service/eks/optimized-ami/"
EKS_AMI_OWNER = "602401143452"  # the account that publishes the EKS AMIs
RELEASE = "v20251120"


def param_name(version: str) -> str:
    return f"{PREFIX}{version}/amazon-linux-2023/x86_64/standard/recommended/image_id"


def ami_id(region: str, version: str) -> str:
    return "ami-" + hashlib.sha256(f"eks-al2023-{region}-{version}".encode()).hexdigest()[:17]


_load_amis = AmiBackend._load_amis


def load_amis(self) -> None:
    _load_amis(self)
    for version in VERSIONS:
        image = ami_id(self.region_name, version)
        self.amis[image] = Ami(
            self, image, name=f"amazon-eks-node-al2023-x86_64-standard-{version}-{RELEASE}",
            description=f"EKS-optimized Kubernetes node based on Amazon Linux 2023, (k8s: {version})",
            owner_id=EKS_AMI_OWNER, owner_alias="amazon", public=True, virtualization_type="hvm",
            architecture="x86_64", root_device_type="ebs", root_device_name="/dev/xvda", hypervisor="xen",
            creation_date=datetime(2025, 11, 20, tzinfo=UTC))


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

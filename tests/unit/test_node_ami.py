"""node_ami: the AL2023 EKS AMI variant, SSM parameter and pin for an instance type."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.node_ami import node_ami

ROOT = "/aws/service/eks/optimized-ami/1.36/amazon-linux-2023"


@pytest.mark.parametrize(("instance_type", "variant"), [
    ("t3.xlarge", "x86_64/standard"), ("r5.2xlarge", "x86_64/standard"), ("g4dn.2xlarge", "x86_64/nvidia"),
    ("p4d.24xlarge", "x86_64/nvidia"), ("inf2.xlarge", "x86_64/neuron"), ("trn1.2xlarge", "x86_64/neuron"),
    ("t4g.large", "arm64/standard"), ("c7gn.xlarge", "arm64/standard"), ("r6gd.large", "arm64/standard"),
    ("a1.large", "arm64/standard"), ("g5g.xlarge", "arm64/nvidia"), ("m5.large", "x86_64/standard"),
])
def test_variant_by_family(instance_type, variant):
    out = node_ami(instance_type, "1.36")
    assert out["variant"] == variant
    assert out["parameter"] == f"{ROOT}/{variant}/recommended/image_id"


def test_pin_is_the_version_for_standard_x86_and_carries_any_other_variant():
    assert node_ami("t3.xlarge", "1.36")["pin"] == "1.36"  # as before variants: existing nodes keep their AMI
    assert node_ami("g4dn.2xlarge", "1.36")["pin"] == "1.36 x86_64/nvidia"


@pytest.mark.parametrize(("instance_type", "version", "message"), [
    ("t3", "1.36", "'t3' is not an EC2 instance type (edge_instance_type)"),
    (None, "1.36", "None is not an EC2 instance type"),
    ("t3.xlarge", "1.36.1", "'1.36.1' is not a Kubernetes version such as 1.36 (edge_kubernetes_version)"),
])
def test_bad_inputs_are_named(instance_type, version, message):
    with pytest.raises(AnsibleFilterError, match=message.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        node_ami(instance_type, version)

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: node_ami
author: edgeml team
version_added: 0.1.0
short_description: The EKS-optimized AL2023 AMI variant for an instance type, its SSM parameter and pin
description:
  - Picks the AL2023 EKS AMI variant an instance type needs - C(nvidia) for GPU families (g*, p*), C(neuron) for AWS
    Inferentia and Trainium (inf*, trn*), C(standard) otherwise - for its architecture (C(arm64) for AWS Graviton
    families such as t4g, m6g, c7gn, g5g, a1; C(x86_64) otherwise).
  - Returns the SSM parameter of the recommended AMI of that variant and the pin the launch template keeps it under
    (the Kubernetes version, with the variant unless it is x86_64 standard), so that a change of variant (a GPU
    instance type) takes a new AMI while a new release of the same variant does not roll the nodes unasked.
positional: _input, kubernetes_version
options:
  _input:
    description: EC2 instance type (edge_instance_type).
    type: str
    required: true
  kubernetes_version:
    description: Kubernetes version of the nodes (C(major.minor)).
    type: str
    required: true
"""

EXAMPLES = r"""
ami: "{{ 'g4dn.2xlarge' | edgeml.wavelength.node_ami('1.36') }}"
# {variant: x86_64/nvidia, pin: "1.36 x86_64/nvidia",
#  parameter: /aws/service/eks/optimized-ami/1.36/amazon-linux-2023/x86_64/nvidia/recommended/image_id}
"""

RETURN = r"""
_value:
  description: C(variant) (architecture/flavour), C(parameter) (SSM parameter name), C(pin) (launch template pin).
  type: dict
"""

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.module_utils.jumpstart import instance_accelerator

# Graviton families: a generation digit followed by "g" (t4g, m6g, c7gn, r6gd, x2gd, im4gn, is4gen, g5g), and a1.
GRAVITON = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)$")
TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
FLAVOUR = {"gpu": "nvidia", "neuron": "neuron", "cpu": "standard"}


def node_ami(instance_type, kubernetes_version):
    if not isinstance(instance_type, str) or not TYPE.match(instance_type):
        raise AnsibleFilterError(f"node_ami: {instance_type!r} is not an EC2 instance type (edge_instance_type), "
                                 "such as t3.xlarge")
    if not re.match(r"^\d+\.\d+$", str(kubernetes_version)):
        raise AnsibleFilterError(f"node_ami: {kubernetes_version!r} is not a Kubernetes version such as 1.36 "
                                 "(edge_kubernetes_version)")
    arch = "arm64" if GRAVITON.match(instance_type.split(".")[0]) else "x86_64"
    variant = f"{arch}/{FLAVOUR[instance_accelerator(instance_type)]}"
    return {"variant": variant,
            "parameter": f"/aws/service/eks/optimized-ami/{kubernetes_version}/amazon-linux-2023/{variant}"
                         "/recommended/image_id",
            "pin": str(kubernetes_version) if variant == "x86_64/standard" else f"{kubernetes_version} {variant}"}


class FilterModule:
    def filters(self):
        return {"node_ami": node_ami}

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: deployment_info
version_added: 0.1.0
short_description: Find what earlier stages of a deployment made, by name and tag, in one call
description:
  - Read-only look-up that lets each stage playbook run alone on a deployed system.
  - V(network) finds the VPC tagged C(Name=<name>) and C(edgeml:deployment=<name>), its subnets tagged
    C(edgeml:tier=regional) and C(edgeml:tier=wavelength), the security groups C(<name>-node) and C(<name>-cluster)
    and the carrier gateway of the VPC (the names and tags the C(edge_network) role gives them).
  - V(record) reads the deployment record, a JSON object in S3 (C(s3://<bucket>/<name>/deployment.json) by default).
    It holds C(exports) (written by the artifacts stage) and C(images) (model name -> C(<repositoryUri>@sha256:...),
    the digests the image stage mirrored, added by that stage); callers read them from RV(record).
  - Nothing that is not found makes the module fail; it is named in RV(missing) and left empty, callers decide.
author:
  - edgeml team
options:
  name:
    description: Deployment name, the value of the tag C(edgeml:deployment) and the C(Name) prefix of the resources.
    type: str
    required: true
  zones:
    description:
      - Wavelength zones whose subnets must be reported. Each one without a subnet is named in RV(missing).
      - Empty reports every Wavelength subnet of the VPC.
    type: list
    elements: str
    default: []
  gather:
    description: What to look up.
    type: list
    elements: str
    choices: [network, record]
    default: [network, record]
  bucket:
    description: Artifact bucket holding the deployment record. Required when O(gather) contains V(record).
    type: str
  record_key:
    description: Key of the deployment record in O(bucket). Defaults to C(<name>/deployment.json).
    type: str
notes:
  - More than one VPC with the deployment's tags is an error (the network would be ambiguous).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Find the network and the record of the deployment
  edgeml.wavelength.deployment_info:
    name: edgeml
    zones: [us-east-1-wl1-bos-wlz-1, us-east-1-wl1-nyc-wlz-1]
    bucket: my-model-artifacts
  register: deployment

- name: The node stage needs the whole network
  ansible.builtin.assert:
    that: deployment.missing | select('match', 'vpc|wavelength subnet|node security group') | list | length == 0
    fail_msg: "run the network stage first: {{ deployment.missing | join(', ') }} not found"

- name: Network only
  edgeml.wavelength.deployment_info:
    name: edgeml
    gather: [network]

- name: The images the image stage mirrored, pinned by digest
  edgeml.wavelength.deployment_info:
    name: edgeml
    gather: [record]
    bucket: my-model-artifacts
  register: found

- name: Use them
  ansible.builtin.set_fact:
    images: "{{ found.record.images | default({}) }}"
"""

RETURN = r"""
network:
  description: The network of the deployment; ids not found are empty strings.
  returned: when O(gather) contains V(network)
  type: dict
  contains:
    vpc_id: {description: VPC id., type: str, sample: vpc-0123456789abcdef0}
    regional_subnet_ids: {description: Regional subnet ids sorted by availability zone name., type: list, elements: str}
    wavelength_subnets:
      description: "C({zone: subnet id}), the zone being the subnet's C(edgeml:zone) tag, else its availability zone."
      type: dict
      sample: {us-east-1-wl1-bos-wlz-1: subnet-0123456789abcdef0}
    node_security_group_id: {description: Id of the security group C(<name>-node)., type: str}
    cluster_security_group_id: {description: Id of the security group C(<name>-cluster)., type: str}
    carrier_gateway_id: {description: Carrier gateway of the VPC., type: str, sample: cagw-0123456789abcdef0}
record:
  description:
    - The parsed deployment record, C({}) when the object or the bucket does not exist.
    - C(exports) is written by the artifacts stage, C(images) (model name -> C(<repositoryUri>@sha256:...)) is added
      by the image stage; a key is absent until its stage has run.
  returned: when O(gather) contains V(record)
  type: dict
  sample:
    name: edgeml
    zones: [us-east-1-wl1-bos-wlz-1]
    exports: {sentiment: {model_version: 1.0.0}}
    images: {sentiment: 123456789012.dkr.ecr.us-east-1.amazonaws.com/edgeml/sentiment@sha256:4f1d...}
missing:
  description: What was not found.
  returned: always
  type: list
  elements: str
  sample: [vpc, regional subnets, wavelength subnet us-east-1-wl1-bos-wlz-1, node security group,
           cluster security group, carrier gateway, record]
"""

import json

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import (
    is_boto3_error_code,
    paginated_query_with_retries,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

GATHER = ["network", "record"]
RETRY = AWSRetry.jittered_backoff()


def query(client, operation, **params):
    return paginated_query_with_retries(client, operation, retry_decorator=RETRY, **params)


def tag(subnet, key):
    return next((t["Value"] for t in subnet.get("Tags") or [] if t["Key"] == key), "")


def gather_network(module, ec2, name, zones):
    net = dict(vpc_id="", regional_subnet_ids=[], wavelength_subnets={}, node_security_group_id="",
               cluster_security_group_id="", carrier_gateway_id="")
    groups = {"node security group": f"{name}-node", "cluster security group": f"{name}-cluster"}
    wavelength_missing = [f"wavelength subnet {z}" for z in zones] or ["wavelength subnets"]
    vpcs = query(ec2, "describe_vpcs", Filters=[{"Name": "tag:Name", "Values": [name]},
                                                {"Name": "tag:edgeml:deployment", "Values": [name]}])["Vpcs"]
    if len(vpcs) > 1:
        module.fail_json(msg=f"{len(vpcs)} VPCs are tagged Name={name} and edgeml:deployment={name}: "
                             f"{', '.join(sorted(v['VpcId'] for v in vpcs))}; keep one")
    if not vpcs:
        return net, ["vpc", "regional subnets", *wavelength_missing, *groups, "carrier gateway"]
    net["vpc_id"] = vpc_id = vpcs[0]["VpcId"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    missing = []

    subnets = query(ec2, "describe_subnets", Filters=[
        *in_vpc, {"Name": "tag:edgeml:tier", "Values": ["regional", "wavelength"]}])["Subnets"]
    regional = sorted((s for s in subnets if tag(s, "edgeml:tier") == "regional"),
                      key=lambda s: (s["AvailabilityZone"], s["SubnetId"]))
    net["regional_subnet_ids"] = [s["SubnetId"] for s in regional]
    if not regional:
        missing.append("regional subnets")
    wavelength = {}
    for s in sorted(subnets, key=lambda s: s["SubnetId"]):
        if tag(s, "edgeml:tier") == "wavelength":
            wavelength.setdefault(tag(s, "edgeml:zone") or s["AvailabilityZone"], s["SubnetId"])
    if zones:
        net["wavelength_subnets"] = {z: wavelength[z] for z in zones if z in wavelength}
        missing += [f"wavelength subnet {z}" for z in zones if z not in wavelength]
    else:
        net["wavelength_subnets"] = wavelength
        missing += [] if wavelength else wavelength_missing

    found = query(ec2, "describe_security_groups", Filters=[
        *in_vpc, {"Name": "group-name", "Values": list(groups.values())}])["SecurityGroups"]
    ids = {g["GroupName"]: g["GroupId"] for g in found}
    net["node_security_group_id"] = ids.get(groups["node security group"], "")
    net["cluster_security_group_id"] = ids.get(groups["cluster security group"], "")
    missing += [what for what, group in groups.items() if group not in ids]

    gateways = query(ec2, "describe_carrier_gateways", Filters=in_vpc)["CarrierGateways"]
    gateways = [g for g in gateways if g.get("State") not in ("deleting", "deleted")]
    if gateways:
        net["carrier_gateway_id"] = gateways[0]["CarrierGatewayId"]
    else:
        missing.append("carrier gateway")
    return net, missing


def gather_record(module, s3, bucket, key):
    """The parsed record, or None when the object or the bucket does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key, aws_retry=True)["Body"].read()
    except is_boto3_error_code(["NoSuchKey", "NoSuchBucket", "404", "NotFound"]):
        return None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Failed to read the deployment record s3://{bucket}/{key}")
    try:
        record = json.loads(body)
    except ValueError as e:
        module.fail_json(msg=f"the deployment record s3://{bucket}/{key} is not JSON: {e}")
    if not isinstance(record, dict):
        module.fail_json(msg=f"the deployment record s3://{bucket}/{key} is not a JSON object")
    return record


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            zones=dict(type="list", elements="str", default=[]),
            gather=dict(type="list", elements="str", choices=GATHER, default=GATHER),
            bucket=dict(type="str"),
            record_key=dict(type="str", no_log=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name, gather = p["name"], p["gather"]
    if "record" in gather and not p["bucket"]:
        module.fail_json(msg="bucket is required to gather the record (or leave 'record' out of gather)")

    result = dict(changed=False, missing=[])
    try:
        if "network" in gather:
            ec2 = module.client("ec2", retry_decorator=RETRY)
            result["network"], missing = gather_network(module, ec2, name, p["zones"])
            result["missing"] += missing
        if "record" in gather:
            s3 = module.client("s3", retry_decorator=RETRY)
            record = gather_record(module, s3, p["bucket"], p["record_key"] or f"{name}/deployment.json")
            result["record"] = record or {}
            result["missing"] += ["record"] if record is None else []
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to look up deployment {name}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: launch_template
version_added: 0.1.0
short_description: Manage an EC2 launch template for Wavelength zone instances
description:
  - Creates an EC2 launch template whose first network interface asks for a carrier IP
    (C(AssociateCarrierIpAddress)), with IMDSv2 required, an encrypted gp2 root volume (the only EBS type in
    Wavelength zones), user data and tags. M(amazon.aws.ec2_launch_template) rejects the carrier IP option.
  - A new version is created, and made the default, only when the wanted data differs from the current
    default version, so re-runs do not pile up versions and callers can key an instance refresh on RV(changed).
  - With O(image_pin), an existing template keeps the image of its default version while its tag
    C(edgeml:image-pin) equals O(image_pin) (for example the Kubernetes version). A newer recommended AMI does not
    replace it, and so does not roll the instances, unless O(image_pin_refresh) asks for it or the pin changes.
    RV(image_update_available) says when O(image_id) differs from the kept image.
  - With O(generation_placeholder), the module names the template's content by a short digest, RV(generation), and
    writes it into the user data in place of the placeholder (for example as a node label). Instances launched
    from different content then tell apart, and callers can place workloads on the current generation only.
author:
  - edgeml team
options:
  name:
    description: Launch template name.
    type: str
    required: true
  state:
    description: Whether the template exists.
    type: str
    choices: [present, absent]
    default: present
  image_id:
    description: AMI id. Required when O(state=present).
    type: str
  image_pin:
    description:
      - Keep an existing template's image while its C(edgeml:image-pin) tag equals this value; O(image_id) is used
        for a new template, a changed pin, or with O(image_pin_refresh). Omitted - O(image_id) is always used.
    type: str
  image_pin_refresh:
    description: Use O(image_id) even when the pin is unchanged (roll to the newest image), and pin it.
    type: bool
    default: false
  instance_type:
    description: Instance type. Required when O(state=present).
    type: str
  instance_profile:
    description: Instance profile name or ARN.
    type: str
  user_data:
    description: User data as plain text; the module base64-encodes it.
    type: str
  generation_placeholder:
    description:
      - A string in O(user_data) that the module replaces by RV(generation), the digest of all the other template
        data (image, instance type, user data with the placeholder, network, tags...). Every content change gives a
        new generation; the same content gives the same one.
    type: str
  subnet_id:
    description: Subnet of the network interface (a Wavelength zone subnet). Optional, an ASG can set the subnet.
    type: str
  security_group_ids:
    description: Security groups of the network interface.
    type: list
    elements: str
    default: []
  associate_carrier_ip_address:
    description: Ask for a carrier IP on the first network interface (needed for traffic through the carrier gateway).
    type: bool
    default: true
  http_tokens:
    description: IMDS token mode. C(required) is IMDSv2 only.
    type: str
    choices: [required, optional]
    default: required
  http_put_response_hop_limit:
    description: IMDS hop limit. 1 keeps pods from reaching the instance metadata (and the instance role).
    type: int
    default: 1
  volume_size:
    description: Root volume size in GiB.
    type: int
    default: 50
  volume_type:
    description: Root volume type. Wavelength zones offer gp2 only.
    type: str
    default: gp2
  device_name:
    description: Root device name of the AMI.
    type: str
    default: /dev/xvda
  tags:
    description: Tags of the launch template itself.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description: Remove template tags not in O(tags).
    type: bool
    default: true
  instance_tags:
    description: Tags given to the instances and volumes launched from the template.
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Launch template for the Boston Wavelength zone nodes
  edgeml.wavelength.launch_template:
    name: edgeml-us-east-1-wl1-bos-wlz-1
    image_id: ami-0123456789abcdef0
    instance_type: t3.xlarge
    instance_profile: edgeml-node
    subnet_id: subnet-0123456789abcdef0
    security_group_ids: [sg-0123456789abcdef0]
    user_data: "{{ lookup('template', 'user-data.j2') }}"
    tags: {edgeml:deployment: edgeml}
    instance_tags: {Name: edgeml-node}
  register: lt

- name: Remove it
  edgeml.wavelength.launch_template:
    name: edgeml-us-east-1-wl1-bos-wlz-1
    state: absent
"""

RETURN = r"""
image_id:
  description: The image the template's default version uses (the kept one when pinned).
  returned: when state is present
  type: str
image_update_available:
  description: O(image_id) differs from the pinned image kept (a newer image exists; O(image_pin_refresh) uses it).
  returned: when state is present
  type: bool
template_id:
  description: Launch template id.
  returned: when the template exists
  type: str
  sample: lt-0123456789abcdef0
template_name:
  description: Launch template name.
  returned: always
  type: str
default_version:
  description: Default version number after the run.
  returned: when the template exists
  type: int
latest_version:
  description: Latest version number after the run.
  returned: when the template exists
  type: int
generation:
  description: Digest (12 hex digits) of the template's content, written in place of O(generation_placeholder).
  returned: when O(generation_placeholder) is set and state is present
  type: str
  sample: 3f2a9c01b7de
version_changed:
  description: Whether a new version was created (or would be in check mode).
  returned: always
  type: bool
launch_template_data:
  description: The launch template data of the default version, as EC2 describes it.
  returned: when the template exists
  type: dict
"""

import base64
import copy
import hashlib
import json

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.ec2 import ensure_ec2_tags
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    boto3_tag_specifications,
)

# Top-level keys this module owns; a current version carrying other ones differs from what is wanted.
MANAGED_KEYS = ("ImageId", "InstanceType", "IamInstanceProfile", "UserData", "NetworkInterfaces",
                "MetadataOptions", "BlockDeviceMappings", "TagSpecifications")


PIN_TAG = "edgeml:image-pin"


def pinned_image(p, current, current_data):
    """(image to use, whether p['image_id'] is newer than a kept one)."""
    kept = (current_data or {}).get("ImageId")
    tags = {t["Key"]: t["Value"] for t in (current or {}).get("Tags", [])}
    if not p["image_pin"] or not kept or p["image_pin_refresh"] or tags.get(PIN_TAG) != p["image_pin"]:
        return p["image_id"], False
    return kept, kept != p["image_id"]


def wanted_data(p):
    nic = {"DeviceIndex": 0, "AssociateCarrierIpAddress": p["associate_carrier_ip_address"], "DeleteOnTermination": True}
    if p["subnet_id"]:
        nic["SubnetId"] = p["subnet_id"]
    if p["security_group_ids"]:
        nic["Groups"] = sorted(p["security_group_ids"])
    data = {
        "ImageId": p["image_id"],
        "InstanceType": p["instance_type"],
        "NetworkInterfaces": [nic],
        "MetadataOptions": {"HttpTokens": p["http_tokens"], "HttpEndpoint": "enabled",
                            "HttpPutResponseHopLimit": p["http_put_response_hop_limit"]},
        "BlockDeviceMappings": [{"DeviceName": p["device_name"], "Ebs": {
            "VolumeSize": p["volume_size"], "VolumeType": p["volume_type"], "Encrypted": True,
            "DeleteOnTermination": True}}],
    }
    if p["instance_profile"]:
        key = "Arn" if p["instance_profile"].startswith("arn:") else "Name"
        data["IamInstanceProfile"] = {key: p["instance_profile"]}
    if p["user_data"]:
        data["UserData"] = base64.b64encode(p["user_data"].encode()).decode()
    if p["instance_tags"]:
        data["TagSpecifications"] = boto3_tag_specifications(p["instance_tags"], types=["instance", "volume"])
    return data


def generation(wanted):
    """Digest of the template content (user data still holding the placeholder): stable across runs."""
    return hashlib.sha256(json.dumps(normalize(wanted), sort_keys=True).encode()).hexdigest()[:12]


def normalize(data):
    """Comparable form: managed keys only, order-insensitive lists of groups and tags."""
    data = copy.deepcopy({k: v for k, v in (data or {}).items() if k in MANAGED_KEYS})
    for nic in data.get("NetworkInterfaces", []):
        if "Groups" in nic:
            nic["Groups"] = sorted(nic["Groups"])
    if "TagSpecifications" in data:
        for spec in data["TagSpecifications"]:
            spec["Tags"] = sorted(spec.get("Tags", []), key=lambda t: t["Key"])
        data["TagSpecifications"] = sorted(data["TagSpecifications"], key=lambda s: s["ResourceType"])
    return data


def contains(wanted, current):
    """True when every value in wanted is present and equal in current (EC2 may add defaults of its own)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(contains(v, current.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(current, list) and len(wanted) == len(current) and all(
            contains(w, c) for w, c in zip(wanted, current, strict=True))
    return wanted == current


def readable(data):
    """Diff form: user data decoded."""
    data = normalize(data)
    if "UserData" in data:
        data["UserData"] = base64.b64decode(data["UserData"]).decode(errors="replace")
    return data


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            image_id=dict(type="str"),
            image_pin=dict(type="str"),
            image_pin_refresh=dict(type="bool", default=False),
            instance_type=dict(type="str"),
            instance_profile=dict(type="str"),
            user_data=dict(type="str"),
            generation_placeholder=dict(type="str"),
            subnet_id=dict(type="str"),
            security_group_ids=dict(type="list", elements="str", default=[]),
            associate_carrier_ip_address=dict(type="bool", default=True),
            http_tokens=dict(type="str", choices=["required", "optional"], default="required"),
            http_put_response_hop_limit=dict(type="int", default=1),
            volume_size=dict(type="int", default=50),
            volume_type=dict(type="str", default="gp2"),
            device_name=dict(type="str", default="/dev/xvda"),
            tags=dict(type="dict", aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
            instance_tags=dict(type="dict", default={}),
        ),
        required_if=[("state", "present", ["image_id", "instance_type"])],
        supports_check_mode=True,
    )
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    p = module.params
    name = p["name"]
    result = dict(changed=False, version_changed=False, template_name=name)
    try:
        found = client.describe_launch_templates(
            Filters=[{"Name": "launch-template-name", "Values": [name]}], aws_retry=True)["LaunchTemplates"]
        current = found[0] if found else None
        current_data = None
        if current:
            current_data = client.describe_launch_template_versions(
                LaunchTemplateId=current["LaunchTemplateId"], Versions=["$Default"], aws_retry=True,
            )["LaunchTemplateVersions"][0]["LaunchTemplateData"]

        if p["state"] == "absent":
            if current:
                result["changed"] = True
                if not module.check_mode:
                    client.delete_launch_template(LaunchTemplateId=current["LaunchTemplateId"], aws_retry=True)
            if module._diff:
                result["diff"] = dict(before=readable(current_data) if current else {}, after={})
            module.exit_json(**result)

        image, update_available = pinned_image(p, current, current_data)
        wanted = wanted_data({**p, "image_id": image})
        if p["generation_placeholder"]:
            if p["generation_placeholder"] not in (p["user_data"] or ""):
                module.fail_json(msg=f"user_data does not contain generation_placeholder "
                                     f"{p['generation_placeholder']!r}: put it where the generation goes")
            result["generation"] = generation(wanted)
            wanted = wanted_data({**p, "image_id": image, "user_data": p["user_data"].replace(
                p["generation_placeholder"], result["generation"])})
        if p["image_pin"]:
            p["tags"] = {**(p["tags"] or {}), PIN_TAG: p["image_pin"]}
        result.update(image_id=image, image_update_available=update_available)
        differs = current is None or not (contains(normalize(wanted), normalize(current_data))
                                         and set(normalize(current_data)) == set(wanted))
        if module._diff:
            result["diff"] = dict(before=readable(current_data) if current else {}, after=readable(wanted))
        result["version_changed"] = differs
        result["changed"] = differs
        if module.check_mode:
            if current:
                result.update(template_id=current["LaunchTemplateId"], default_version=current["DefaultVersionNumber"],
                              latest_version=current["LatestVersionNumber"] + int(differs),
                              launch_template_data=wanted if differs else current_data)
            module.exit_json(**result)

        if current is None:
            kwargs = dict(LaunchTemplateName=name, LaunchTemplateData=wanted)
            if p["tags"]:
                kwargs["TagSpecifications"] = boto3_tag_specifications(p["tags"], types=["launch-template"])
            current = client.create_launch_template(aws_retry=True, **kwargs)["LaunchTemplate"]
        else:
            if differs:
                version = client.create_launch_template_version(
                    LaunchTemplateId=current["LaunchTemplateId"], LaunchTemplateData=wanted, aws_retry=True,
                )["LaunchTemplateVersion"]["VersionNumber"]
                client.modify_launch_template(
                    LaunchTemplateId=current["LaunchTemplateId"], DefaultVersion=str(version), aws_retry=True)
            result["changed"] |= ensure_ec2_tags(client, module, current["LaunchTemplateId"], "launch-template",
                                                 p["tags"], p["purge_tags"])
        current = client.describe_launch_templates(
            LaunchTemplateIds=[current["LaunchTemplateId"]], aws_retry=True)["LaunchTemplates"][0]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage launch template {name}")

    result.update(template_id=current["LaunchTemplateId"], default_version=current["DefaultVersionNumber"],
                  latest_version=current["LatestVersionNumber"], launch_template_data=wanted)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

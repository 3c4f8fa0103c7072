#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: instance_console
version_added: 0.1.0
short_description: Read the console output of EC2 instances (what their boot and user data printed)
description:
  - Read-only. Calls C(GetConsoleOutput) for each instance, with C(Latest=true) (the current serial console
    output, Nitro instances), falling back to the buffered output where the instance type does not support it.
  - Returns the lines that match O(pattern) and the last O(tail_lines) lines. EC2 keeps the last 64 KB.
  - An instance whose output cannot be read (gone, access denied) is reported with RV(instances[].error) rather than
    failing the task, so that a caller can still say what it knows.
author:
  - edgeml team
options:
  instance_ids:
    description: Instances to read.
    type: list
    elements: str
    required: true
  pattern:
    description: Regular expression (Python syntax); the lines it matches (searched anywhere in the line) are returned.
    type: str
  tail_lines:
    description: How many of the last lines to return.
    type: int
    default: 20
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Why did the user data fail?
  edgeml.wavelength.instance_console:
    instance_ids: [i-0123456789abcdef0]
    pattern: "edgeml: |Failed running"
  register: console
"""

RETURN = r"""
instances:
  description: One entry per instance, in the order of O(instance_ids).
  returned: always
  type: list
  elements: dict
  contains:
    instance_id: {description: The instance., type: str, returned: always}
    available: {description: Whether EC2 returned any output (none yet right after launch)., type: bool,
                returned: always}
    matches: {description: Lines that match O(pattern)., type: list, elements: str, returned: always}
    tail: {description: The last O(tail_lines) lines., type: list, elements: str, returned: always}
    error: {description: Why the output could not be read., type: str, returned: when it could not be read}
  sample:
    - instance_id: i-0123456789abcdef0
      available: true
      matches: ["edgeml: model placement failed: bert: sha256 mismatch for s3://b/k (expected 00, got 9f)"]
      tail: ["util.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/part-001 [1]"]
"""

import re

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

RETRY = AWSRetry.jittered_backoff()


def console_text(ec2, instance_id: str) -> str:
    try:
        answer = ec2.get_console_output(InstanceId=instance_id, Latest=True, aws_retry=True)
    except is_boto3_error_code(["UnsupportedOperation", "InvalidParameterValue"]):  # not a Nitro instance
        answer = ec2.get_console_output(InstanceId=instance_id, aws_retry=True)
    return answer.get("Output") or ""  # EC2 sends base64; botocore decodes it (handlers.decode_console_output)


def summarize(instance_id: str, text: str, pattern, tail_lines: int) -> dict:
    lines = [line.rstrip("\r") for line in text.splitlines() if line.strip()]
    return {"instance_id": instance_id, "available": bool(lines),
            "matches": [line for line in lines if pattern and pattern.search(line)],
            "tail": lines[-tail_lines:] if tail_lines > 0 else []}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_ids=dict(type="list", elements="str", required=True),
            pattern=dict(type="str"),
            tail_lines=dict(type="int", default=20),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        pattern = re.compile(p["pattern"]) if p["pattern"] else None
    except re.error as e:
        module.fail_json(msg=f"pattern is not a valid regular expression: {e}")
    ec2 = module.client("ec2", retry_decorator=RETRY)
    instances = []
    for instance_id in p["instance_ids"]:
        try:
            instances.append(summarize(instance_id, console_text(ec2, instance_id), pattern, p["tail_lines"]))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            instances.append({**summarize(instance_id, "", pattern, 0), "error": f"GetConsoleOutput failed: {e}"})
    module.exit_json(changed=False, instances=instances)


if __name__ == "__main__":
    main()

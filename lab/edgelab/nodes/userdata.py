"""EC2 user data as EKS AL2023 nodes receive it: MIME multipart with shell parts and a NodeConfig part."""

import base64
import binascii
import email
import email.policy
from dataclasses import dataclass, field

import yaml

NODECONFIG_TYPE = "application/node.eks.aws"
SHELL_TYPE = "text/x-shellscript"


@dataclass
class UserData:
    shell_parts: list[str] = field(default_factory=list)
    nodeconfig: dict | None = None
    errors: list[str] = field(default_factory=list)  # NodeConfig validation errors
    labels: dict[str, str] = field(default_factory=dict)  # from --node-labels
    taints: list[dict] = field(default_factory=list)  # from --register-with-taints


def decode(raw: str | bytes | None) -> str:
    """User data as EC2 returns it (base64) or already decoded text."""
    if not raw:
        return ""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        return base64.b64decode(data, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return data.decode()


def parse(raw: str | bytes | None) -> UserData:
    text = decode(raw)
    result = UserData()
    if text.startswith("#!"):  # a plain script, no MIME
        result.shell_parts.append(text)
        return result
    msg = email.message_from_string(text, policy=email.policy.default)
    if not msg.is_multipart():
        if text.strip():
            result.errors.append("user data is neither a MIME multipart document nor a #! script")
        return result
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == SHELL_TYPE:
            result.shell_parts.append(part.get_content())
        elif ctype == NODECONFIG_TYPE:
            try:
                result.nodeconfig = yaml.safe_load(part.get_content())
            except yaml.YAMLError as exc:
                result.errors.append(f"NodeConfig is not YAML: {exc}")
    if result.nodeconfig is not None:
        result.errors += validate_nodeconfig(result.nodeconfig)
        if not result.errors:
            flags = ((result.nodeconfig.get("spec") or {}).get("kubelet") or {}).get("flags") or []
            result.labels, result.taints = kubelet_flags(flags)
    return result


def validate_nodeconfig(doc) -> list[str]:
    """What nodeadm would refuse: wrong apiVersion/kind, missing cluster fields."""
    if not isinstance(doc, dict):
        return ["NodeConfig is not a mapping"]
    errors = []
    if doc.get("apiVersion") != "node.eks.aws/v1alpha1":
        errors.append(f"NodeConfig apiVersion {doc.get('apiVersion')!r} != 'node.eks.aws/v1alpha1'")
    if doc.get("kind") != "NodeConfig":
        errors.append(f"kind {doc.get('kind')!r} != 'NodeConfig'")
    cluster = (doc.get("spec") or {}).get("cluster") or {}
    for key in ("name", "apiServerEndpoint", "certificateAuthority", "cidr"):
        if not cluster.get(key):
            errors.append(f"spec.cluster.{key} is required")
    flags = ((doc.get("spec") or {}).get("kubelet") or {}).get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        errors.append("spec.kubelet.flags must be a list of strings")
    return errors


def kubelet_flags(flags: list[str]) -> tuple[dict[str, str], list[dict]]:
    """--node-labels=k=v,... and --register-with-taints=k=v:Effect,... -> (labels, taints)."""
    labels, taints = {}, []
    for flag in flags:
        name, _, value = flag.partition("=")
        items = [item for item in value.split(",") if item]
        if name == "--node-labels":
            labels.update(item.split("=", 1) for item in items)
        elif name == "--register-with-taints":
            for item in items:
                keyvalue, _, effect = item.partition(":")
                key, _, val = keyvalue.partition("=")
                taints.append({"key": key, "effect": effect, **({"value": val} if val else {})})
    return labels, taints

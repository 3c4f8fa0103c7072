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
    taints: list[dict] | None = None  # from --register-with-taints (None: the flag is not given)
    kubelet_config: dict = field(default_factory=dict)  # spec.kubelet.config (nodeadm's 40-nodeadm.conf drop-in)


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
            kubelet = (result.nodeconfig.get("spec") or {}).get("kubelet") or {}
            result.labels, result.taints = kubelet_flags(kubelet.get("flags") or [])
            result.kubelet_config = kubelet.get("config") or {}
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
    kubelet_config = ((doc.get("spec") or {}).get("kubelet") or {}).get("config", {})
    if not isinstance(kubelet_config, dict):
        errors.append("spec.kubelet.config must be a mapping (KubeletConfiguration fields)")
    return errors


def register_taints(kubelet_config: dict, drop_ins: list[dict], flag_taints: list[dict] | None) -> list[dict]:
    """The taints kubelet registers the Node with, merged as kubelet does: the NodeConfig's kubelet.config (nodeadm
    writes it as the drop-in 40-nodeadm.conf), then each later drop-in of --config-dir in name order (a list
    field is replaced, not merged), then the --register-with-taints flag, which overrides every file."""
    taints = kubelet_config.get("registerWithTaints") or []
    for doc in drop_ins:
        if "registerWithTaints" in doc:
            taints = doc["registerWithTaints"] or []
    if flag_taints is not None:
        taints = flag_taints
    return [dict(t) for t in taints if isinstance(t, dict)]


def kubelet_flags(flags: list[str]) -> tuple[dict[str, str], list[dict]]:
    """--node-labels=k=v,... and --register-with-taints=k=v:Effect,... -> (labels, taints)."""
    labels, taints = {}, None
    for flag in flags:
        name, _, value = flag.partition("=")
        items = [item for item in value.split(",") if item]
        if name == "--node-labels":
            labels.update(item.split("=", 1) for item in items)
        elif name == "--register-with-taints":
            taints = []
            for item in items:
                keyvalue, _, effect = item.partition(":")
                key, _, val = keyvalue.partition("=")
                taints.append({"key": key, "effect": effect, **({"value": val} if val else {})})
    return labels, taints

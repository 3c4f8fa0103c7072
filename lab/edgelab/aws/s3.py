"""S3 bucket policies evaluated with their conditions.

moto ignores condition operators it does not know (e.g. Bool), so a `Deny if aws:SecureTransport=false`
statement denies everything. Here a bucket policy is evaluated with the request context the lab knows:
aws:SecureTransport is "true" -- the lab endpoint is plain http on loopback and is treated as TLS-equivalent,
so that a policy written for AWS (deny non-TLS) keeps denying nothing the owner does over the lab endpoint --
and aws:PrincipalAccount is the lab account. A condition on a key that is absent from the context does not
match (as in AWS), and a statement whose condition does not match does not apply.
"""

import fnmatch
import json

from moto.iam.access_control import PermissionResult
from moto.s3.models import FakeBucket

from edgelab import config

CONTEXT = {"aws:securetransport": "true", "aws:principalaccount": config.ACCOUNT_ID}


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, expected) -> bool:
    negate = operator.startswith("StringNot") or operator == "ArnNotLike"
    base = operator.removesuffix("IfExists")
    actual = CONTEXT.get(key.lower())
    if actual is None:
        return operator.endswith("IfExists") or (base == "Null" and str(expected).lower() == "true")
    if base == "Null":
        return str(_list(expected)[0]).lower() == "false"
    values = [str(v) for v in _list(expected)]
    if base == "Bool":
        return actual.lower() in [v.lower() for v in values]
    if base in ("StringEquals", "StringNotEquals"):
        return (actual in values) != negate
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return (actual.lower() in [v.lower() for v in values]) != negate
    if base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return any(fnmatch.fnmatchcase(actual, v) for v in values) != negate
    return False  # an operator the lab cannot evaluate: the statement does not apply


def _matches(patterns, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in _list(patterns))


def evaluate(policy: dict, action: str, resource: str) -> PermissionResult:
    allowed = False
    for st in _list(policy.get("Statement", [])):
        if ("Action" in st and not _matches(st["Action"], action)) or \
                ("NotAction" in st and _matches(st["NotAction"], action)):
            continue
        if ("Resource" in st and not _matches(st["Resource"], resource)) or \
                ("NotResource" in st and _matches(st["NotResource"], resource)):
            continue
        conditions = st.get("Condition", {})
        if not all(_condition_holds(op, key, exp) for op, kv in conditions.items() for key, exp in kv.items()):
            continue
        if st.get("Effect") == "Deny":
            return PermissionResult.DENIED
        allowed = True
    return PermissionResult.PERMITTED if allowed else PermissionResult.NEUTRAL


def get_permission(self, action: str, resource: str):
    if self.policy is None:
        return PermissionResult.NEUTRAL
    return evaluate(json.loads(self.policy.decode()), action, resource)


def install() -> None:
    FakeBucket.get_permission = get_permission

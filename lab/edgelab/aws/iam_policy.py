"""Identity-policy evaluation as IAM does it, for the lab's IAM enforcement (iam_enforce.py).

A request is a list of (action, resource ARN, context) targets; each must be allowed. Per target: an explicit Deny in
any policy wins, else an Allow is needed. Statements match on Action/NotAction (case-insensitive), Resource/NotResource
(case-sensitive, * and ? wildcards, ${aws:...} policy variables from the context) and Condition. Not modelled:
Principal in identity policies (there is none), permissions boundaries, SCPs, resource-based policies other than a
role's trust policy (iam_enforce.py).

Condition semantics (AWS's): a key absent from the context makes a condition false, except with ...IfExists (true),
Null and negated operators (StringNot*, ArnNot*: true), and ForAllValues: (true). Multi-valued keys (aws:TagKeys) take
ForAnyValue:/ForAllValues:. An operator the lab does not know makes the condition false (an Allow does not apply, a
Deny does not apply either).
"""

import json
import re
from collections.abc import Iterable

ALLOWED, DENIED, IMPLICIT = "allowed", "explicit deny", "implicit deny"


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _substitute(pattern: str, context: dict) -> str:
    """Policy variables: ${aws:username} etc. from the context; ${*} ${?} ${$} are the escaped characters."""
    def repl(m):
        key = m.group(1)
        if key in ("*", "?", "$"):
            return "\0" + key  # a literal, not a wildcard (marked for _regex)
        values = context.get(key.lower())
        return values[0] if values else m.group(0)
    return re.sub(r"\$\{([^}]+)\}", repl, pattern)


def _regex(pattern: str, ignore_case: bool = False) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\0":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard(pattern: str, value: str, ignore_case: bool = False, context: dict | None = None) -> bool:
    return bool(_regex(_substitute(pattern, context or {}), ignore_case).fullmatch(value))


def _match_one(base: str, expected: str, actual: str, context: dict) -> bool:
    if base in ("StringEquals", "StringNotEquals"):
        return actual == _substitute(expected, context)
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() == _substitute(expected, context).lower()
    if base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals"):
        return wildcard(expected, actual, context=context)
    if base == "Bool":
        return actual.lower() == str(expected).lower()
    if base.startswith("Numeric"):
        try:
            a, e = float(actual), float(expected)
        except ValueError:
            return False
        return {"NumericEquals": a == e, "NumericNotEquals": a == e, "NumericLessThan": a < e,
                "NumericLessThanEquals": a <= e, "NumericGreaterThan": a > e,
                "NumericGreaterThanEquals": a >= e}.get(base, False)
    raise KeyError(base)


def condition_holds(operator: str, key: str, expected, context: dict) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    base = op.removesuffix("IfExists")
    negated = "Not" in base  # StringNotEquals, ArnNotLike, NumericNotEquals, ...
    actual = context.get(key.lower())
    wanted = [str(v) if not isinstance(v, bool) else str(v).lower() for v in _list(expected)]
    if base == "Null":
        return (actual is None) == (wanted[0].lower() == "true")
    if actual is None:
        return if_exists or negated or qualifier == "ForAllValues"
    try:
        def hit(value: str) -> bool:
            return any(_match_one(base, w, value, context) for w in wanted)
        if qualifier == "ForAllValues":
            return all(hit(v) != negated for v in actual)
        if qualifier == "ForAnyValue":
            return any(hit(v) != negated for v in actual)
        if negated:
            return not any(hit(v) for v in actual)
        return any(hit(v) for v in actual)
    except KeyError:
        return False  # an operator the lab does not evaluate: the statement does not apply


def _statement_applies(st: dict, action: str, resource: str, context: dict) -> bool:
    if "Action" in st and not any(wildcard(p, action, True) for p in _list(st["Action"])):
        return False
    if "NotAction" in st and any(wildcard(p, action, True) for p in _list(st["NotAction"])):
        return False
    if "Resource" in st and not any(wildcard(p, resource, context=context) for p in _list(st["Resource"])):
        return False
    if "NotResource" in st and any(wildcard(p, resource, context=context) for p in _list(st["NotResource"])):
        return False
    return all(condition_holds(op, key, exp, context)
               for op, kv in (st.get("Condition") or {}).items() for key, exp in kv.items())


def evaluate(policies: Iterable[dict], action: str, resource: str, context: dict) -> str:
    """ALLOWED, DENIED (an explicit Deny) or IMPLICIT (no Allow) for one action on one resource."""
    allowed = False
    for policy in policies:
        for st in _list(policy.get("Statement", [])):
            if not _statement_applies(st, action, resource, context):
                continue
            if st.get("Effect") == "Deny":
                return DENIED
            allowed = allowed or st.get("Effect") == "Allow"
    return ALLOWED if allowed else IMPLICIT


def document(policy) -> dict:
    """A policy document as a dict, from a moto IAM policy object, an inline policy dict or JSON text."""
    from moto.iam.access_control import IAMPolicy
    if isinstance(policy, dict) and "Statement" in policy:
        return policy
    if isinstance(policy, str):
        return json.loads(policy)
    return IAMPolicy(policy)._policy_json

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""Kubernetes resource quantities (model_errors checks them, model_resources compares them)."""

import re
from decimal import Decimal

# Kubernetes quantities: <signed number><binary SI | decimal SI | decimal exponent>.
QUANTITY = re.compile(r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
                      r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
SUFFIX = {"Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
          "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60, "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal("1e3"),
          "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18")}


def quantity(value):
    """A Kubernetes quantity as a Decimal, None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        amount = Decimal(str(value))
        return amount if amount.is_finite() else None
    match = QUANTITY.match(value) if isinstance(value, str) else None
    if not match:
        return None
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["number"])
        amount = number * (Decimal(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else SUFFIX[suffix])
    except ArithmeticError:  # decimal's signals (overflow) included
        return None
    return amount if amount.is_finite() else None

#!/usr/bin/env python3
"""Writes docs/iam/<name>.json: the operator policies (plugins/filter/operator_policy.py) for the example values the
README uses. tests/unit/test_operator_policy.py fails when they are stale."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.edgeml.wavelength.plugins.filter.operator_policy import operator_policy

EXAMPLE = {"_input": "edgeml", "bucket": "my-edgeml-artifacts", "region": "us-east-1", "account": "111122223333"}

if __name__ == "__main__":
    for name, doc in operator_policy(**EXAMPLE).items():
        path = REPO / "docs" / "iam" / f"{name}.json"
        path.write_text(json.dumps(doc, indent=2) + "\n")
        print(path.relative_to(REPO))

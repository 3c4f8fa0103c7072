"""AWX tests reuse the lab's in-process AWS endpoint."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from edgelab.aws.testing import lab_aws_server


@pytest.fixture(scope="session")
def lab_aws():
    with lab_aws_server() as server:
        yield server

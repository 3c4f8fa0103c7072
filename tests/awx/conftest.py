"""AWX tests reuse the lab's in-process AWS endpoint."""

import copy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from edgelab.aws.state import LAB
from edgelab.aws.testing import lab_aws_server


@pytest.fixture(scope="module")
def lab_aws():
    """A LabAWS sets the lab delays of the whole process (edgelab.aws.state.LAB): they are put back after this module,
    as the unit tests' endpoint set them, for the unit test modules pytest-xdist may run next in this worker."""
    saved = copy.deepcopy({name: vars(LAB)[name] for name in ("defaults", "delays", "faults", "rng")})
    with lab_aws_server() as server:
        yield server
    with LAB.lock:
        vars(LAB).update(saved)

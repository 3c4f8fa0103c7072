"""Shared fixtures of the lab tests."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from edgelab.aws.testing import aws_env as _aws_env
from edgelab.aws.testing import lab_aws_server


@pytest.fixture(scope="session")
def lab_aws():
    """The lab AWS endpoint (moto + Wavelength extension) on a free port, for the whole session."""
    with lab_aws_server() as server:
        yield server


@pytest.fixture
def aws_env(lab_aws, monkeypatch):
    """Point boto3 (and subprocesses) at lab_aws; yields the variables."""
    env = _aws_env(lab_aws.url)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env

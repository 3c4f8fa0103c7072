"""Helpers for pytest fixtures: one lab AWS endpoint per test session, and the environment pointing at it."""

import contextlib
import os
from collections.abc import Iterator

from edgelab import config

from .server import LabAWS

# Short delays so wait logic is exercised without slowing tests down.
TEST_DELAYS = {"eks_create": 1.0, "eks_delete": 0.5, "asg_instance": 0.5, "asg_health": 0.5, "optin": 0.5,
               "refresh_warmup": 0.5, "iam_propagation": 0.5}


@contextlib.contextmanager
def lab_aws_server(**kwargs) -> Iterator[LabAWS]:
    """Start a LabAWS on a free loopback port (moto state is per process: use one per session)."""
    kwargs.setdefault("delays", TEST_DELAYS)
    server = LabAWS(host="127.0.0.1", port=0, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def aws_env(url: str, region: str = "us-east-1") -> dict:
    """Environment variables that make boto3/botocore and amazon.aws use the lab endpoint."""
    return {**config.CREDENTIALS, "AWS_ENDPOINT_URL": url, "AWS_URL": url, "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

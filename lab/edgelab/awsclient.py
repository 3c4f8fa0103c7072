"""boto3 clients for the lab's own use (agent, seeding): lab endpoint, lab credentials, exempt from faults."""

import boto3
from botocore.config import Config

from edgelab import config

NO_FAULTS_HEADER = "X-Edgelab-No-Faults"


def _no_faults(request, **_):
    # The AWS extension's fault injection (throttling/5xx) is for product code; the lab itself opts out.
    request.headers[NO_FAULTS_HEADER] = "1"


def client(service: str, region: str = "us-east-1"):
    c = boto3.client(service, region_name=region, endpoint_url=config.AWS_URL,
                     aws_access_key_id=config.CREDENTIALS["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=config.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                     config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3,
                                   read_timeout=20))
    c.meta.events.register("before-send.*.*", _no_faults)
    return c

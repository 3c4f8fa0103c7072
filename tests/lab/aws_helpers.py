"""Small helpers shared by the test_aws_* modules."""

import time

import boto3
import requests
from botocore.config import Config


def client(lab, service, region="us-east-1", retries=None, **kw):
    cfg = Config(retries=retries or {"mode": "standard", "max_attempts": 3})
    return boto3.client(service, endpoint_url=lab.url, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=cfg, **kw)


def lab_api(lab, method, what, json=None):
    r = requests.request(method, f"{lab.url}/_lab/{what}", json=json, timeout=10)
    r.raise_for_status()
    return r.json()


def wait_for(predicate, timeout=10.0, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")

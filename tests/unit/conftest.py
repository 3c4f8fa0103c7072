"""Run the collection's modules in-process against an AWS endpoint on loopback.

Endpoint: $EDGELAB_AWS_URL if set (a running `lab up`), else an in-process LabAWS (moto + the Wavelength
extension), else plain moto. Tests that need what only the extension adds (Wavelength zones, opt-in, access
entries) request the `lab_only` fixture, which fails (not skips) when only plain moto is available.
"""

import contextlib
import io
import json
import os
import socket
import sys
import uuid
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
# FQCN imports (ansible_collections.edgeml.wavelength / amazon.aws) resolve from the repo's collection path.
sys.path[:0] = [str(REPO / ".collections"), str(REPO / "lab")]

CREDS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def aws_server():
    """(url, kind) with kind 'external', 'lab' or 'moto'."""
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    if os.environ.get("EDGELAB_AWS_URL"):
        yield os.environ["EDGELAB_AWS_URL"], "external"
        return
    try:
        from edgelab.aws import LabAWS
    except ImportError:
        LabAWS = None
    if LabAWS is not None:
        # Short lab delays keep the wait paths exercised without slowing the suite.
        delays = {"eks_create": 2, "eks_delete": 1, "optin": 1, "addon": 0.5}
        server = LabAWS(host="127.0.0.1", port=0, delays=delays).start()
        yield server.url, "lab"
    else:
        from moto.server import ThreadedMotoServer

        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        server.start()
        yield f"http://127.0.0.1:{port}", "moto"
    server.stop()


@pytest.fixture
def aws_url(aws_server):
    return aws_server[0]


@pytest.fixture(scope="session")
def lab_delays(aws_server):
    """lab_delays(delays): a context that sets lab delays for its block, restores the old ones after, and yields the
    endpoint URL. Only on the in-process lab AWS: a shared `lab up` (EDGELAB_AWS_URL) is not reconfigured by a test,
    and plain moto has no delays. (A fixture, not an import: `conftest` is another module when the awx tests run in
    the same session.)"""
    @contextlib.contextmanager
    def apply(delays: dict):
        url, kind = aws_server
        if kind == "moto":
            pytest.fail("this test needs the lab AWS extension (lab/edgelab/aws), only plain moto is available")
        if kind == "external":
            pytest.skip("changes lab delays: in-process lab AWS only")
        import requests
        before = requests.get(f"{url}/_lab/config", timeout=5).json()["delays"]
        requests.post(f"{url}/_lab/config", json={"delays": delays}, timeout=5).raise_for_status()
        try:
            yield url
        finally:
            requests.post(f"{url}/_lab/config", json={"delays": before}, timeout=5)

    return apply


@pytest.fixture(scope="session")
def asg_lab(lab_delays):
    """asg_lab(delays, cidr_prefix, azs): a context with lab delays set and a VPC (<prefix>.0.0/16) with a subnet per
    AZ letter (<prefix>.<i>.0/24); yields {url, ec2, asg, vpc, subnets, subnet (the first), ami (an EKS AMI)}."""
    @contextlib.contextmanager
    def make_env(delays: dict, cidr_prefix: str, azs: str = "a"):
        with lab_delays(delays) as url:
            def make(service):
                return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                                    aws_access_key_id="testing", aws_secret_access_key="testing")

            ec2 = make("ec2")
            vpc = ec2.create_vpc(CidrBlock=f"{cidr_prefix}.0.0/16")["Vpc"]["VpcId"]
            subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr_prefix}.{i + 1}.0/24",
                                         AvailabilityZone=f"us-east-1{az}")["Subnet"]["SubnetId"]
                       for i, az in enumerate(azs)]
            ami = ec2.describe_images(Owners=["602401143452"])["Images"][0]["ImageId"]
            yield {"url": url, "ec2": ec2, "asg": make("autoscaling"), "vpc": vpc, "subnets": subnets,
                   "subnet": subnets[0], "ami": ami}

    return make_env


@pytest.fixture
def lab_only(aws_server):
    if aws_server[1] == "moto":
        pytest.fail("this test needs the lab AWS extension (lab/edgelab/aws), only plain moto is available")


@pytest.fixture
def client(aws_url):
    def make(service):
        return boto3.client(service, endpoint_url=aws_url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    return make


@pytest.fixture(scope="session")
def subnets(aws_server):
    """Two real regional subnets (the lab checks the ids EKS is given)."""
    ec2 = boto3.client("ec2", endpoint_url=aws_server[0], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    return [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.99.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
        "SubnetId"] for i, az in enumerate("ab")]


@pytest.fixture
def uid():
    return uuid.uuid4().hex[:8]


@pytest.fixture
def run(aws_url):
    """run(module_name, check=False, diff=False, **args) -> result dict (result['failed'] on fail_json)."""
    from ansible.module_utils.testing import patch_module_args

    def _run(_module, check=False, diff=False, **args):
        module = __import__(f"ansible_collections.edgeml.wavelength.plugins.modules.{_module}", fromlist=["main"])
        params = {**CREDS, "endpoint_url": aws_url, "_ansible_check_mode": check, "_ansible_diff": diff, **args}
        out = io.StringIO()
        with patch_module_args(params), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            module.main()
        return json.loads(out.getvalue())

    return _run

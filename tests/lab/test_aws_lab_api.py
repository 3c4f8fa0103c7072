"""Lab AWS endpoint: control API (/_lab/), fault injection, resource summary and reset."""

import pytest
import requests
from aws_helpers import client, lab_api
from botocore.exceptions import ClientError

NO_RETRY = {"mode": "standard", "max_attempts": 1}


@pytest.fixture
def faults(lab_aws):
    """Set faults for one test, then restore the configuration."""
    before = lab_api(lab_aws, "GET", "config")

    def set_faults(**kw):
        return lab_api(lab_aws, "POST", "config", {"faults": kw})
    yield set_faults
    lab_api(lab_aws, "POST", "config", {"faults": before["faults"], "delays": before["delays"]})


def test_health_and_config(lab_aws):
    assert lab_api(lab_aws, "GET", "health") == {"status": "ok"}
    cfg = lab_api(lab_aws, "GET", "config")
    assert cfg["faults"]["throttle_rate"] == 0 and cfg["delays"]["eks_create"] > 0
    r = requests.post(f"{lab_aws.url}/_lab/config", json={"delays": {"nope": 1}}, timeout=5)
    assert r.status_code == 400


@pytest.mark.parametrize(("service", "call", "code"), [
    ("ecr", lambda c: c.describe_repositories(), "ThrottlingException"),
    ("eks", lambda c: c.list_clusters(), "ThrottlingException"),
    ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded"),
    ("autoscaling", lambda c: c.describe_auto_scaling_groups(), "Throttling"),
    ("route53", lambda c: c.list_hosted_zones(), "Throttling"),
])
def test_throttling_without_retries(lab_aws, faults, service, call, code):
    faults(throttle_rate=1.0)
    c = client(lab_aws, service, retries=NO_RETRY)
    with pytest.raises(ClientError) as e:
        call(c)
    assert e.value.response["Error"]["Code"] == code
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # The lab API itself is never faulted.
    assert lab_api(lab_aws, "GET", "health")["status"] == "ok"


def test_server_errors_without_retries(lab_aws, faults):
    faults(error_rate=1.0)
    with pytest.raises(ClientError) as e:
        client(lab_aws, "ecr", retries=NO_RETRY).describe_repositories()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_standard_retries_get_through(lab_aws, faults):
    faults(throttle_rate=0.25, error_rate=0.05, seed=1)
    retrying = {"mode": "standard", "max_attempts": 10}
    ec2, eks = client(lab_aws, "ec2", retries=retrying), client(lab_aws, "eks", retries=retrying)
    attempts = 0
    for _ in range(8):
        attempts += ec2.describe_vpcs()["ResponseMetadata"]["RetryAttempts"]
        attempts += eks.list_clusters()["ResponseMetadata"]["RetryAttempts"]
    assert attempts >= 2  # faults really happened and were retried


def test_no_faults_header(lab_aws, faults):
    faults(throttle_rate=1.0)
    c = client(lab_aws, "ec2", retries=NO_RETRY)
    c.meta.events.register("before-send.*.*", lambda request, **_: request.headers.__setitem__(
        "X-Edgelab-No-Faults", "1"))
    assert "Vpcs" in c.describe_vpcs()


def test_resources_and_reset(lab_aws):
    lab_api(lab_aws, "POST", "reset")
    res = lab_api(lab_aws, "GET", "resources")
    assert not any(res.values()), res
    ec2, iam, s3 = client(lab_aws, "ec2"), client(lab_aws, "iam"), client(lab_aws, "s3")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    cagw = ec2.create_carrier_gateway(VpcId=vpc)["CarrierGateway"]["CarrierGatewayId"]
    iam.create_role(RoleName="edge-node", AssumeRolePolicyDocument="{}")
    s3.create_bucket(Bucket="edge-user-bucket")
    res = lab_api(lab_aws, "GET", "resources")
    assert res["vpcs"] == {"us-east-1": [vpc]} and res["carrier_gateways"] == {"us-east-1": [cagw]}
    assert res["iam_roles"] == ["edge-node"] and res["s3_buckets"] == ["edge-user-bucket"]
    # Teardown in order leaves nothing.
    ec2.delete_carrier_gateway(CarrierGatewayId=cagw)
    ec2.delete_vpc(VpcId=vpc)
    iam.delete_role(RoleName="edge-node")
    s3.delete_bucket(Bucket="edge-user-bucket")
    assert not any(lab_api(lab_aws, "GET", "resources").values())
    # And a reset forgets everything at once.
    ec2.create_vpc(CidrBlock="10.9.0.0/16")
    lab_api(lab_aws, "POST", "reset")
    assert not any(lab_api(lab_aws, "GET", "resources").values())


def test_hosted_zone_edge_lab_is_seeded_again_after_a_reset(lab_aws):
    """The user's domain as the lab has it: a public hosted zone edge.lab; its records are listed as resources."""
    route53 = client(lab_aws, "route53")

    def zones():
        return [(z["Name"], z["Config"]["PrivateZone"]) for z in route53.list_hosted_zones()["HostedZones"]
                if z["Name"] == "edge.lab."]

    assert zones() == [("edge.lab.", False)]
    [zone] = [z for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == "edge.lab."]
    route53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {"Name": "m.edge.lab", "Type": "A", "TTL": 60,
                                                  "ResourceRecords": [{"Value": "127.0.1.254"}]}}]})
    assert lab_api(lab_aws, "GET", "resources")["route53_records"] == ["m.edge.lab. A"]
    lab_api(lab_aws, "POST", "reset")
    assert zones() == [("edge.lab.", False)] and lab_api(lab_aws, "GET", "resources")["route53_records"] == []


def test_aws_env_points_boto3_at_the_lab(aws_env, lab_aws):
    import boto3
    assert aws_env["AWS_ENDPOINT_URL"] == lab_aws.url
    assert boto3.client("sts").get_caller_identity()["Account"] == "123456789012"

"""edgeml.wavelength.jumpstart_export: the SageMaker SDK and the module's S3 client use the module's credentials.

The catalog is read from the content bucket on the in-process AWS endpoint (no local override), so the SDK's own
requests go on the wire too. Every request the process sends is recorded at botocore's transport: the tests check
where it went and what it was signed with - module parameters with a session token, a named profile of the shared
files, an instance role (a fake instance metadata service) - and that nothing asks the instance metadata service
when credentials are given.
"""

import json
import os
import urllib.parse

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.edgeml.wavelength.plugins.modules import jumpstart_export
from aws_recorder import FakeIMDS, aws_credentials_env, record_requests
from test_jumpstart_export import PREPACKED, REGION, seed_content, write_catalog


@pytest.fixture()
def content(aws_url, uid, tmp_path):
    """(content bucket holding the catalog and the artifacts, destination bucket)."""
    s3 = boto3.client("s3", endpoint_url=aws_url, region_name=REGION, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    source, dest = f"jsc-cred-{uid}", f"art-cred-{uid}"
    seed_content(s3, source)
    root = tmp_path / "catalog"
    write_catalog(root)
    for path in root.rglob("*.json"):
        s3.put_object(Bucket=source, Key=path.relative_to(root).as_posix(), Body=path.read_bytes())
    s3.create_bucket(Bucket=dest)
    return source, dest


@pytest.fixture()
def imds(monkeypatch):
    server = FakeIMDS()
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url)
    yield server
    server.stop()


@pytest.fixture()
def export(aws_url, content, capsys, tmp_path, monkeypatch):
    """Run the module in-process with the given connection parameters (none by default)."""
    saved = dict(os.environ)  # the module sets the SDK's variables in os.environ

    def _run(**params):
        args = {"model_id": PREPACKED, "instance_type": "t3.xlarge", "bucket": content[1], "region": REGION,
                "endpoint_url": aws_url, "jumpstart_environment": {"AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE": content[0]},
                "_ansible_remote_tmp": str(tmp_path), **params}
        with patch_module_args(args), pytest.raises(SystemExit):
            jumpstart_export.main()
        return json.loads(capsys.readouterr().out)

    yield _run
    os.environ.clear()
    os.environ.update(saved)


def catalog_reads(sent, content):
    """The SDK's requests for the manifest and the spec in the content bucket."""
    return [s for s in sent if content[0] in s.url and urllib.parse.urlsplit(s.url).path.endswith(".json")]


def check_signed(sent, aws_url, content, key_id, token):
    aws = [s for s in sent if s.netloc == urllib.parse.urlsplit(aws_url).netloc]
    assert aws == [s for s in sent if "/latest/" not in s.url], "a request went to another endpoint"
    reads = catalog_reads(aws, content)
    assert {urllib.parse.urlsplit(s.url).path.rsplit("/", 1)[-1] for s in reads} >= {
        "models_manifest.json", f"{PREPACKED}-1.1.0.json"}, reads  # the SDK read the catalog through the endpoint
    assert any(s.method == "PUT" and content[1] in s.url for s in aws)  # the module's copy
    assert {s.signed_with for s in aws} == {(key_id, token)}, aws


def test_parameters_with_a_session_token_reach_the_sdk(export, aws_url, content, imds, monkeypatch, tmp_path):
    # Other keys in the environment: the parameters win, for the SDK too.
    aws_credentials_env(monkeypatch, tmp_path, AWS_ACCESS_KEY_ID="AKIDENVIRONMENT", AWS_SECRET_ACCESS_KEY="x",
                        AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    sent = record_requests(monkeypatch)
    r = export(access_key="AKIDPARAMETERS", secret_key="secret", session_token="token-parameters")
    assert not r.get("failed"), r
    assert r["changed"] and r["artifact_sha256"]
    check_signed(sent, aws_url, content, "AKIDPARAMETERS", "token-parameters")
    assert imds.requests == []  # credentials given: the instance metadata service is never asked


def test_a_named_profile_reaches_the_sdk(export, aws_url, content, imds, monkeypatch, tmp_path):
    aws_credentials_env(monkeypatch, tmp_path, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url, profiles={
        "edgeml-test": {"aws_access_key_id": "AKIDPROFILE", "aws_secret_access_key": "secret",
                        "aws_session_token": "token-profile"}})
    sent = record_requests(monkeypatch)
    r = export(profile="edgeml-test")
    assert not r.get("failed"), r
    check_signed(sent, aws_url, content, "AKIDPROFILE", "token-profile")
    assert imds.requests == []


def test_instance_role_credentials_reach_the_sdk(export, aws_url, content, imds, monkeypatch, tmp_path):
    """No parameters, environment or profile: the instance role (the module must not switch IMDS off)."""
    imds.credentials = ("ASIAINSTANCEROLE", "token-instance-role")
    aws_credentials_env(monkeypatch, tmp_path, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    sent = record_requests(monkeypatch)
    r = export()
    assert not r.get("failed"), r
    check_signed(sent, aws_url, content, "ASIAINSTANCEROLE", "token-instance-role")
    assert ("GET", f"/latest/meta-data/iam/security-credentials/{imds.role}") in imds.requests
    assert "AWS_EC2_METADATA_DISABLED" not in os.environ


def test_no_credentials_anywhere_fails_clearly(export, imds, monkeypatch, tmp_path):
    aws_credentials_env(monkeypatch, tmp_path, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    r = export()
    assert r["failed"] and r["msg"].startswith("no AWS credentials found")

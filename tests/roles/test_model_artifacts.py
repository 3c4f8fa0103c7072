"""roles/model_artifacts on the lab: check mode reports what a real run changes, the real run converges,
a re-run and a later check run change nothing. Needs `lab up` (AWS at 127.0.0.1:4566, catalog seeded)."""

import json
import os
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).parent / "playbooks"
ENDPOINT = os.environ.get("EDGELAB_AWS_URL", "http://127.0.0.1:4566")

pytestmark = pytest.mark.lab


def lab_vars(tmp_path, **overrides):
    """The lab inventory values as one extra-vars file (product defaults come with the roles)."""
    values = {}
    for path in sorted((REPO / "inventories" / "lab" / "group_vars" / "all").glob("*.yml")):
        values.update(yaml.safe_load(path.read_text()) or {})
    catalog = str(REPO / "lab" / "catalog")
    values["edge_jumpstart_environment"] = {
        "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": catalog,
        "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": catalog,
        "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE": "edgelab-jumpstart-content",
    }
    values["edge_aws_endpoint_url"] = ENDPOINT
    values.update(overrides)
    path = tmp_path / f"vars-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(values))
    return path


def play(playbook, vars_file, check=False):
    """Run a playbook with the JSON callback; returns (stats of localhost, {task name: [results]})."""
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(PLAYBOOKS / playbook), "-e", f"@{vars_file}"]
    if check:
        cmd += ["--check", "--diff"]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", AWS_EC2_METADATA_DISABLED="true")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # profile_tasks (ansible.cfg) prints around the JSON document: decode just the document.
    report, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])
    tasks = {}
    for p in report["plays"]:
        for t in p["tasks"]:
            tasks.setdefault(t["task"]["name"], []).append(t["hosts"]["localhost"])
    return report["stats"]["localhost"], tasks


def changed_tasks(tasks):
    return sorted(name for name, results in tasks.items() for r in results if r.get("changed"))


def s3():
    return boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def delete_bucket(name):
    client = s3()
    try:
        versions = client.list_object_versions(Bucket=name)
    except client.exceptions.ClientError:
        return
    for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        client.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    client.delete_bucket(Bucket=name)


def test_model_artifacts_converge_idempotent_check(tmp_path):
    uid = uuid.uuid4().hex[:8]
    bucket = f"edgeml-rt-{uid}"
    vars_file = lab_vars(tmp_path, edge_name=f"rt{uid}", edge_artifact_bucket=bucket)
    try:
        check_stats, check_tasks = play("artifacts_model_artifacts.yml", vars_file, check=True)
        # bucket would be created + export + deployment record
        assert check_stats["changed"] == 3, changed_tasks(check_tasks)
        real_stats, real_tasks = play("artifacts_model_artifacts.yml", vars_file)
        assert real_stats["changed"] == check_stats["changed"], (changed_tasks(check_tasks), changed_tasks(real_tasks))
        again, again_tasks = play("artifacts_model_artifacts.yml", vars_file)
        assert again["changed"] == 0, changed_tasks(again_tasks)
        later, later_tasks = play("artifacts_model_artifacts.yml", vars_file, check=True)
        assert later["changed"] == 0, changed_tasks(later_tasks)

        exports = real_tasks["Show the exports"][0]["model_artifacts_exports"]
        sentiment = exports["sentiment"]
        assert sentiment["image_uri"] == "127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0"
        assert sentiment["args"] == ["serve"] and sentiment["port"] == 8080
        key = sentiment["artifact_s3_uri"].removeprefix(f"s3://{bucket}/")
        head = s3().head_object(Bucket=bucket, Key=key)
        assert head["Metadata"]["sha256"] == sentiment["artifact_sha256"]
        assert head["ServerSideEncryption"] == "AES256"
        # The record later stages read when they run alone: the exports, as the role published them.
        record = json.loads(s3().get_object(Bucket=bucket, Key=f"rt{uid}/deployment.json")["Body"].read())
        assert record == {"name": f"rt{uid}", "exports": exports}
        client = s3()
        assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert all(client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
        policy = json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])
        assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    finally:
        delete_bucket(bucket)


def test_bad_bucket_name_fails_with_fix(tmp_path):
    vars_file = lab_vars(tmp_path, edge_artifact_bucket="")
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(PLAYBOOKS / "artifacts_model_artifacts.yml"),
           "-e", f"@{vars_file}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "edge_artifact_bucket" in proc.stdout and "set it to your S3 bucket" in proc.stdout

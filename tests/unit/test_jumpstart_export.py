"""edgeml.wavelength.jumpstart_export against a moto S3 server and a small SDK-format catalog in tmp_path.

The module runs in-process (ansible.module_utils.testing.patch_module_args); the SDK resolves from the
catalog through its own override variables, exactly as in the lab.
"""

import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))

from ansible.module_utils.testing import patch_module_args
from ansible_collections.edgeml.wavelength.plugins.module_utils import jumpstart as js
from ansible_collections.edgeml.wavelength.plugins.modules import jumpstart_export

REGION = "us-east-1"
CONTENT_BUCKET = "edgelab-jumpstart-content"
IMAGE = "127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0"
PREPACKED = "edgeml-tc-minilm-l6-sentiment-int8"
SCRIPTED = "edgeml-tc-script-bundle"
PREFIXED = "edgeml-tc-prefix-artifact"


def tar_bytes(files):
    """A gzip tarball of {name: bytes}, with owners and mtimes the repack must drop."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid, info.uname = len(data), 1234567, 1000, "builder"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def spec(model_id, version, kind):
    base = f"{model_id}/{version}/"
    s = {
        "model_id": model_id,
        "version": version,
        "min_sdk_version": "2.0.0",
        "hosting_artifact_key": base + ("artifacts/" if kind == "prefix" else "model-raw.tar.gz"),
        "hosting_script_key": base + "sourcedir.tar.gz",
        "hosting_instance_type_variants": {
            "regional_aliases": {r: {"cpu": IMAGE} for r in ("us-east-1", "us-west-2")},
            "variants": {f: {"regional_properties": {"image_uri": "$cpu"}} for f in ("t3", "m5")},
        },
        "inference_environment_variables": [
            {"name": "SAGEMAKER_PROGRAM", "type": "text", "default": "inference.py", "scope": "container",
             "required_for_model_class": True},
            {"name": "SAGEMAKER_SUBMIT_DIRECTORY", "type": "text", "default": "/opt/ml/model/code",
             "scope": "container", "required_for_model_class": True},
        ],
        "predictor_specs": {
            "supported_content_types": ["application/x-text"],
            "supported_accept_types": ["application/json;verbose", "application/json"],
            "default_content_type": "application/x-text",
            "default_accept_type": "application/json",
        },
    }
    if kind == "prefix":
        s["hosting_artifact_s3_data_type"] = "S3Prefix"
    if kind == "prepacked":
        s["hosting_prepacked_artifact_key"] = base + "model.tar.gz"
        s["hosting_use_script_uri"] = False
    return s


CATALOG = [(PREPACKED, "1.0.0", "prepacked"), (PREPACKED, "1.1.0", "prepacked"),
           (SCRIPTED, "1.0.0", "tarball"), (PREFIXED, "2.0.0", "prefix")]
MODEL_FILES = {"model.onnx": b"onnx-bytes", "labels.json": b'["negative", "positive"]'}
CODE_FILES = {"inference.py": b"print('hi')\n"}


def write_catalog(root):
    root.mkdir(parents=True, exist_ok=True)
    manifest = []
    for model_id, version, kind in CATALOG:
        key = f"specs/{model_id}-{version}.json"
        (root / "specs").mkdir(exist_ok=True)
        (root / key).write_text(json.dumps(spec(model_id, version, kind)))
        manifest.append({"model_id": model_id, "version": version, "min_version": "2.0.0", "spec_key": key})
    (root / "models_manifest.json").write_text(json.dumps(manifest))


def seed_content(s3, bucket):
    s3.create_bucket(Bucket=bucket)
    for model_id, version, kind in CATALOG:
        base = f"{model_id}/{version}/"
        if kind == "prepacked":
            files = dict(MODEL_FILES, **{"code/" + k: v for k, v in CODE_FILES.items()})
            s3.put_object(Bucket=bucket, Key=base + "model.tar.gz", Body=tar_bytes(files))
        elif kind == "tarball":
            s3.put_object(Bucket=bucket, Key=base + "model-raw.tar.gz", Body=tar_bytes(MODEL_FILES))
        else:
            for name, data in MODEL_FILES.items():
                s3.put_object(Bucket=bucket, Key=base + "artifacts/sub/" + name, Body=data)
        if kind != "prepacked":
            s3.put_object(Bucket=bucket, Key=base + "sourcedir.tar.gz", Body=tar_bytes(CODE_FILES))


@pytest.fixture()
def buckets(uid):
    """(content bucket, destination bucket), unique per test: the AWS endpoint is shared by the session."""
    return f"jsc-{uid}", f"art-{uid}"


@pytest.fixture()
def s3(aws_url, buckets):
    client = boto3.client("s3", endpoint_url=aws_url, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    seed_content(client, buckets[0])
    client.create_bucket(Bucket=buckets[1])
    return client


@pytest.fixture()
def catalog(tmp_path):
    root = tmp_path / "catalog"
    write_catalog(root)
    return root


@pytest.fixture(autouse=True)
def restore_environ():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture()
def export(aws_url, buckets, catalog, capsys, tmp_path):
    """Run the module in-process and return its JSON result (failed results included)."""

    def _run(check=False, diff=True, **params):
        args = {
            "model_id": PREPACKED, "instance_type": "t3.xlarge", "bucket": buckets[1], "region": REGION,
            "endpoint_url": aws_url, "access_key": "testing", "secret_key": "testing",
            "jumpstart_environment": {
                "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": str(catalog),
                "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": str(catalog),
                "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE": buckets[0],
            },
            "_ansible_check_mode": check, "_ansible_diff": diff, "_ansible_remote_tmp": str(tmp_path),
        }
        args.update(params)
        args = {k: v for k, v in args.items() if v is not None}  # None: leave the default's option out
        with patch_module_args(args), pytest.raises(SystemExit):
            jumpstart_export.main()
        return json.loads(capsys.readouterr().out)

    return _run


def members(s3, bucket, key):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return body, {m.name: m for m in tar.getmembers()}


def test_prepacked_copy_then_idempotent(export, s3, buckets):
    first = export()
    assert first["changed"] is True, first
    key = f"jumpstart/{PREPACKED}/1.1.0/model.tar.gz"
    assert first["model_version"] == "1.1.0"  # "*" resolves to the newest
    assert first["artifact_s3_uri"] == f"s3://{buckets[1]}/{key}"
    assert first["image_uri"] == IMAGE
    assert first["args"] == ["serve"] and first["port"] == 8080 and first["readiness_path"] == "/ping"
    assert first["environment"] == {"SAGEMAKER_PROGRAM": "inference.py",
                                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    assert first["content_types"] == ["application/x-text"]
    assert first["accept_types"] == ["application/json;verbose", "application/json"]
    assert first["artifact_kind"] == "prepacked"
    body, _ = members(s3, buckets[1], key)
    source = s3.get_object(Bucket=buckets[0], Key=f"{PREPACKED}/1.1.0/model.tar.gz")["Body"].read()
    assert body == source  # prepacked: byte for byte
    assert first["artifact_sha256"] == hashlib.sha256(body).hexdigest()
    assert first["artifact_size"] == len(body)
    head = s3.head_object(Bucket=buckets[1], Key=key)
    assert head["Metadata"]["sha256"] == first["artifact_sha256"]
    assert head["Metadata"]["source-digest"] == first["source_digest"]
    assert head["ServerSideEncryption"] == "AES256"
    assert first["diff"]["before"] == {}

    second = export()
    assert second["changed"] is False
    assert second["artifact_sha256"] == first["artifact_sha256"]
    assert second["artifact_size"] == first["artifact_size"]
    assert second["diff"]["before"] == second["diff"]["after"]


def test_check_mode_reports_change_without_writing(export, s3, buckets):
    result = export(check=True, model_version="1.0.0")
    assert result["changed"] is True
    assert result["artifact_sha256"] is None
    assert result["diff"]["before"] == {} and result["diff"]["after"]["source_digest"] == result["source_digest"]
    assert "Contents" not in s3.list_objects_v2(Bucket=buckets[1])
    real = export(model_version="1.0.0")
    assert real["changed"] is True
    again = export(check=True, model_version="1.0.0")
    assert again["changed"] is False and again["artifact_sha256"] == real["artifact_sha256"]


def test_source_change_triggers_copy(export, s3, buckets):
    export(model_version="1.0.0")
    s3.put_object(Bucket=buckets[0], Key=f"{PREPACKED}/1.0.0/model.tar.gz",
                  Body=tar_bytes({"model.onnx": b"retrained"}))
    result = export(model_version="1.0.0")
    assert result["changed"] is True
    assert result["diff"]["before"]["sha256"] != result["diff"]["after"]["sha256"]


@pytest.mark.parametrize("model_id", [SCRIPTED, PREFIXED])
def test_repack_script_bundle_deterministic(export, s3, buckets, model_id):
    first = export(model_id=model_id, prefix="custom/place")
    assert first["changed"] is True
    assert first["artifact_s3_uri"] == f"s3://{buckets[1]}/custom/place/model.tar.gz"
    body, tar_members = members(s3, buckets[1], "custom/place/model.tar.gz")
    model_root = "sub/" if model_id == PREFIXED else ""
    expected = {"code", "code/inference.py", model_root + "model.onnx", model_root + "labels.json"}
    if model_root:
        expected.add("sub")
    assert set(tar_members) == expected
    assert list(tar_members) == sorted(tar_members)
    assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in tar_members.values())
    assert first["artifact_sha256"] == hashlib.sha256(body).hexdigest()
    assert len(first["source_uris"]) == 2

    # Same sources rebuilt from scratch give the same bytes (the digest is stable, not just recorded).
    s3.delete_object(Bucket=buckets[1], Key="custom/place/model.tar.gz")
    rebuilt = export(model_id=model_id, prefix="custom/place")
    assert rebuilt["changed"] is True and rebuilt["artifact_sha256"] == first["artifact_sha256"]
    assert export(model_id=model_id, prefix="custom/place")["changed"] is False


def test_kms_encryption_mismatch_recopies(export, s3, buckets):
    export(model_version="1.0.0")
    result = export(model_version="1.0.0", encryption="aws:kms")
    assert result["changed"] is True
    head = s3.head_object(Bucket=buckets[1], Key=f"jumpstart/{PREPACKED}/1.0.0/model.tar.gz")
    assert head["ServerSideEncryption"] == "aws:kms"


def expect_failure(result, *fragments):
    assert result.get("failed") is True, result
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]


def test_unknown_model_lists_close_matches(export, s3, buckets):
    expect_failure(export(model_id="edgeml-tc-minilm-l6-sentiment"), "unknown JumpStart model_id", PREPACKED)


def test_unknown_version_lists_available(export, s3, buckets):
    expect_failure(export(model_version="9.9.9"), "unknown version '9.9.9'", "1.0.0, 1.1.0")


def test_no_image_for_instance_type_or_region(export, s3, buckets):
    expect_failure(export(instance_type="g4dn.xlarge"), "no inference image", "ml.g4dn.xlarge")
    expect_failure(export(region="eu-west-3"), "no inference image", "eu-west-3")


def test_zone_name_rejected_as_region(export, s3, buckets):
    expect_failure(export(region="us-east-1-wl1-bos-wlz-1"), "parent AWS region", "parent region is us-east-1")


def test_missing_bucket_named_and_nothing_written(export, s3, buckets):
    expect_failure(export(bucket="no-such-bucket"), "'no-such-bucket' does not exist", "create it")
    # In check mode an earlier task may be about to create it: a change, with a warning.
    checked = export(bucket="no-such-bucket", check=True)
    assert checked["changed"] is True and "does not exist" in json.dumps(checked["warnings"])


def test_missing_source_object(export, s3, buckets):
    s3.delete_object(Bucket=buckets[0], Key=f"{PREPACKED}/1.0.0/model.tar.gz")
    expect_failure(export(model_version="1.0.0"), "source artifact", "missing")
    assert "Contents" not in s3.list_objects_v2(Bucket=buckets[1])


def test_override_dir_must_exist(export, s3, buckets, tmp_path):
    env = {"AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": str(tmp_path / "nope"),
           "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": str(tmp_path)}
    expect_failure(export(jumpstart_environment=env), "MANIFEST_LOCAL_ROOT_DIR_OVERRIDE", "not a directory")
    expect_failure(export(jumpstart_environment={"HOME": "/"}), "not a JumpStart SDK variable")


def test_instance_type_mapping():
    assert js.sagemaker_instance_type("t3.xlarge") == "ml.t3.xlarge"
    assert js.sagemaker_instance_type("ml.g4dn.2xlarge") == "ml.g4dn.2xlarge"
    with pytest.raises(js.JumpStartError):
        js.sagemaker_instance_type("xlarge")


def test_several_models_in_one_run_match_one_run_each(export, s3, buckets):
    """models: one module run (the SDK loaded once) resolves each entry as a run of its own would."""
    alone = [export(check=True, model_id=PREPACKED, model_version="1.0.0"), export(check=True, model_id=SCRIPTED)]
    both = export(check=True, model_id=None, models=[{"model_id": PREPACKED, "model_version": "1.0.0"},
                                                     {"model_id": SCRIPTED}])
    assert both.get("changed") is True and len(both["results"]) == 2, both
    keys = ("model_id", "model_version", "image_uri", "artifact_s3_uri", "source_digest", "artifact_kind", "changed")
    assert [{k: r[k] for k in keys} for r in both["results"]] == [{k: r[k] for k in keys} for r in alone]
    assert "Contents" not in s3.list_objects_v2(Bucket=buckets[1])  # check mode wrote nothing
    export(model_id=None, models=[{"model_id": PREPACKED, "model_version": "1.0.0"}, {"model_id": SCRIPTED}])
    again = export(check=True, model_id=None, models=[{"model_id": PREPACKED, "model_version": "1.0.0"},
                                                      {"model_id": SCRIPTED}])
    assert again["changed"] is False and all(r["artifact_sha256"] for r in again["results"])
    wrong = export(check=True, model_id=None, models=[{"model_id": PREPACKED}, {"model_id": "no-such-model"}])
    assert wrong["failed"] and "no-such-model" in wrong["msg"]

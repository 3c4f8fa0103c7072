"""roles/model_artifacts with the JumpStart catalog shapes of the lab catalog: the per-model keys accept_eula,
allow_deprecated and inference_config reach jumpstart_export, the preflight refuses a gated model whose EULA is not
accepted before anything is written, and additional data sources are copied and kept up to date like the artifact.
Needs the lab's AWS endpoint (127.0.0.1:4566); the catalog content is seeded into buckets of its own."""

import io
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "lab"), str(Path(__file__).parent)]
from edgelab import catalog
from edgelab import catalog_spec as spec
from test_model_artifacts import REPO, changed_tasks, delete_bucket, lab_vars, play, s3

pytestmark = pytest.mark.lab


def tar_gz(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture()
def shape_vars(tmp_path):
    """(vars file maker, artifact bucket): the catalog content seeded into fresh content and gated buckets."""
    uid = uuid.uuid4().hex[:8]
    buckets = {"content": f"jsc-{uid}", "gated": f"jsg-{uid}"}
    client = s3()
    for name in buckets.values():
        client.create_bucket(Bucket=name)
    for (kind, key), body in catalog.content(tar_gz({"model.onnx": b"onnx"})).items():
        client.put_object(Bucket=buckets[kind], Key=key, Body=body)
    bucket = f"edgeml-rs-{uid}"
    catalog_dir = str(REPO / "lab" / "catalog")

    def make(models):
        return lab_vars(tmp_path, edge_name=f"rs{uid}", edge_artifact_bucket=bucket, edge_models=models,
                        edge_jumpstart_environment={
                            "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": catalog_dir,
                            "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": catalog_dir,
                            "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE": buckets["content"],
                            "AWS_JUMPSTART_GATED_CONTENT_BUCKET_OVERRIDE": buckets["gated"],
                        })

    yield make, bucket
    for name in [*buckets.values(), bucket]:
        delete_bucket(name)


MODELS = [
    {"name": "draft", "model_id": spec.DRAFT, "node_port": 30008},
    {"name": "gated", "model_id": spec.GATED, "accept_eula": True, "node_port": 30009},
    {"name": "configs", "model_id": spec.CONFIGS, "inference_config": "onnx-int8-draft", "accept_eula": True,
     "node_port": 30010},
    {"name": "old", "model_id": spec.DEPRECATED, "allow_deprecated": True, "node_port": 30011},
]


def test_shapes_converge_idempotent(shape_vars):
    """The role passes the shape keys through and converges; check mode and a re-copied channel are proven per module
    in tests/unit/test_jumpstart_shapes.py."""
    make, bucket = shape_vars
    vars_file = make(MODELS)
    real_stats, real_tasks = play("artifacts_model_artifacts.yml", vars_file)
    assert real_stats["changed"] == 3, changed_tasks(real_tasks)
    again, again_tasks = play("artifacts_model_artifacts.yml", vars_file)
    assert again["changed"] == 0, changed_tasks(again_tasks)

    exports = real_tasks["Show the exports"][0]["model_artifacts_exports"]
    assert exports["gated"]["eula"]["accepted"] is True
    assert exports["configs"]["inference_config"] == "onnx-int8-draft"
    assert exports["old"]["model_version"] == "2.0.0" and exports["old"]["deprecated"] is True
    for name in ("draft", "configs"):
        (channel,) = exports[name]["additional_data_sources"]
        assert channel["container_path"] == "/opt/ml/additional-model-data-sources/draft_model"
        key = channel["artifact_s3_uri"].removeprefix(f"s3://{bucket}/")
        assert s3().head_object(Bucket=bucket, Key=key)["Metadata"]["sha256"] == channel["artifact_sha256"]


def test_gated_model_without_accept_eula_fails_the_preflight(shape_vars):
    make, bucket = shape_vars
    vars_file = make([{"name": "gated", "model_id": spec.GATED, "node_port": 30009}])
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"),
           str(REPO / "tests" / "roles" / "playbooks" / "artifacts_model_artifacts.yml"), "-e", f"@{vars_file}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert f"JumpStart model '{spec.GATED}' version 1.0.0" in proc.stdout, proc.stdout[-3000:]
    assert "accept_eula: true" in proc.stdout and f"fmhMetadata/eula/{spec.GATED}-eula.txt" in proc.stdout
    assert bucket not in [b["Name"] for b in s3().list_buckets()["Buckets"]]  # nothing written

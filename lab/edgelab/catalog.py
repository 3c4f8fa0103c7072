"""Seed the JumpStart catalog content at `lab up`: model artifacts in the lab S3 buckets (the content bucket, and the
gated one for the gated shapes), runtime image in the source registry. Idempotent: an upload is skipped when the S3
ETag (md5) matches, a push when the registry already holds the same image id (recorded in
.lab/run/catalog-image.json)."""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from edgelab import catalog_spec as spec
from edgelab import config, images
from edgelab.awsclient import client
from edgelab.dockerctl import inspect

IMAGE_LOCAL = "edgeml/sentiment-runtime:1.0.0"
IMAGE_SOURCE = spec.IMAGE
MODEL_DIR = config.REPO / "model" / "artifacts"
PACKAGER = config.REPO / "runtime" / "package_model.py"
IMAGE_BUILD = config.REPO / "runtime" / "image" / "build.sh"
IMAGE_RECORD = config.STATE_DIR / "run" / "catalog-image.json"
# The stand-in for the SageMaker TensorFlow Serving container, built FROM the runtime image.
TFS_LOCAL = "edgelab/tensorflow-inference:2.19.0-cpu"
TFS_CONTEXT = config.REPO / "lab" / "images" / "tensorflow-inference"

# Script bundle of the script-uri entry (0.9.0). The runtime image serves the model by itself; the bundle exists
# so that consumers exercise JumpStart's script + artifact shape (repack into model.tar.gz with code/).
INFERENCE_PY = b'"""JumpStart inference script entry (the edgeml runtime serves the model itself)."""\n'


def _deterministic_tar(files: dict[str, bytes]) -> bytes:
    """A gzip tarball whose bytes depend only on `files` (fixed mtimes, owners, order, gzip header)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def build_model_tarball() -> bytes | None:
    """model.tar.gz (prepacked, no code/) from model/artifacts, through runtime/package_model.py (the packaging
    owner, deterministic) when it exists, else a deterministic tar of the dir. None when there is no model yet."""
    if not MODEL_DIR.is_dir():
        return None
    if PACKAGER.exists():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "model.tar.gz"
            subprocess.run([sys.executable, str(PACKAGER), "--artifacts", str(MODEL_DIR), "--out", str(out)],
                           check=True, cwd=config.REPO, stdout=subprocess.DEVNULL)
            return out.read_bytes()
    return _deterministic_tar({str(p.relative_to(MODEL_DIR)): p.read_bytes()
                               for p in MODEL_DIR.rglob("*") if p.is_file()})


# Files of the draft model (speculative decoding channel) of the additional-data-source shapes.
DRAFT_FILES = {"config.json": b'{"architectures": ["BertModel"], "num_hidden_layers": 2}\n',
               "model.onnx": b"edgelab draft model placeholder\n"}
EULA_TEXT = b"edgelab JumpStart catalog: end-user license agreement of a gated lab model (terms of use).\n"


def content(model: bytes | None) -> dict[tuple[str, str], bytes | None]:
    """Every object the catalog's entries point at: {("content" | "gated", key): body}, walked from the specs the way
    the SDK resolves them (artifact keys of the entry and of its inference configurations, script bundles, additional
    data sources, EULA texts). Model artifacts are `model` (None when the model is not built yet)."""
    objects: dict[tuple[str, str], bytes | None] = {}
    script = _deterministic_tar({"inference.py": INFERENCE_PY})
    for body in spec.specs().values():
        bucket = "gated" if body.get("gated_bucket") else "content"
        parts = [body, *(body.get("inference_config_components") or {}).values()]
        for part in parts:
            for field in ("hosting_prepacked_artifact_key", "hosting_artifact_key"):
                if part.get(field):
                    objects[(bucket, part[field])] = model
            if body.get("hosting_use_script_uri", True) and part.get("hosting_script_key"):
                objects[(bucket, part["hosting_script_key"])] = script
            for source in (part.get("hosting_additional_data_sources") or {}).get("speculative_decoding", []):
                classification = source.get("provider", {}).get("classification")
                source_bucket = "gated" if classification == "gated" else "content"
                for name, data in DRAFT_FILES.items():
                    objects[(source_bucket, source["s3_data_source"]["s3_uri"] + name)] = data
                if source.get("hosting_eula_key"):
                    objects[("content", source["hosting_eula_key"])] = EULA_TEXT
        if body.get("hosting_eula_key"):
            objects[("content", body["hosting_eula_key"])] = EULA_TEXT
    return objects


def _put_if_changed(s3, bucket: str, key: str, body: bytes) -> bool:
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    try:
        if s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"') == md5:
            return False
    except s3.exceptions.ClientError:
        pass
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return True


def seed_bucket(log=print) -> list[str]:
    s3 = client("s3")
    buckets = {"content": config.JUMPSTART_CONTENT_BUCKET, "gated": spec.GATED_CONTENT_BUCKET}
    existing = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    for name in buckets.values():
        if name not in existing:
            s3.create_bucket(Bucket=name)
    uploaded = []
    for (kind, key), data in content(build_model_tarball()).items():
        if data is None:
            log(f"model artifacts missing ({MODEL_DIR}); {key} not seeded")
        elif _put_if_changed(s3, buckets[kind], key, data):
            uploaded.append(f"{buckets[kind]}/{key}" if kind != "content" else key)
    return uploaded


def seed_image(log=print) -> bool:
    """Build the runtime image (runtime/image/build.sh, cached by its owner) and the SageMaker TensorFlow Serving
    stand-in FROM it, and push both to the source registry (what changed). True when something was pushed."""
    if not IMAGE_BUILD.exists():
        log(f"{IMAGE_BUILD} missing; runtime image not seeded")
        return False
    subprocess.run(["bash", str(IMAGE_BUILD)], check=True, cwd=config.REPO, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DOCKER_HOST": config.DOCKER_HOST})
    images.build_from_dockerfile(TFS_LOCAL, TFS_CONTEXT, log=log, base=IMAGE_LOCAL)
    pushed = False
    for local, source in ((IMAGE_LOCAL, IMAGE_SOURCE), (TFS_LOCAL, spec.TFS_IMAGE)):
        image_id = inspect("image", local)["Id"]
        record = json.loads(IMAGE_RECORD.read_text()) if IMAGE_RECORD.exists() else {}
        if record.get(source) == image_id and _registry_has(source):
            continue
        images.push(local, source)
        IMAGE_RECORD.parent.mkdir(parents=True, exist_ok=True)
        IMAGE_RECORD.write_text(json.dumps({**record, source: image_id}))
        pushed = True
    return pushed


def _registry_has(ref: str) -> bool:
    proc = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                          capture_output=True)
    return proc.returncode == 0


def seed(log=print) -> str:
    uploaded = seed_bucket(log)
    try:
        image = "pushed" if seed_image(log) else "unchanged"
    except (subprocess.CalledProcessError, RuntimeError) as exc:  # the lab stays usable without the image
        log(f"runtime image not seeded: {exc}")
        image = "NOT SEEDED"
    return f"seeded ({len(uploaded)} objects uploaded, image {image})"

"""Seed the JumpStart catalog content at `lab up`: model artifacts in the lab S3 bucket, runtime image in the
source registry. Idempotent: an upload is skipped when the S3 ETag (md5) matches, a push when the registry
already holds the same image id (recorded in .lab/run/catalog-image.json)."""

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


def _put_if_changed(s3, key: str, body: bytes) -> bool:
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    try:
        if s3.head_object(Bucket=config.JUMPSTART_CONTENT_BUCKET, Key=key)["ETag"].strip('"') == md5:
            return False
    except s3.exceptions.ClientError:
        pass
    s3.put_object(Bucket=config.JUMPSTART_CONTENT_BUCKET, Key=key, Body=body)
    return True


def seed_bucket(log=print) -> list[str]:
    s3 = client("s3")
    if config.JUMPSTART_CONTENT_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=config.JUMPSTART_CONTENT_BUCKET)
    uploaded, model = [], build_model_tarball()
    for version, prepacked in spec.VERSIONS.items():
        body = spec.spec(version, prepacked)
        objects = {body["hosting_artifact_key"]: model}
        if not prepacked:
            objects[body["hosting_script_key"]] = _deterministic_tar({"inference.py": INFERENCE_PY})
        for key, data in objects.items():
            if data is None:
                log(f"model artifacts missing ({MODEL_DIR}); {key} not seeded")
            elif _put_if_changed(s3, key, data):
                uploaded.append(key)
    return uploaded


def seed_image(log=print) -> bool:
    """Build the runtime image (runtime/image/build.sh, cached by its owner) and push it to the source registry."""
    if not IMAGE_BUILD.exists():
        log(f"{IMAGE_BUILD} missing; runtime image not seeded")
        return False
    subprocess.run(["bash", str(IMAGE_BUILD)], check=True, cwd=config.REPO, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DOCKER_HOST": config.DOCKER_HOST})
    image_id = inspect("image", IMAGE_LOCAL)["Id"]
    record = json.loads(IMAGE_RECORD.read_text()) if IMAGE_RECORD.exists() else {}
    if record.get(IMAGE_SOURCE) == image_id and _registry_has(IMAGE_SOURCE):
        return False
    images.push(IMAGE_LOCAL, IMAGE_SOURCE)
    IMAGE_RECORD.parent.mkdir(parents=True, exist_ok=True)
    IMAGE_RECORD.write_text(json.dumps({**record, IMAGE_SOURCE: image_id}))
    return True


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

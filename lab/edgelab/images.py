"""Lab images built offline (no Docker Hub): `edgelab/node` from debootstrap + `docker import`.

Each image carries a label `edgelab.digest` = sha256 of its build inputs; a build is skipped when an image
with the same digest exists, so `lab up` costs nothing once images are built.
"""

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgelab import config
from edgelab.dockerctl import docker, inspect

NODE_IMAGE = "edgelab/node:latest"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ["bash", "coreutils", "tar", "gzip", "curl", "ca-certificates", "python3"]
# awscli v1 >= 1.29 honours AWS_ENDPOINT_URL; installed with the host pip (host index config + CA bundle) into
# /opt/awscli: the host Python (3.11) and bookworm's python3 (3.11) share the ABI, so binary wheels fit.
AWSCLI = "awscli>=1.32,<2"
AWS_WRAPPER = '#!/bin/sh\nPYTHONPATH=/opt/awscli exec python3 -m awscli "$@"\n'


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def current_digest(image: str) -> str | None:
    info = inspect("image", image)
    return ((info or {}).get("Config", {}).get("Labels") or {}).get("edgelab.digest")


def node_image_digest() -> str:
    return digest(SUITE, MIRROR, *PACKAGES, AWSCLI, AWS_WRAPPER)


def build_node_image(force: bool = False, log=print) -> str:
    """Build edgelab/node unless an image with the same input digest exists. Returns the image name."""
    want = node_image_digest()
    if not force and current_digest(NODE_IMAGE) == want:
        return NODE_IMAGE
    log(f"building {NODE_IMAGE} (debootstrap {SUITE} + awscli, ~1 min)")
    work = Path(tempfile.mkdtemp(prefix="edgelab-node-", dir=config.STATE_DIR if config.STATE_DIR.exists() else None))
    rootfs = work / "rootfs"
    try:
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(rootfs),
                        MIRROR], check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target",
                        str(rootfs / "opt/awscli"), AWSCLI], check=True)
        aws = rootfs / "usr/local/bin/aws"
        aws.write_text(AWS_WRAPPER)
        aws.chmod(0o755)
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], check=True, capture_output=True).stdout
        docker("import", "--change", f"LABEL edgelab.digest={want}", "--change", 'CMD ["sleep", "infinity"]',
               "-", NODE_IMAGE, input=tar, timeout=600)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return NODE_IMAGE


def build_from_dockerfile(image: str, context: Path, log=print, base: str = NODE_IMAGE) -> str:
    """`docker build` (legacy builder) of a small image FROM a lab image (`base`), cached by the digest of the base
    image and the context."""
    files = sorted(p for p in context.rglob("*") if p.is_file())
    want = digest(inspect("image", base)["Id"], *(f"{p.relative_to(context)}:{p.read_text()}" for p in files))
    if current_digest(image) != want:
        log(f"building {image}")
        docker("build", "-q", "--label", f"edgelab.digest={want}", "-t", image, str(context), timeout=300)
    return image


def push(image: str, ref: str) -> None:
    """Copy an image of the lab's dockerd to a loopback registry (plain http)."""
    subprocess.run(["skopeo", "copy", "--quiet", "--src-daemon-host", config.DOCKER_HOST, "--dest-tls-verify=false",
                    f"docker-daemon:{image}", f"docker://{ref}"], check=True, capture_output=True)


def push_by_digest(image: str, repository: str, tag: str = "latest") -> str:
    """push() as repository:tag, then return repository@sha256:... (the reference a Deployment pins)."""
    push(image, f"{repository}:{tag}")
    digest = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                             f"docker://{repository}:{tag}"], check=True, capture_output=True, text=True).stdout.strip()
    return f"{repository}@{digest}"

"""Thin wrapper around the docker CLI, always aimed at the lab dockerd (never the host's default daemon)."""

import json
import os
import subprocess

from edgelab import config


def env() -> dict:
    return {**os.environ, "DOCKER_HOST": config.DOCKER_HOST, "DOCKER_BUILDKIT": "0"}


def docker(*args: str, check: bool = True, input: bytes | None = None, timeout: float | None = 120) -> str:
    """Run `docker <args>` and return stdout (text); raise with stderr on failure when check."""
    proc = subprocess.run(["docker", *args], env=env(), input=input, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}... failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return proc.stdout.decode(errors="replace")


def inspect(kind: str, name: str) -> dict | None:
    """`docker <kind> inspect` as a dict, or None when the object does not exist."""
    out = docker(kind, "inspect", name, check=False)
    data = json.loads(out) if out.strip() else []
    return data[0] if data else None


def containers(label: str, all_: bool = True) -> list[str]:
    """Names of containers carrying a label (k or k=v)."""
    args = ["ps", "--filter", f"label={label}", "--format", "{{.Names}}"]
    if all_:
        args.insert(1, "-a")
    return [n for n in docker(*args).split() if n]

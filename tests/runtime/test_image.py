"""The inference image: built by runtime/image/build.sh (cached by input digest), then checked in dockerd.

Never skipped silently: skipped only with EDGEML_NO_DOCKER=1; an unreachable dockerd is a failure.
"""

import json
import os
import subprocess
import time
import urllib.request

import pytest
from conftest import ARTIFACTS, NEGATIVE, POSITIVE, REPO, free_port

IMAGE = os.environ.get("EDGEML_RUNTIME_IMAGE", "edgeml/sentiment-runtime:1.0.0")
DOCKER_ENV = {**os.environ, "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///run/edgelab/docker.sock")}

pytestmark = pytest.mark.skipif(os.environ.get("EDGEML_NO_DOCKER") == "1", reason="EDGEML_NO_DOCKER=1")


def docker(*args, check=True, timeout=120):
    r = subprocess.run(["docker", *args], env=DOCKER_ENV, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise AssertionError(f"docker {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout.strip()


@pytest.fixture(scope="module")
def image():
    r = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env=DOCKER_ENV,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if r.returncode:
        pytest.fail(
            f"dockerd at {DOCKER_ENV['DOCKER_HOST']} is unreachable ({r.stderr.strip()}); "
            "start it or set EDGEML_NO_DOCKER=1 to skip the image tests explicitly"
        )
    # A no-op when the image label already matches the inputs' digest.
    build = subprocess.run(
        [str(REPO / "runtime" / "image" / "build.sh")], env=DOCKER_ENV, capture_output=True, text=True, timeout=900
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return json.loads(docker("image", "inspect", IMAGE))[0]


def test_runs_as_non_root(image):
    assert image["Config"]["User"] not in ("", "0", "root", "0:0")
    assert docker("run", "--rm", "--network", "host", "--entrypoint", "id", IMAGE, "-u") != "0"


def test_entrypoint_takes_serve(image):
    assert image["Config"]["Cmd"] == ["serve"] and "edgeml_runtime" in " ".join(image["Config"]["Entrypoint"])


def test_size_at_most_300_mb(image):
    assert image["Size"] <= 300 * 1000 * 1000, f"{image['Size'] / 1e6:.0f} MB"


def test_no_torch_inside(image):
    code = (
        "import importlib.util, os, sys; hits = [r for p in sys.path if os.path.isdir(p) for r, d, f in os.walk(p) "
        "if os.path.basename(r) in ('torch', 'tensorflow')]; "
        "print(importlib.util.find_spec('torch'), hits)"
    )
    assert docker("run", "--rm", "--network", "host", "--entrypoint", "python3", IMAGE, "-c", code) == "None []"


def test_cold_start_serves_within_2s_and_stops_on_sigterm(image):
    port = free_port()
    name = f"edgeml-runtime-test-{port}"
    t0 = time.monotonic()
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "-e",
        f"SAGEMAKER_BIND_TO_PORT={port}",
        "-v",
        f"{ARTIFACTS}:/opt/ml/model:ro",
        IMAGE,
        "serve",
    )
    try:
        ready = None
        while time.monotonic() - t0 < 10:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as r:
                    if r.status == 200:
                        ready = time.monotonic() - t0
                        break
            except OSError:
                time.sleep(0.02)
        assert ready is not None, docker("logs", name)
        assert ready <= 2.0, f"cold start {ready:.2f} s"
        for text, label in [(POSITIVE[0], "positive"), (NEGATIVE[0], "negative")]:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=text.encode(),
                headers={"Content-Type": "application/x-text", "Accept": "application/json;verbose"},
            )
            with urllib.request.urlopen(req, timeout=10) as r:
                assert json.loads(r.read())["predicted_label"] == label
        docker("stop", "-t", "10", name)
        assert docker("inspect", "-f", "{{.State.ExitCode}}", name) == "0"
        assert json.loads(docker("logs", name).splitlines()[-1])["event"] == "shutdown"
    finally:
        docker("rm", "-f", name, check=False)

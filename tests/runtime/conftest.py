"""Fixtures: the runtime as a subprocess (`python -m edgeml_runtime serve`) on a free loopback port."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime"
ARTIFACTS = Path(os.environ.get("EDGEML_TEST_MODEL_DIR", REPO / "model" / "artifacts"))  # candidate models
sys.path.insert(0, str(RUNTIME))  # edgeml_runtime and package_model

# Sentences far from the decision boundary (int8 flips ~5% of borderline labels; these have a clear margin).
POSITIVE = [
    "A wonderful, moving film with brilliant performances and a beautiful script.",
    "One of the best movies of the year: funny, smart and deeply touching.",
    "An absolute delight from start to finish, gorgeously shot and superbly acted.",
]
NEGATIVE = [
    "A dull, lifeless mess with terrible acting and a boring, pointless plot.",
    "One of the worst films I have ever seen, a tedious and stupid waste of time.",
    "Painfully unfunny, badly written and utterly forgettable.",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runtime:
    """A running server process plus a tiny raw HTTP client (raw, so bad bytes and headers reach the server)."""

    def __init__(self, tmp_path, **env):
        self.port = free_port()
        self.log_path = tmp_path / f"runtime-{self.port}.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(RUNTIME),
            "SAGEMAKER_MODEL_DIR": str(ARTIFACTS),
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "EDGEML_BIND_HOST": "127.0.0.1",
            **env,
        }
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgeml_runtime", "serve"], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"runtime exited: {self.log_path.read_text()}"
            try:
                if self.request("GET", "/ping")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"runtime did not answer /ping: {self.log_path.read_text()}")

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            if conn is None:
                c.close()

    def invoke(self, body, content_type="application/x-text", accept=None):
        headers = {"Content-Type": content_type} if content_type else {}
        if accept:
            headers["Accept"] = accept
        status, headers, data = self.request("POST", "/invocations", body, headers)
        return status, json.loads(data)

    def log_lines(self):
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    # Small limits so the 413 cases are cheap to provoke.
    rt = Runtime(tmp_path_factory.mktemp("rt"), EDGEML_MAX_BODY_BYTES="4096", EDGEML_MAX_INPUTS="8")
    yield rt
    rt.stop()


@pytest.fixture
def sagemaker_runtime(runtime):
    """A boto3 `sagemaker-runtime` client whose InvokeEndpoint lands on the container's POST /invocations,
    as SageMaker's front end forwards it (same body, ContentType and Accept headers)."""
    import boto3

    client = boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{runtime.port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def to_container(request, **_):
        assert request.url.endswith("/invocations") and "/endpoints/" in request.url
        request.url = f"http://127.0.0.1:{runtime.port}/invocations"

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", to_container)
    return client

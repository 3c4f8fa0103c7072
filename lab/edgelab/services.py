"""Process supervisor of the lab: start in order with health checks, pidfiles in .lab/run, logs in .lab/logs."""

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgelab import config, registry

RUN = config.STATE_DIR / "run"
LOGS = config.STATE_DIR / "logs"
DOCKER_SOCK = config.DOCKER_HOST.removeprefix("unix://")
AGENT_HEARTBEAT = RUN / "agent.heartbeat"


def http_ok(url: str, timeout: float = 1.0, context: ssl.SSLContext | None = None) -> bool:
    assert url.startswith("http://") or (url.startswith("https://") and context is not None)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:  # noqa: S310 (asserted)
            return resp.status < 400
    except Exception:
        return False


def kube_ok() -> bool:
    """The lab Kubernetes API answers /readyz over TLS verified with the lab CA (no credential needed, as in EKS)."""
    from edgelab import kubetls
    try:
        context = kubetls.ensure().client_context()
    except OSError:
        return False
    return http_ok(f"{config.KUBE_URL}/readyz", context=context)


def docker_ok() -> bool:
    # GET /_ping on the unix socket, via curl to keep the stdlib-only supervisor simple
    proc = subprocess.run(["curl", "-sf", "--max-time", "2", "--unix-socket", DOCKER_SOCK, "http://d/_ping"],
                          capture_output=True)
    return proc.returncode == 0 and proc.stdout == b"OK"


def agent_ok() -> bool:
    """The agent touches its heartbeat file every loop; a stale file or a dead process means down."""
    if by_name("agent").pid() is None:
        return False
    try:
        return time.time() - AGENT_HEARTBEAT.stat().st_mtime < 10
    except FileNotFoundError:
        return False


def python_env() -> dict:
    # The lab's AWS endpoint evaluates IAM as AWS does (the lab's own key `testing` is the administrator); set
    # EDGELAB_IAM=off (or audit) before `lab up` to change that.
    return {"EDGELAB_IAM": "enforce", **os.environ, "PYTHONPATH": str(config.REPO / "lab"), "PYTHONUNBUFFERED": "1"}


def aws_command() -> list[str]:
    # The Wavelength extension (edgelab.aws, another component) when present, plain moto otherwise.
    if (config.REPO / "lab/edgelab/aws/__main__.py").exists():
        return [sys.executable, "-m", "edgelab.aws", "--host", config.AWS_HOST, "--port", str(config.AWS_PORT)]
    return [str(Path(sys.executable).parent / "moto_server"), "-H", config.AWS_HOST, "-p", str(config.AWS_PORT)]


def aws_ok() -> bool:
    return http_ok(f"{config.AWS_URL}/_lab/health", 3) or http_ok(f"{config.AWS_URL}/", 3)  # / = S3 ListBuckets


@dataclass
class Service:
    name: str
    command: Callable[[], list[str]]
    healthy: Callable[[], bool]
    timeout: float = 20.0
    external_pidfile: Path | None = None  # dockerd writes its own pidfile

    @property
    def pidfile(self) -> Path:
        return RUN / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return LOGS / f"{self.name}.log"

    def pid(self) -> int | None:
        """Pid of the process this lab started (None if not started by us or gone)."""
        try:
            pid = int(self.pidfile.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def start(self) -> str:
        """Start unless already healthy (ours or an external one). Returns what happened."""
        if self.healthy():
            return "running" if self.pid() else "running (external, reused)"
        if self.pid():  # started but not (yet) healthy: give it the rest of its timeout, then restart
            if wait_for(self.healthy, self.timeout):
                return "running"
            self.stop()
        RUN.mkdir(parents=True, exist_ok=True)
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(self.logfile, "ab") as log:
            proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=python_env(), cwd=config.REPO, start_new_session=True)
        self.pidfile.write_text(str(proc.pid))
        if not wait_for(lambda: proc.poll() is not None or self.healthy(), self.timeout) or proc.poll() is not None:
            raise RuntimeError(f"{self.name} did not become healthy in {self.timeout:.0f}s; see {self.logfile}")
        return "started"

    def stop(self) -> bool:
        """Stop the process if this lab started it (SIGTERM to its group, SIGKILL after 10 s)."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not wait_for(lambda: not alive(pid), 10):
            os.killpg(pid, signal.SIGKILL)
            wait_for(lambda: not alive(pid), 5)
        self.pidfile.unlink(missing_ok=True)
        return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def dockerd_command() -> list[str]:
    root = Path(DOCKER_SOCK).parent
    root.mkdir(parents=True, exist_ok=True)
    # 127.0.0.0/8 registries are insecure (plain http) for dockerd by default; listed for clarity.
    return ["dockerd", "--host", config.DOCKER_HOST, "--data-root", str(config.DOCKER_DATA_ROOT),
            "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"), "--bridge=none",
            "--iptables=false", "--ip6tables=false", "--insecure-registry", config.SOURCE_REGISTRY,
            "--insecure-registry", config.ECR_REGISTRY]


SERVICES = [
    Service("dockerd", dockerd_command, docker_ok, timeout=30),
    Service("aws", aws_command, aws_ok, timeout=30),
    *(Service(name, lambda n=name: registry.command(n), lambda a=addr: http_ok(f"http://{a}/v2/"))
      for name, addr in registry.REGISTRIES.items()),
    Service("kube", lambda: [sys.executable, "-m", "edgelab.kube"], kube_ok),
    Service("agent", lambda: [sys.executable, "-m", "edgelab.nodes.agent"], agent_ok),
]


def by_name(name: str) -> Service:
    return next(s for s in SERVICES if s.name == name)

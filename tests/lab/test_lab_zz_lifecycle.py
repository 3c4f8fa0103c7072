"""`lab down` leaves nothing running; `lab up` brings everything back (and is idempotent).

Named _zz_ so that it runs after the other lab tests of the session: it restarts the lab, which empties the
in-memory AWS and Kubernetes state.
"""

import socket
import time

import pytest
from edgelab import config, services
from edgelab.dockerctl import containers

pytest.register_assert_rewrite("fixtures_cluster")  # it is also a plugin (see pytest_plugins)
from fixtures_cluster import run_lab

pytest_plugins = ["fixtures_cluster"]
PORTS = [(config.AWS_HOST, config.AWS_PORT), tuple(config.SOURCE_REGISTRY.split(":")),
         tuple(config.ECR_REGISTRY.split(":")), (config.KUBE_HOST, config.KUBE_PORT)]


def listening(host: str, port) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def test_down_leaves_nothing_running_and_up_restores(lab):
    pids = {svc.name: svc.pid() for svc in services.SERVICES if svc.pid()}
    dockerd_owned = (services.RUN / "dockerd.owned").exists()
    assert "agent" in pids and "kube" in pids

    proc = run_lab("down")
    assert proc.returncode == 0, proc.stderr
    for name, pid in pids.items():
        assert not services.alive(pid), f"{name} (pid {pid}) still running"
    assert not list(services.RUN.glob("*.pid"))
    assert not [hp for hp in PORTS if listening(*hp)]
    if dockerd_owned:
        assert not services.docker_ok()
    else:  # an external dockerd stays, but without any lab container
        assert containers("edgelab.role") == []
    assert run_lab("status").returncode != 0

    start = time.monotonic()
    proc = run_lab("up")
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"lab up after down: {elapsed:.1f}s (bench/lab_startup.py measures the startup time)")
    assert run_lab("status").returncode == 0

    start = time.monotonic()
    proc = run_lab("up", "--no-seed")
    assert proc.returncode == 0 and "started" not in proc.stdout, proc.stdout  # idempotent: nothing restarted
    assert all(svc.pid() == pid for svc in services.SERVICES if (pid := svc.pid()))

"""The lab's zone isolation (lab/edgelab/nodes/isolation.py): the rules it derives from the nodes' addresses and
zones, and the kernel dropping what a zone's containers send to another Wavelength zone, checked with the real
iptables in a private network namespace (the host's chains are never touched)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from edgelab.aws.ec2_wavelength import WL_ZONES
from edgelab.nodes import isolation

BOS, NYC, MIA = (f"us-east-1-wl1-{c}-wlz-1" for c in ("bos", "nyc", "mia"))
REGION_A = "us-east-1a"
LAB = Path(__file__).resolve().parents[2] / "lab"


def test_each_lab_wavelength_zone_has_its_own_group_and_region_zones_none():
    gids = [isolation.zone_gid(f"{region}-wl1-{city}-wlz-1") for region, city, _, _ in WL_ZONES]
    assert len(set(gids)) == len(WL_ZONES) and all(isinstance(g, int) and g >= 61000 for g in gids)
    assert isolation.zone_gid(REGION_A) is None and isolation.group_args(REGION_A) == []
    assert isolation.group_args(BOS) == ["--group-add", str(isolation.zone_gid(BOS))]


def test_rules_drop_only_between_two_wavelength_zones():
    rules = isolation.rules({"127.0.3.1": BOS, "127.0.3.2": NYC, "127.0.3.3": BOS, "127.0.3.4": REGION_A})
    drops = {(r.split(" -d ")[1].split("/")[0], int(r.split("--gid-owner ")[1].split()[0])) for r in rules}
    assert drops == {("127.0.3.2", isolation.zone_gid(BOS)), ("127.0.3.1", isolation.zone_gid(NYC)),
                     ("127.0.3.3", isolation.zone_gid(NYC))}
    assert all(r.startswith(f"-A {isolation.CHAIN} ") and r.endswith(" --suppl-groups -j DROP") for r in rules)
    assert isolation.rules({"127.0.3.1": BOS, "127.0.3.4": REGION_A}) == []


def test_sync_applies_once_per_change_and_says_when_it_cannot(monkeypatch, caplog):
    calls = []

    def fake(*args, stdin=None, cmd="iptables"):
        calls.append((cmd, args, stdin))
        return subprocess.CompletedProcess(args, 0 if cmd == "iptables-restore" or args[0] != "-C" else 1, "", "")
    monkeypatch.setattr(isolation, "_iptables", fake)
    fence = isolation.Fence()
    fence.sync({"127.0.3.1": BOS, "127.0.3.2": NYC})
    assert [c[1][0] for c in calls] == ["-C", "-N", "-I", "--noflush"]
    assert calls[-1][2].splitlines()[:2] == ["*filter", f":{isolation.CHAIN} - [0:0]"] and "COMMIT" in calls[-1][2]
    fence.sync({"127.0.3.1": BOS, "127.0.3.2": NYC})
    assert len(calls) == 4  # unchanged: nothing run

    def denied(*args, stdin=None, cmd="iptables"):
        rc = 1 if cmd == "iptables" else 0
        return subprocess.CompletedProcess(args, rc, "", "Permission denied (you must be root)")
    monkeypatch.setattr(isolation, "_iptables", denied)
    fence = isolation.Fence()
    fence.sync({"127.0.3.1": BOS, "127.0.3.2": NYC})
    assert not fence.enabled and "zone isolation NOT enforced" in caplog.text and "Permission denied" in caplog.text

    def restore_fails(*args, stdin=None, cmd="iptables"):
        return subprocess.CompletedProcess(args, 1 if cmd == "iptables-restore" else 0, "", "line 3 failed")
    monkeypatch.setattr(isolation, "_iptables", restore_fails)
    caplog.clear()
    fence = isolation.Fence()
    for _ in range(3):  # the agent's steps: the warning is given once
        fence.sync({"127.0.3.1": BOS, "127.0.3.2": NYC})
    assert not fence.enabled and caplog.text.count("zone isolation NOT enforced (iptables: line 3 failed)") == 1


# Runs inside `unshare --net` (its own loopback and iptables): a listener on each node address; a client per zone
# group connects to each (a forked child with the zone's supplementary group, as docker --group-add gives it).
KERNEL = textwrap.dedent("""
    import json, os, socket, subprocess, sys
    sys.path.insert(0, sys.argv[1])
    from edgelab.nodes import isolation
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    nodes = {"127.0.3.1": "%(bos)s", "127.0.3.2": "%(nyc)s", "127.0.3.4": "%(region)s"}
    servers = []
    for address in nodes:
        s = socket.socket(); s.bind((address, 8080)); s.listen(16); servers.append(s)

    def connect(gid, address):
        read, write = os.pipe()
        if os.fork() == 0:
            os.setgroups([gid] if gid else [])
            c = socket.socket(); c.settimeout(0.5)
            try:
                c.connect((address, 8080)); result = b"open"
            except TimeoutError:
                result = b"dropped"
            except OSError:
                result = b"refused"
            os.write(write, result); os._exit(0)
        os.close(write); os.wait()
        return os.read(read, 16).decode()

    def matrix():
        return {zone: {a: connect(isolation.zone_gid(zone) or 0, a) for a in nodes} for zone in set(nodes.values())}
    fence = isolation.Fence()
    fence.sync(nodes)
    fenced = matrix()
    fence.sync({**nodes, "127.0.3.2": "%(bos)s"})  # the nyc node went; its address now serves a bos node
    moved = matrix()
    isolation.Fence.clear()
    cleared = matrix()
    print(json.dumps({"fenced": fenced, "moved": moved, "cleared": cleared, "enabled": fence.enabled}))
""") % {"bos": BOS, "nyc": NYC, "region": REGION_A}


def test_the_kernel_drops_traffic_between_wavelength_zones_only():
    out = subprocess.run(["unshare", "--net", sys.executable, "-c", KERNEL, str(LAB)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["enabled"]
    assert result["fenced"] == {
        BOS: {"127.0.3.1": "open", "127.0.3.2": "dropped", "127.0.3.4": "open"},
        NYC: {"127.0.3.1": "dropped", "127.0.3.2": "open", "127.0.3.4": "open"},
        REGION_A: {"127.0.3.1": "open", "127.0.3.2": "open", "127.0.3.4": "open"},
    }
    assert result["moved"][BOS] == {"127.0.3.1": "open", "127.0.3.2": "open", "127.0.3.4": "open"}
    # no nyc node is left, so no container carries its group any more: it has no rules
    assert result["moved"][NYC] == {"127.0.3.1": "open", "127.0.3.2": "open", "127.0.3.4": "open"}
    assert all(v == "open" for zone in result["cleared"].values() for v in zone.values())

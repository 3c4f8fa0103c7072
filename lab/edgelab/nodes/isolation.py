"""Zone isolation at the node: two Wavelength zones of one VPC cannot reach each other (each reaches only itself and
its parent region), as nodes/dns.py's `reachable` says.

The lab's nodes and pods share the host network on loopback, so a packet's source address does not tell which node
sent it. Instead every container of a node in a Wavelength zone (the node itself, which runs the user data; its
pods and their init containers; Job pods) carries a supplementary group of its zone (`group_args`), and the chain
EDGELAB-ZONES, jumped to first from the host's OUTPUT, drops what that group sends to the private address
(config.VPC_NETWORK) of a node in another Wavelength zone (iptables owner match with --suppl-groups: the socket's
credentials). Dropped, not rejected: the client times out, as on AWS. A region zone reaches and is reached by every
zone. Carrier addresses are nodes/proxy.py's business (the carrier network's rules).

`Fence.sync` replaces the chain's rules (iptables-restore, one transaction) whenever the nodes' addresses or zones
change; `Fence.clear` removes the chain (agent exit, `lab down`). Without iptables (not root) the lab says so once
and does not enforce it.
"""

import logging
import subprocess
import zlib
from collections.abc import Mapping

from edgelab.nodes import dns

log = logging.getLogger("edgelab.isolation")
CHAIN = "EDGELAB-ZONES"
GID_BASE, GID_SPAN = 61000, 4000  # above the ids images use for their users; one per Wavelength zone


def zone_gid(zone: str) -> int | None:
    """The supplementary group of a Wavelength zone's containers (stable across agent restarts); None for a
    region zone, whose traffic is never dropped."""
    if dns.zone_kind(zone) != "wavelength":
        return None
    return GID_BASE + zlib.crc32(zone.encode()) % GID_SPAN


def group_args(zone: str) -> list[str]:
    """docker run options that mark a container as running in `zone`."""
    gid = zone_gid(zone)
    return ["--group-add", str(gid)] if gid is not None else []


def rules(address_zones: Mapping[str, str]) -> list[str]:
    """The chain's rules for the nodes' private addresses ({address: zone}): one DROP per (Wavelength zone with a
    node, address of a node that zone cannot reach)."""
    out = []
    gids = {zone: zone_gid(zone) for zone in set(address_zones.values())}
    for zone, gid in sorted((z, g) for z, g in gids.items() if g is not None):
        for address, target in sorted(address_zones.items()):
            if not dns.reachable(zone, target):
                out.append(f"-A {CHAIN} -d {address}/32 -p all -m owner --gid-owner {gid} --suppl-groups -j DROP")
    return out


def _iptables(*args: str, stdin: str | None = None, cmd: str = "iptables") -> subprocess.CompletedProcess:
    return subprocess.run([cmd, "-w", *args], input=stdin, capture_output=True, text=True, check=False)


class Fence:
    def __init__(self):
        self.applied: list[str] | None = None
        self.enabled = True

    def sync(self, address_zones: Mapping[str, str]) -> None:
        wanted = rules(address_zones)
        if not self.enabled or wanted == self.applied:
            return
        errors = []
        if _iptables("-C", "OUTPUT", "-j", CHAIN).returncode != 0:
            created = _iptables("-N", CHAIN)
            jump = _iptables("-I", "OUTPUT", "1", "-j", CHAIN)
            if jump.returncode != 0:
                errors.append(jump.stderr or created.stderr)  # -N also fails when the chain exists
        if not errors:
            # --noflush keeps the other chains; declaring the chain flushes it, so the rules are replaced at once.
            restore = _iptables("--noflush", cmd="iptables-restore",
                                stdin="\n".join(["*filter", f":{CHAIN} - [0:0]", *wanted, "COMMIT", ""]))
            if restore.returncode != 0:
                errors.append(restore.stderr)
        if errors:  # said once, not on every step of the agent
            self.enabled = False
            log.warning("zone isolation NOT enforced (iptables: %s)", errors[0].strip())
            return
        log.info("zone isolation: %d rules for %d node addresses", len(wanted), len(address_zones))
        self.applied = wanted

    @staticmethod
    def clear() -> None:
        while _iptables("-D", "OUTPUT", "-j", CHAIN).returncode == 0:
            pass
        _iptables("-F", CHAIN)
        _iptables("-X", CHAIN)

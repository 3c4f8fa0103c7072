"""Cluster DNS per zone, as EKS runs it on Wavelength nodes: CoreDNS placement, kube-dns routing, zone isolation.

On AWS two Wavelength zones of one VPC cannot reach each other (each reaches only itself and its parent region), so
a CoreDNS replica in zone A never answers a pod in zone B: every zone needs its own replica, and the kube-dns Service
needs `spec.trafficDistribution: PreferClose` so that kube-proxy sends a zone's queries to that zone's replicas.
This module gives the node agent the pieces to make the lab refuse what AWS refuses:

- `place_replicas`: the scheduler for the coredns Deployment. Filters: the node exists, is Ready and schedulable
  (not cordoned) and the pod tolerates its NoSchedule/NoExecute taints (CoreDNS's own tolerations
  `CriticalAddonsOnly` Exists and `node-role.kubernetes.io/control-plane:NoSchedule`, plus the add-on's);
  `topologySpreadConstraints` (zone or hostname key, `maxSkew`, `minDomains`, `nodeTaintsPolicy`,
  `nodeAffinityPolicy`). Skew is counted as Kubernetes counts it: over the domains of every node carrying the
  topology key, tainted, cordoned and NotReady ones included (`nodeTaintsPolicy` defaults to Ignore; Honor counts
  only nodes whose taints the pod tolerates). So a zone whose only node is tainted holds a DoNotSchedule spread
  back, and a zone whose only node went away stops counting: its replica is placed in another zone and does not
  come back when a node returns, unless `minDomains` (the number of zones) keeps it Pending until then.
  A replica that no node admits is Pending: absent from the result (`pending` says why). Existing replicas stay
  where they are while their node is still eligible (running pods are never moved to fix a skew); scale-down
  removes replicas from the most loaded node first. Scoring: ScheduleAnyway constraints (domain with the fewest
  replicas), then EKS's preferred anti-affinity on hostname (fewest on the node), then the zone, then the name.
- `choose_endpoint`: kube-proxy's choice of a Service endpoint: with `trafficDistribution` PreferClose (or
  PreferSameZone) the endpoints of the client's zone if it has any, else all of them; otherwise all of them;
  round robin. Then the network: an endpoint in another Wavelength zone than the client's is unreachable (the
  packets are dropped); a region zone (parent AZ) reaches and is reached by every zone.
- `DnsServer`: CoreDNS's answers as a node sees them, on each node's private address (config.VPC_NETWORK), UDP and
  TCP port 53. Before answering it asks `route(listen address)` whether a replica reachable from that node would
  answer; if none, it sends nothing at all (the client times out, as on AWS) and logs why. Otherwise: A records
  for names of cluster.local from `lookup(name)` (TTL 5, authoritative), NXDOMAIN when lookup says the name does not
  exist, NOERROR without data for other types (AAAA: no IPv6 in Wavelength) of existing names, REFUSED for names
  outside cluster.local (no internet in the lab: CoreDNS would forward them upstream). EDNS: an OPT is echoed
  (payload 1232); a UDP answer larger than the client's limit is truncated (TC) so the client retries over TCP.
- `DnsRouter`: a thread-safe `route` for the server built on `choose_endpoint` (node address -> zone, the ready
  CoreDNS endpoints, the Service's trafficDistribution); `service_name` splits
  `<service>.<namespace>.svc.cluster.local`.
- `resolv_conf`: the pod's /etc/resolv.conf (dnsPolicy ClusterFirst): cluster search list, ndots:5, and
  `timeout:1 attempts:2` (a lab choice so that a dropped query fails in seconds; the kubelet writes no timeout).

Names outside cluster.local get REFUSED, which glibc reports as a temporary failure (EAI_AGAIN): a name that
is in no cluster form (a misspelt Service, after the search list) fails that way, where on AWS the upstream
resolver would answer NXDOMAIN (EAI_NONAME, "Name or service not known").
Not emulated: the negative answers carry no SOA (CoreDNS puts cluster.local's SOA in the authority section);
no SRV, PTR (reverse zones) or pod (`a-b-c-d.ns.pod.cluster.local`) records unless `lookup` provides A records for
them; no upstream forwarding, no cache plugin, no autopath; kube-proxy's random (iptables) choice is a
deterministic round robin; the topology hints' older proportional allocation (`service.kubernetes.io/topology-mode:
Auto`) is not modelled, nor `PreferSameNode`; node affinity and nodeSelector are not inputs of the placement (all
lab nodes are linux/amd64, as the add-on's required affinity asks). A cordoned or newly tainted node loses its
replica at once (as after `kubectl drain`); Kubernetes keeps running pods there until they are evicted.
A NotReady node's replica goes at once too (Kubernetes evicts after the 300 s not-ready toleration).
Callbacks run in the server's threads: `route` and `lookup` must be thread-safe (DnsRouter is).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

log = logging.getLogger("edgelab.dns")

ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
# The coredns add-on's tolerations (EKS), always applied in addition to the ones given.
DEFAULT_TOLERATIONS = ({"key": "CriticalAddonsOnly", "operator": "Exists"},
                       {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
PREFER_ZONE = ("PreferClose", "PreferSameZone")
DOMAIN = "cluster.local"
TTL = 5
EDNS_PAYLOAD = 1232
TCP_IDLE = 10.0  # seconds a TCP connection may stay idle between queries
DROP_HOLD = 30.0  # seconds a TCP connection whose queries are dropped is held silently at most


# ---- placement ----
@dataclass
class NodeInfo:
    """A node as the scheduler sees it. `labels` may carry the topology labels; zone and name are the fallbacks."""
    name: str
    zone: str
    ready: bool = True
    schedulable: bool = True  # False: cordoned (spec.unschedulable)
    taints: list[dict] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_node(cls, node: Mapping) -> NodeInfo:
        """From a Node object (metadata.labels, spec.taints, spec.unschedulable, status.conditions Ready)."""
        meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
        labels = dict(meta.get("labels") or {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        return cls(name=meta["name"], zone=labels.get(ZONE_KEY, ""), ready=ready,
                   schedulable=not spec.get("unschedulable"), taints=list(spec.get("taints") or []), labels=labels)

    def topology(self, key: str) -> str | None:
        if key == ZONE_KEY:
            return self.labels.get(key) or self.zone or None
        if key == HOST_KEY:
            return self.labels.get(key) or self.name
        return self.labels.get(key)

    def effective_taints(self) -> list[dict]:
        """Its taints plus the ones the node controllers add for a NotReady or cordoned node."""
        return [*self.taints, *([] if self.ready else [NOT_READY_TAINT]),
                *([] if self.schedulable else [UNSCHEDULABLE_TAINT])]


def tolerated(taint: Mapping, tolerations: Iterable[Mapping]) -> bool:
    """Whether a toleration matches the taint (key, operator Equal/Exists, value, effect; empty key + Exists: all)."""
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator", "Equal") == "Exists":
            if not tol.get("key") or tol["key"] == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def untolerated(node: NodeInfo, tolerations: Iterable[Mapping]) -> list[dict]:
    """The NoSchedule/NoExecute taints (explicit or implied by NotReady/cordoned) the pod does not tolerate."""
    tolerations = list(tolerations)
    return [t for t in node.effective_taints()
            if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerated(t, tolerations)]


def _index(name: str, prefix: str) -> int:
    tail = name[len(prefix) + 1:] if name.startswith(prefix + "-") else ""
    return int(tail) if tail.isdigit() else -1


def place_replicas(replicas: int, nodes: list[NodeInfo], current: dict[str, str], constraints: list[dict],
                   tolerations: list[dict], *, prefix: str = "coredns",
                   pending: dict[str, str] | None = None) -> dict[str, str]:
    """Where the coredns Deployment's replicas run: pod name -> node name, Pending replicas left out.

    current: the replicas placed so far (pod name -> node name, e.g. the previous result). They stay while their
    node is eligible; the others are gone. New replicas are named `<prefix>-<n>`, n counting on from the highest
    index in `current` (a replacement never takes the name of the pod it replaces), so the same inputs give the
    same names and a Pending replica keeps its name from one call to the next. `pending`, when given, is filled with
    the names the Pending replicas would have -> why no node admits them (the scheduler's FailedScheduling text).
    """
    tolerations = [*DEFAULT_TOLERATIONS, *(tolerations or [])]
    by_name = {n.name: n for n in nodes}
    blocked = {n.name: untolerated(n, tolerations) for n in nodes}
    eligible = [n for n in nodes if not blocked[n.name]]
    eligible_names = {n.name for n in eligible}
    placed = {pod: node for pod, node in sorted(current.items()) if node in eligible_names}
    # Scale down: the replica on the node that holds the most replicas goes first (then the highest name).
    while len(placed) > max(0, replicas):
        load = _load(placed)
        victim = max(placed, key=lambda p: (load[placed[p]], _index(p, prefix), p))
        del placed[victim]
    constraints = [c for c in constraints or [] if c.get("topologyKey")]
    hard = [c for c in constraints if c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"]
    soft = [c for c in constraints if c not in hard]
    counter = max((_index(p, prefix) for p in current), default=-1)
    for _ in range(max(0, replicas) - len(placed)):
        counter += 1
        name = f"{prefix}-{counter}"
        reasons: dict[str, int] = {}
        fits = []
        for node in eligible:
            why = next((w for c in hard if (w := _violates(c, node, nodes, placed, by_name, tolerations))), None)
            if why:
                reasons[why] = reasons.get(why, 0) + 1
            else:
                fits.append(node)
        if not fits:
            if pending is not None:
                tainted = len(nodes) - len(eligible)
                if tainted:
                    reasons["had untolerated taint or were not ready/schedulable"] = tainted
                detail = ", ".join(f"{count} node(s) {why}" for why, count in sorted(reasons.items()))
                pending[name] = f"0/{len(nodes)} nodes are available" + (f": {detail}" if detail else "")
            continue
        load, zone_load = _load(placed), _load({p: by_name[n].topology(ZONE_KEY) or "" for p, n in placed.items()})

        def score(node: NodeInfo, load=load, zone_load=zone_load) -> tuple:
            spread = sum(_domain_count(c, node, nodes, placed, by_name, tolerations)[0] for c in soft)
            return spread, load.get(node.name, 0), zone_load.get(node.topology(ZONE_KEY) or "", 0), node.name
        placed[name] = min(fits, key=score).name
    return placed


def _load(placement: Mapping[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in placement.values():
        out[value] = out.get(value, 0) + 1
    return out


def _counted(constraint: Mapping, node: NodeInfo, tolerations: list) -> bool:
    """Whether a node's domain counts for the skew: it carries the key and passes the node inclusion policies."""
    if node.topology(constraint["topologyKey"]) is None:
        return False
    if constraint.get("nodeTaintsPolicy", "Ignore") == "Honor":
        return not [t for t in node.effective_taints() if t.get("effect") in ("NoSchedule", "NoExecute")
                    and not tolerated(t, tolerations)]
    return True  # nodeAffinityPolicy Honor: no node affinity is an input here, every node matches


def _domain_count(constraint: Mapping, node: NodeInfo, nodes: list[NodeInfo], placed: Mapping[str, str],
                  by_name: Mapping[str, NodeInfo], tolerations: list) -> tuple[int, int]:
    """(replicas in the node's domain, the minimum over the counted domains) for one constraint."""
    key = constraint["topologyKey"]
    counts = {n.topology(key): 0 for n in nodes if _counted(constraint, n, tolerations)}
    for node_name in placed.values():
        other = by_name.get(node_name)
        if other is not None and other.topology(key) in counts:
            counts[other.topology(key)] += 1
    minimum = min(counts.values(), default=0)
    if len(counts) < int(constraint.get("minDomains") or 1):
        minimum = 0  # fewer domains than minDomains: the global minimum is taken as 0
    return counts.get(node.topology(key), 0), minimum


def _violates(constraint: Mapping, node: NodeInfo, nodes: list[NodeInfo], placed: Mapping[str, str],
              by_name: Mapping[str, NodeInfo], tolerations: list) -> str | None:
    if node.topology(constraint["topologyKey"]) is None:
        return "didn't match pod topology spread constraints (missing required label)"
    count, minimum = _domain_count(constraint, node, nodes, placed, by_name, tolerations)
    if count + 1 - minimum > int(constraint.get("maxSkew", 1)):
        return "didn't match pod topology spread constraints"
    return None


# ---- routing ----
class Route(NamedTuple):
    """kube-proxy's choice for one query and whether the network lets it through."""
    endpoint: str
    zone: str
    reachable: bool
    reason: str  # "dropped: zone X -> zone Y" when not reachable


def zone_kind(zone: str, zone_kinds: Mapping[str, str] | None = None) -> str:
    """"wavelength" or "region": from zone_kinds, else from the name (Wavelength zone names contain -wlz-)."""
    kind = (zone_kinds or {}).get(zone)
    if kind:
        return kind
    return "wavelength" if "-wlz-" in zone else "region"


def reachable(source_zone: str, target_zone: str, zone_kinds: Mapping[str, str] | None = None) -> bool:
    """A Wavelength zone reaches only itself and the region; a region zone reaches every zone of the region."""
    if source_zone == target_zone:
        return True
    return "region" in (zone_kind(source_zone, zone_kinds), zone_kind(target_zone, zone_kinds))


def choose_endpoint(client_zone: str, endpoints: list[tuple[str, str]], traffic_distribution: str | None,
                    zone_kinds: Mapping[str, str] | None, counter: int) -> Route | None:
    """kube-proxy on a node of client_zone picks one of the Service's ready endpoints (endpoint id, zone), round robin
    by `counter` over the candidates in the order given; None when there is none. With PreferClose/PreferSameZone
    the candidates are the endpoints of the client's zone when it has any, else all (kube-proxy's fallback).
    The Route says whether the packets get there (another Wavelength zone: dropped)."""
    if not endpoints:
        return None
    pool = list(endpoints)
    if traffic_distribution in PREFER_ZONE:
        pool = [e for e in endpoints if e[1] == client_zone] or pool
    endpoint, zone = pool[counter % len(pool)]
    if reachable(client_zone, zone, zone_kinds):
        return Route(endpoint, zone, True, f"{endpoint} in zone {zone}")
    return Route(endpoint, zone, False, f"dropped: zone {client_zone} -> zone {zone} ({endpoint})")


class DnsRouter:
    """route(listen address) for DnsServer, thread-safe: the node behind the address, its zone, kube-proxy's choice
    among the kube-dns endpoints, and the zone isolation. `update` replaces the whole picture at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._zones: dict[str, str] = {}
        self._endpoints: list[tuple[str, str]] = []
        self._distribution: str | None = None
        self._kinds: dict[str, str] = {}
        self._counter = 0

    def update(self, address_zones: Mapping[str, str], endpoints: Iterable[tuple[str, str]],
               traffic_distribution: str | None, zone_kinds: Mapping[str, str] | None = None) -> None:
        """address_zones: node private address -> zone; endpoints: the ready CoreDNS replicas (name, zone)."""
        with self._lock:
            self._zones, self._endpoints = dict(address_zones), list(endpoints)
            self._distribution, self._kinds = traffic_distribution, dict(zone_kinds or {})

    def __call__(self, listen_address: str) -> tuple[bool, str]:
        with self._lock:
            zone = self._zones.get(listen_address)
            if zone is None:
                return False, f"no node at {listen_address}"
            self._counter += 1
            route = choose_endpoint(zone, self._endpoints, self._distribution, self._kinds, self._counter)
        if route is None:
            return False, "kube-dns has no ready endpoint"
        return route.reachable, route.reason


# ---- DNS wire format ----
class FormatError(ValueError):
    pass


QTYPE_A, QTYPE_AAAA, QTYPE_OPT, QTYPE_ANY = 1, 28, 41, 255
RCODE_OK, RCODE_FORMERR, RCODE_NXDOMAIN, RCODE_NOTIMP, RCODE_REFUSED = 0, 1, 3, 4, 5


@dataclass
class Query:
    id: int
    flags: int
    qname: str  # lower case, no trailing dot
    qtype: int
    qclass: int
    question: bytes  # the question section as received (name bytes, type, class), echoed in the answer
    edns_payload: int | None  # the client's UDP payload size when it sent an OPT record


def read_name(data: bytes, offset: int) -> tuple[str, int]:
    """A domain name at offset (compression pointers followed): (name, offset after it in the original place)."""
    labels, end, jumps = [], None, 0
    while True:
        if offset >= len(data):
            raise FormatError("name runs past the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data) or jumps > 20:
                raise FormatError("bad compression pointer")
            if end is None:
                end = offset + 2
            offset, jumps = ((length & 0x3F) << 8) | data[offset + 1], jumps + 1
            continue
        if length & 0xC0:
            raise FormatError("bad label type")
        offset += 1
        if length == 0:
            break
        labels.append(data[offset:offset + length].decode("ascii", "replace"))
        offset += length
    return ".".join(labels), end if end is not None else offset


def parse_query(data: bytes) -> Query:
    if len(data) < 12:
        raise FormatError("short header")
    ident, flags, qdcount, ancount, nscount, arcount = struct.unpack("!6H", data[:12])
    if qdcount != 1:
        raise FormatError(f"{qdcount} questions")
    name, offset = read_name(data, 12)
    if offset + 4 > len(data):
        raise FormatError("short question")
    qtype, qclass = struct.unpack("!HH", data[offset:offset + 4])
    question = data[12:offset + 4]
    offset += 4
    payload = None
    try:  # skip answer/authority records, look for an OPT among the additional ones
        for i in range(ancount + nscount + arcount):
            _, offset = read_name(data, offset)
            rtype, rclass, _, rdlength = struct.unpack("!HHIH", data[offset:offset + 10])
            if i >= ancount + nscount and rtype == QTYPE_OPT:
                payload = max(512, rclass)
            offset += 10 + rdlength
    except (FormatError, struct.error):
        pass
    return Query(ident, flags, name.lower().rstrip("."), qtype, qclass, question, payload)


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def response(query: Query, rcode: int, addresses: Iterable[str] = (), authoritative: bool = True,
             limit: int | None = None) -> bytes:
    """The answer to a query: ID and RD echoed, QR and RA set, AA when authoritative, the question echoed, one A
    record per address with its name as a pointer to the question's (offset 12), TTL 5. Truncated (TC, no answers)
    when it would not fit in `limit` bytes (UDP)."""
    opcode = (query.flags >> 11) & 0xF
    flags = 0x8000 | (opcode << 11) | (0x0400 if authoritative else 0) | (query.flags & 0x0100) | 0x0080 | rcode
    answers = [b"\xc0\x0c" + struct.pack("!HHIH", QTYPE_A, 1, TTL, 4) + ipaddress.IPv4Address(a).packed
               for a in addresses]
    opt = struct.pack("!BHHIH", 0, QTYPE_OPT, EDNS_PAYLOAD, 0, 0) if query.edns_payload else b""

    def build(records: list[bytes], truncated: bool) -> bytes:
        header = struct.pack("!6H", query.id, flags | (0x0200 if truncated else 0), 1, len(records), 0,
                             1 if opt else 0)
        return header + query.question + b"".join(records) + opt
    message = build(answers, False)
    if limit is not None and len(message) > limit:
        message = build([], True)
    return message


def answer(data: bytes, lookup: Callable[[str], list[str] | None], limit: int | None = None) -> bytes | None:
    """The server's reply to a query message (None: not even a header to answer)."""
    try:
        query = parse_query(data)
    except FormatError:
        if len(data) < 12:
            return None
        ident, flags = struct.unpack("!HH", data[:4])
        header = struct.pack("!6H", ident, 0x8000 | (flags & 0x7900) | 0x0080 | RCODE_FORMERR, 0, 0, 0, 0)
        return header
    if query.flags & 0x8000:  # a response, not a query: ignore it
        return None
    if (query.flags >> 11) & 0xF != 0:
        return response(query, RCODE_NOTIMP, authoritative=False)
    if query.qclass != 1 or not (query.qname == DOMAIN or query.qname.endswith("." + DOMAIN)):
        return response(query, RCODE_REFUSED, authoritative=False)
    found = lookup(query.qname)
    if found is None:
        return response(query, RCODE_NXDOMAIN)
    if query.qtype not in (QTYPE_A, QTYPE_ANY):
        return response(query, RCODE_OK)  # AAAA and the rest: the name exists, no data of that type
    udp_limit = None if limit is None else max(limit, query.edns_payload or 512)
    return response(query, RCODE_OK, found, limit=udp_limit)


SERVICE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc\.cluster\.local$")


def service_name(name: str) -> tuple[str, str] | None:
    """(service, namespace) of `<service>.<namespace>.svc.cluster.local`, else None (a search-list miss like
    `edgeml.edge.default.svc.cluster.local` has too many labels)."""
    match = SERVICE_NAME.match(name.lower().rstrip("."))
    return (match.group(1), match.group(3)) if match else None


# ---- the server ----
class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = False  # SO_REUSEADDR on UDP would share a port another socket holds


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class DnsServer:
    """The cluster DNS as seen from each node: one UDP and one TCP listener per address, on `port`.

    route(listen address) -> (answering, reason): whether a CoreDNS replica reachable from the node behind that
    address answers; if not, the query gets no answer at all (UDP: nothing is sent; TCP: the connection is held
    silently until the client gives up, at most DROP_HOLD seconds) and the reason is logged (first time and every
    100th per address and reason at INFO). lookup(name) -> A addresses, [] (exists, no address) or None (NXDOMAIN).
    port 0: each address gets a port free for both UDP and TCP, see `ports`. sync(addresses) binds and unbinds;
    a failed bind is in `errors` and retried on the next sync.
    """

    def __init__(self, route: Callable[[str], tuple[bool, str]], lookup: Callable[[str], list[str] | None],
                 port: int = 53):
        self.route, self.lookup, self.port = route, lookup, port
        self.servers: dict[str, tuple[_UDPServer, _TCPServer]] = {}
        self.ports: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self.dropped: dict[tuple[str, str], int] = {}  # (listen address, reason) -> queries not answered
        self.answered: dict[str, int] = {}  # listen address -> queries answered
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def start(self, addresses: Iterable[str] = ("127.0.0.1",)) -> DnsServer:
        self.sync(addresses)
        return self

    def sync(self, addresses: Iterable[str]) -> None:
        wanted = set(addresses)
        with self._lock:
            for address in sorted(set(self.servers) - wanted):
                self._stop(address)
            for address in sorted(wanted - set(self.servers)):
                try:
                    self.servers[address] = self._bind(address)
                    self.ports[address] = self.servers[address][0].server_address[1]
                    self.errors.pop(address, None)
                except OSError as exc:  # e.g. port taken or no permission: retried on the next sync
                    self.errors[address] = str(exc)
                    log.warning("dns %s:%d: cannot listen: %s", address, self.port, exc)
            for address in set(self.errors) - wanted:
                del self.errors[address]

    def close(self) -> None:
        self._closing.set()
        self.sync([])

    def _bind(self, address: str) -> tuple[_UDPServer, _TCPServer]:
        attempts = 20 if self.port == 0 else 1
        for attempt in range(attempts):
            udp = _UDPServer((address, self.port), self._udp_handler(address))
            try:
                tcp = _TCPServer((address, udp.server_address[1]), self._tcp_handler(address))
            except OSError:
                udp.server_close()
                if attempt == attempts - 1:
                    raise
                continue
            for server, kind in ((udp, "udp"), (tcp, "tcp")):
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                 name=f"dns-{kind}-{address}", daemon=True).start()
            return udp, tcp
        raise OSError("no port free for both UDP and TCP")

    def _stop(self, address: str) -> None:
        for server in self.servers.pop(address):
            server.shutdown()
            server.server_close()
        self.ports.pop(address, None)

    def _admit(self, address: str, peer: str) -> bool:
        try:
            answering, reason = self.route(address)
        except Exception as exc:  # a broken route callback must not kill the listener; nothing is answered
            answering, reason = False, f"route failed: {exc}"
        if answering:
            self.answered[address] = self.answered.get(address, 0) + 1
            return True
        key = (address, reason)
        count = self.dropped[key] = self.dropped.get(key, 0) + 1
        level = logging.INFO if count == 1 or count % 100 == 0 else logging.DEBUG
        log.log(level, "dns %s: no answer to %s (%s; %d so far)", address, peer, reason, count)
        return False

    def _reply(self, data: bytes, limit: int | None) -> bytes | None:
        try:
            return answer(data, self.lookup, limit)
        except Exception as exc:  # a broken lookup: SERVFAIL, as CoreDNS answers when its plugin errs
            log.warning("dns: lookup failed: %s", exc)
            with contextlib.suppress(FormatError):
                query = parse_query(data)
                return response(query, 2, authoritative=False)
            return None

    def _udp_handler(self, address: str):
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                if not outer._admit(address, self.client_address[0]):
                    return
                reply = outer._reply(data, 512)
                if reply is not None:
                    sock.sendto(reply, self.client_address)
        return Handler

    def _tcp_handler(self, address: str):
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                conn: socket.socket = self.request
                conn.settimeout(TCP_IDLE)
                try:
                    while not outer._closing.is_set():
                        head = _recv_exactly(conn, 2)
                        if head is None:
                            return
                        data = _recv_exactly(conn, struct.unpack("!H", head)[0])
                        if data is None:
                            return
                        if not outer._admit(address, self.client_address[0]):
                            self._hold(conn)
                            return
                        reply = outer._reply(data, None)
                        if reply is None:
                            return
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
                except OSError:
                    return

            def _hold(self, conn: socket.socket) -> None:
                """Send nothing; drain until the client closes, the server closes, or DROP_HOLD seconds."""
                conn.settimeout(0.2)
                for _ in range(int(DROP_HOLD / 0.2)):
                    if outer._closing.is_set():
                        return
                    try:
                        if not conn.recv(65536):
                            return
                    except TimeoutError:
                        continue
                    except OSError:
                        return
        return Handler


def _recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# ---- pods ----
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def resolv_conf(nameserver: str, namespace: str) -> str:
    """A pod's /etc/resolv.conf with dnsPolicy ClusterFirst: the kube-dns address and the cluster search list."""
    ipaddress.ip_address(nameserver)  # ValueError for anything but an address
    if not LABEL.match(namespace):
        raise ValueError(f"namespace {namespace!r} is not a DNS label")
    return (f"search {namespace}.svc.{DOMAIN} svc.{DOMAIN} {DOMAIN}\n"
            f"nameserver {nameserver}\n"
            "options ndots:5 timeout:1 attempts:2\n")

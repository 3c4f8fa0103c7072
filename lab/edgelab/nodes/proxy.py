"""NodePort forwarding: listen on <carrier IP>:<nodePort> while the node has a ready pod, forward to that pod.

A listener exists only while its node has a ready backend, so a node without one refuses connections
(externalTrafficPolicy: Local semantics). Runs an asyncio loop in a daemon thread; `sync` is thread-safe.

The last mile as AWS enforces it: a carrier address is reachable only from the carrier network (devices, source in
config.DEVICE_NETWORK) and from inside the VPC (nodes, config.CARRIER_NETWORK). Any other source (127.0.0.1 = the
internet and the region) gets no answer: its connection is accepted by the kernel (a loopback listener cannot drop
a SYN) but nothing is ever sent back; it is held silently until the client gives up (or REFUSED_HOLD seconds), so
the client sees a timeout, never a reply or a reset.
"""

import asyncio
import contextlib
import ipaddress
import logging
import threading
import time

from edgelab import config

log = logging.getLogger("edgelab.proxy")
REFUSED_HOLD = 120.0  # seconds a refused connection is held open (silently) at most
VPC = ipaddress.ip_network(config.VPC_NETWORK)
ALLOWED_SOURCES = tuple(ipaddress.ip_network(n) for n in (config.DEVICE_NETWORK, config.CARRIER_NETWORK))


def admits(listen: str, source: str) -> bool:
    """Whether a listener on `listen` answers `source`: a node's private address (config.VPC_NETWORK) answers any
    local source (the lab cannot tell pods from the control node); a carrier address only devices and nodes."""
    if ipaddress.ip_address(listen) in VPC:
        return True
    return carrier_reachable_from(source)


def carrier_reachable_from(source: str) -> bool:
    """Whether a connection from `source` may reach a carrier address (a device, or a node inside the VPC)."""
    try:
        addr = ipaddress.ip_address(source)
    except ValueError:
        return False
    return any(addr in net for net in ALLOWED_SOURCES)


class NodePortProxy:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.servers: dict[tuple[str, int], asyncio.Server] = {}
        self.backends: dict[tuple[str, int], list[tuple[str, int]]] = {}
        self.errors: dict[tuple[str, int], str] = {}
        self.refused: dict[str, int] = {}  # source address -> connections refused (held silently)
        self._rr = 0
        threading.Thread(target=self.loop.run_forever, name="nodeport-proxy", daemon=True).start()

    def sync(self, desired: dict[tuple[str, int], list[tuple]]) -> None:
        """desired: (address, nodePort) -> ready backends (host, port, netpol.Ingress) on that node."""
        asyncio.run_coroutine_threadsafe(self._sync(desired), self.loop).result(timeout=10)

    async def _sync(self, desired):
        self.backends = {k: v for k, v in desired.items() if v}
        for key in list(self.servers):
            if key not in self.backends:
                server = self.servers.pop(key)
                server.close()
                await server.wait_closed()
        for key in self.backends:
            if key not in self.servers:
                try:
                    self.servers[key] = await asyncio.start_server(
                        lambda r, w, k=key: self._forward(k, r, w), host=key[0], port=key[1], reuse_address=True)
                    self.errors.pop(key, None)
                except OSError as exc:  # e.g. port taken by something else: retried on the next sync
                    self.errors[key] = str(exc)

    async def _forward(self, key, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (writer.get_extra_info("peername") or ("",))[0]
        if not admits(key[0], peer):
            await self._hold(key, peer, reader, writer)
            return
        backends = self.backends.get(key) or []
        if not backends:
            writer.close()
            return
        admitted = [b for b in backends if b[2].admits(peer)]
        if not admitted:  # every pod's NetworkPolicies drop it: the agent drops the packets, the client times out
            await self._hold(key, peer, reader, writer, why="NetworkPolicy")
            return
        backends = admitted
        self._rr += 1
        for i in range(len(backends)):  # round robin, failing over to the next backend
            host, port, _ = backends[(self._rr + i) % len(backends)]
            try:
                up_reader, up_writer = await asyncio.open_connection(host, port)
                break
            except OSError:
                continue
        else:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def _hold(self, key, peer: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    why: str = "not a device or VPC address") -> None:
        """No answer: nothing is sent and nothing is forwarded (what the client sends is drained and dropped, only
        to notice when it closes). The socket is closed when the client closes it, or after REFUSED_HOLD seconds."""
        count = self.refused[peer] = self.refused.get(peer, 0) + 1
        level = logging.INFO if count == 1 or count % 100 == 0 else logging.DEBUG
        log.log(level, "carrier address %s:%d: no answer to %s (%s; %d so far)", key[0], key[1], peer, why, count)
        deadline = time.monotonic() + REFUSED_HOLD
        try:
            while (left := deadline - time.monotonic()) > 0:
                if not await asyncio.wait_for(reader.read(65536), left):
                    break  # the client closed
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sync({})
        self.loop.call_soon_threadsafe(self.loop.stop)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()

"""NodePort forwarding: listen on <carrier IP>:<nodePort> while the node has a ready pod, forward to that pod.

A listener exists only while its node has a ready backend, so a node without one refuses connections
(externalTrafficPolicy: Local semantics). Runs an asyncio loop in a daemon thread; `sync` is thread-safe.
"""

import asyncio
import contextlib
import threading


class NodePortProxy:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.servers: dict[tuple[str, int], asyncio.Server] = {}
        self.backends: dict[tuple[str, int], list[tuple[str, int]]] = {}
        self.errors: dict[tuple[str, int], str] = {}
        self._rr = 0
        threading.Thread(target=self.loop.run_forever, name="nodeport-proxy", daemon=True).start()

    def sync(self, desired: dict[tuple[str, int], list[tuple[str, int]]]) -> None:
        """desired: (carrier IP, nodePort) -> ready backends (host, port) on that node."""
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
        backends = self.backends.get(key) or []
        if not backends:
            writer.close()
            return
        self._rr += 1
        for i in range(len(backends)):  # round robin, failing over to the next backend
            host, port = backends[(self._rr + i) % len(backends)]
            try:
                up_reader, up_writer = await asyncio.open_connection(host, port)
                break
            except OSError:
                continue
        else:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

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

"""A device on the carrier network: HTTP requests whose source address is in config.DEVICE_NETWORK.

Carrier addresses (127.0.1.N) answer only devices (127.0.2.0/24) and nodes (127.0.1.0/24); a client on 127.0.0.1
(the internet, the region) gets no answer. Tests and `lab device` use this module to reach a NodePort as a phone
on the carrier network would:

    status, headers, body = request("http://127.0.1.254:30080/ping")            # from 127.0.2.10
    request(url, data=b'{"inputs": "hi"}', headers={"Content-Type": "application/json"}, source="127.0.2.11")
"""

import http.client
import ipaddress
import socket
import threading
import time
import urllib.parse

from edgelab import config


def in_device_network(address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(config.DEVICE_NETWORK)
    except ValueError:
        return False


def _loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def request(url: str, data: bytes | None = None, headers: dict | None = None, source: str = config.DEVICE_ADDRESS,
            timeout: float = 5.0, method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP(S) request from `source` (bound as the client socket's address); GET, or POST when `data` is given.

    Returns (status, headers, body) for any HTTP answer (also 4xx/5xx). Raises TimeoutError when nothing answers in
    `timeout` seconds (connect or read), OSError (ConnectionError...) when the connection fails, and ValueError for a
    URL or source outside loopback (the lab never sends traffic outside 127.0.0.0/8)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not _loopback(parts.hostname):
        raise ValueError(f"{parts.hostname} is not a loopback address: the lab only talks to 127.0.0.0/8")
    if not ipaddress.ip_address(source).is_loopback:
        raise ValueError(f"source {source} is not a loopback address")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=timeout, source_address=(source, 0))
    path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    try:
        conn.request(method or ("POST" if data is not None else "GET"), path, body=data, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, dict(resp.getheaders()), body
    except TimeoutError as exc:
        raise TimeoutError(f"no answer from {parts.netloc} within {timeout:g}s (source {source})") from exc
    finally:
        conn.close()


class Phone(threading.Thread):
    """A phone that keeps calling: one request every `period` s (POST `body` with `headers`), recording
    (monotonic time, answered 200) for each. Start it, run the operation, then finish() and summary(phone.results)."""

    def __init__(self, url: str, period: float = 0.05, body: bytes = b"A fine film.", headers: dict | None = None):
        super().__init__(daemon=True)
        self.url, self.period, self.body, self.headers = url, period, body, headers
        self.results: list[tuple[float, bool]] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                ok = request(self.url, self.body, headers=self.headers, timeout=1.0)[0] == 200
            except (OSError, ValueError):
                ok = False
            self.results.append((start, ok))
            self.stop.wait(max(0.0, self.period - (time.monotonic() - start)))

    def finish(self) -> None:
        self.stop.set()
        self.join()


def summary(results: list, since: float = float("-inf")) -> dict:
    """Requests sent and failed after `since`, the longest run of failures (count and seconds)."""
    after = [(t, ok) for t, ok in results if t >= since]
    longest = run = 0
    longest_s, run_start = 0.0, None
    for t, ok in after:
        if ok:
            run, run_start = 0, None
            continue
        run += 1
        run_start = t if run_start is None else run_start
        longest = max(longest, run)
        longest_s = max(longest_s, t - run_start)
    return {"requests": len(after), "failed": sum(1 for _, ok in after if not ok), "longest_failure_run": longest,
            "longest_outage_s": round(longest_s, 2)}

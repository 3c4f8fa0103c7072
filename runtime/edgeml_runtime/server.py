"""SageMaker hosting contract over the standard library's HTTP server.

GET /ping -> 200 once the model is loaded. POST /invocations:
  Content-Type  application/x-text (or text/plain): the body is one UTF-8 text
                application/json: {"inputs": "text"} or {"inputs": ["text", ...]}
  Accept        application/json;verbose -> {"probabilities": [..], "labels": [..], "predicted_label": ".."}
                application/json, */*, application/*, none -> {"probabilities": [..]}
  A list in "inputs" gives lists out: "probabilities" [[..], ..] and "predicted_label" [..].
Errors are JSON {"error": message, "code": status}: 400 empty body / empty text / invalid UTF-8 /
malformed or wrongly shaped JSON / JSON nested deeper than EDGEML_MAX_JSON_DEPTH / body shorter than its
Content-Length, 408 body not received in time, 411 chunked body, 413 body over EDGEML_MAX_BODY_BYTES or more
than EDGEML_MAX_INPUTS texts, 415 other content types, 406 other accept types, 404/405 other routes.
A request must arrive whole (line, headers, body) within EDGEML_READ_TIMEOUT_SECONDS of its first byte, and an
idle connection is closed after that long: slow or stalled clients cannot hold a connection thread for ever.
Each request logs one JSON line (latency_ms) on stdout. SIGTERM: stop accepting, finish in-flight requests
(at most EDGEML_GRACE_SECONDS), exit 0.
"""

import collections
import io
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .model import SentimentModel

JSON = "application/json"
DISCARD_LIMIT = 6 * 1024 * 1024  # SageMaker's max InvokeEndpoint payload
JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')  # whole strings (skipped) and brackets


class FifoSlots:
    """A counting semaphore that serves waiters in arrival order: a freed slot is handed to the oldest
    waiter, so a request arriving later cannot barge ahead (threading.Semaphore can, which stretches p99)."""

    def __init__(self, n):
        self._free, self._lock, self._waiters = n, threading.Lock(), collections.deque()

    def __enter__(self):
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return
            baton = threading.Lock()
            baton.acquire()
            self._waiters.append(baton)
        baton.acquire()  # released by __exit__ of the request that hands us its slot

    def __exit__(self, *exc):
        with self._lock:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._free += 1


class HTTPError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def settings(env=os.environ):
    """Runtime settings from the environment (SageMaker names where SageMaker defines one)."""
    return {
        "host": env.get("EDGEML_BIND_HOST", "0.0.0.0"),  # noqa: S104  a container serves on all interfaces
        "port": int(env.get("SAGEMAKER_BIND_TO_PORT", "8080")),
        "model_dir": env.get("SAGEMAKER_MODEL_DIR", "/opt/ml/model"),
        "max_body_bytes": int(env.get("EDGEML_MAX_BODY_BYTES", str(1024 * 1024))),
        "max_inputs": int(env.get("EDGEML_MAX_INPUTS", "64")),
        # A valid body nests 2 deep; the margin leaves room for extra (ignored) keys such as "parameters".
        "max_json_depth": int(env.get("EDGEML_MAX_JSON_DEPTH", "32")),
        # SageMaker gives a whole invocation 60 s; a request still arriving after that is not worth waiting for.
        "read_timeout": float(env.get("EDGEML_READ_TIMEOUT_SECONDS", "60")),
        "intra_op_threads": int(env.get("EDGEML_ORT_THREADS", "1")),
        # Concurrent inferences; more only time-slice the same cores (higher tail latency, no throughput).
        "max_concurrency": int(env.get("EDGEML_MAX_CONCURRENCY", "0")) or len(os.sched_getaffinity(0)),
        "grace_seconds": float(env.get("EDGEML_GRACE_SECONDS", "20")),
    }


def media_type(value):
    """'Application/JSON; charset=utf-8' -> ('application/json', {'charset': 'utf-8'})."""
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip().strip('"').lower()
    return parts[0].lower(), params


def negotiate(accept):
    """'verbose', 'plain' or None (nothing acceptable) for an Accept header; first acceptable range wins."""
    if not accept or not accept.strip():
        return "plain"
    for rng in accept.split(","):
        mt, params = media_type(rng)
        if mt == JSON:
            return "verbose" if "verbose" in params else "plain"
        if mt in ("*/*", "application/*"):
            return "plain"
    return None


def json_too_deep(text, limit):
    """Whether JSON text nests arrays/objects deeper than limit. Checked before json.loads, which recurses per
    level: 100000 brackets would raise RecursionError (a 500) after ~1000 levels instead of a clear 400."""
    if text.count("[") + text.count("{") <= limit:  # the common case: too few brackets to be too deep
        return False
    depth = 0
    for token in JSON_TOKENS.finditer(text):
        t = token.group()
        if t in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif t in ("]", "}"):
            depth -= 1
    return False


def parse_inputs(content_type, body, max_inputs, max_depth):
    """(texts, batched) from a request body, or HTTPError."""
    mt, params = media_type(content_type or "")
    if mt not in ("application/x-text", "text/plain", JSON):
        raise HTTPError(415, f"unsupported content type {content_type!r}; use application/x-text or {JSON}")
    if params.get("charset", "utf-8") not in ("utf-8", "utf8"):
        raise HTTPError(415, f"unsupported charset {params['charset']!r}; use utf-8")
    if not body:
        raise HTTPError(400, "empty request body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HTTPError(400, f"body is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    if mt != JSON:
        texts, batched = [text], False
    else:
        too_deep = HTTPError(400, f'JSON nested deeper than {max_depth} levels; send {{"inputs": ...}}')
        if json_too_deep(text, max_depth):
            raise too_deep
        try:
            doc = json.loads(text)
        except RecursionError:  # only with a limit set above Python's recursion limit
            raise too_deep from None
        except ValueError as e:
            raise HTTPError(400, f"malformed JSON: {e}") from None
        inputs = doc.get("inputs") if isinstance(doc, dict) else None
        batched = isinstance(inputs, list)
        texts = inputs if batched else [inputs]
        if not texts or not all(isinstance(t, str) for t in texts):
            raise HTTPError(400, 'JSON body must be {"inputs": "text"} or {"inputs": ["text", ...]}')
        if len(texts) > max_inputs:
            raise HTTPError(413, f"too many inputs: {len(texts)} > {max_inputs}; split the request")
    if any(not t.strip() for t in texts):
        raise HTTPError(400, "empty text")
    return texts, batched


def render(probs, labels, batched, verbose):
    rows = [[round(float(p), 6) for p in row] for row in probs]
    predicted = [labels[int(row.argmax())] for row in probs]
    out = {"probabilities": rows if batched else rows[0]}
    if verbose:
        out.update(labels=labels, predicted_label=predicted if batched else predicted[0])
    return out


class DeadlineIO(socket.SocketIO):
    """A connection's read side that waits at most until `deadline` (time.monotonic()) in total: a per-read
    socket timeout alone lets a client that sends a byte now and then (slowloris) keep a thread for ever."""

    deadline = None

    def readinto(self, b):
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request not received in time")
            self._sock.settimeout(left)
        return super().readinto(b)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SageMaker's front end and our clients reuse connections
    disable_nagle_algorithm = True  # without it each small reply waits ~40 ms for a delayed ACK
    server_version = "edgeml-runtime"
    sys_version = ""

    def log_message(self, *args):  # the per-request JSON line replaces the default access log
        pass

    def log_error(self, fmt, *args):  # what the standard library handles itself: header timeouts, bad request lines
        self.server.log(level="warning", event="connection", error=fmt % args)

    def setup(self):
        self.timeout = self.server.cfg["read_timeout"]  # the socket timeout: reads, writes, idle keep-alive
        super().setup()
        self.rfile.close()
        self.rfile = io.BufferedReader(DeadlineIO(self.connection, "rb"))

    def handle_one_request(self):
        # An idle connection waits up to read_timeout for the next request; once its first byte is in, the
        # whole request (line, headers, body) must arrive within read_timeout.
        self.rfile.raw.deadline = None
        self.connection.settimeout(self.timeout)
        try:
            self.rfile.peek(1)
        except TimeoutError:
            self.close_connection = True
            return
        self.rfile.raw.deadline = time.monotonic() + self.timeout
        super().handle_one_request()

    def _reply(self, code, doc, content_type=JSON):
        data = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response_only(code)  # headers are buffered until flush_headers
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection or self.server.draining:
            self.send_header("Connection", "close")
            self.close_connection = True
        self._headers_buffer.extend((b"\r\n", data))  # one send() for head and body
        self.flush_headers()

    def _handle(self, route):
        t0 = time.perf_counter()
        self.server.track(+1)  # until the reply is written and logged: SIGTERM drains in-flight requests
        try:
            n, code = 0, 500
            try:
                n, code, doc = route()
            except HTTPError as e:
                code, doc = e.code, {"error": e.message, "code": e.code}
            except TimeoutError:  # the body stalled (DeadlineIO); the rest of it may still come: close
                self.close_connection = True
                code = 408
                doc = {"error": f"request body not received within {self.timeout:g} s", "code": code}
            except Exception as e:
                code, doc = 500, {"error": f"internal error: {type(e).__name__}", "code": 500}
                self.server.log(level="error", event="exception", error=repr(e))
            self._reply(code, doc)
            self.server.log(
                event="request",
                method=self.command,
                path=self.path,
                status=code,
                inputs=n,
                latency_ms=round((time.perf_counter() - t0) * 1000, 3),
            )
        finally:
            self.server.track(-1)

    def do_GET(self):
        self._handle(self._get)

    def do_POST(self):
        self._handle(self._post)

    def _get(self):
        if self.path == "/ping":
            return 0, 200, {"status": "ok"}
        if self.path == "/execution-parameters":  # asked by SageMaker batch transform
            mb = max(1, self.server.cfg["max_body_bytes"] // 1_000_000)
            return 0, 200, {"MaxConcurrentTransforms": 2, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": mb}
        if self.path == "/invocations":
            raise HTTPError(405, "use POST /invocations")
        raise HTTPError(404, f"no route {self.path}")

    def _post(self):
        if self.path != "/invocations":
            raise HTTPError(404 if self.path != "/ping" else 405, f"no POST route {self.path}")
        cfg = self.server.cfg
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise HTTPError(411, "chunked bodies are not supported; send Content-Length")
        length = (self.headers.get("Content-Length") or "0").strip()  # no length and no chunking: no body
        if not length.isdigit():
            self.close_connection = True  # the body cannot be skipped reliably
            raise HTTPError(400, "invalid Content-Length")
        length = int(length)
        if length > cfg["max_body_bytes"]:
            # Discard a body of up to SageMaker's payload size so the client reads the 413 instead of a
            # connection reset while it is still sending; beyond that, just close.
            if length <= DISCARD_LIMIT:
                while length > 0 and (chunk := self.rfile.read(min(length, 1 << 16))):
                    length -= len(chunk)
            else:
                self.close_connection = True
            raise HTTPError(413, f"body exceeds the limit of {cfg['max_body_bytes']} bytes")
        body = self.rfile.read(length)  # read before validating, so the connection stays usable
        if len(body) < length:  # the client closed its side early: a cut-off text must not be classified
            self.close_connection = True
            raise HTTPError(400, f"body ended after {len(body)} of {length} bytes (Content-Length)")
        mode = negotiate(self.headers.get("Accept"))
        if mode is None:
            raise HTTPError(406, f"unsupported accept {self.headers.get('Accept')!r}; use {JSON} or {JSON};verbose")
        texts, batched = parse_inputs(self.headers.get("Content-Type"), body, cfg["max_inputs"], cfg["max_json_depth"])
        model = self.server.model
        with self.server.slots:  # FIFO wait for a free core instead of oversubscribing the CPU
            probs = model.predict(texts)
        return len(texts), 200, render(probs, model.labels, batched, mode == "verbose")


class Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block exit; in-flight work is tracked
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, cfg, model, log=sys.stdout):
        self.cfg, self.model, self._log = cfg, model, log
        self.draining = False
        self.slots = FifoSlots(max(1, cfg["max_concurrency"] // max(1, cfg["intra_op_threads"])))
        self._inflight = 0
        self._idle = threading.Condition()
        self._log_lock = threading.Lock()
        super().__init__((cfg["host"], cfg["port"]), Handler)

    def track(self, delta):
        with self._idle:
            self._inflight += delta
            if not self._inflight:
                self._idle.notify_all()

    def log(self, level="info", **fields):
        line = json.dumps({"ts": round(time.time(), 3), "level": level, **fields}, separators=(",", ":"))
        with self._log_lock:
            self._log.write(line + "\n")
            self._log.flush()

    def drain(self):
        """Stop accepting, then wait (bounded) for in-flight requests to finish."""
        self.draining = True
        self.shutdown()
        with self._idle:
            done = self._idle.wait_for(lambda: not self._inflight, timeout=self.cfg["grace_seconds"])
        self.log(event="shutdown", drained=done)


def serve(env=os.environ):
    cfg = settings(env)
    t0 = time.perf_counter()
    model = SentimentModel(cfg["model_dir"], cfg["intra_op_threads"])  # load before binding: /ping means ready
    model.predict(["warm up the session"])  # the first run allocates; keep that off the first request
    server = Server(cfg, model)
    # shutdown() blocks until serve_forever returns, so it cannot run in the signal handler's thread.
    drainer = threading.Thread(target=server.drain, daemon=True)
    stop = lambda *_: drainer.is_alive() or drainer.ident or drainer.start()  # noqa: E731  start once
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.log(
        event="start",
        port=server.server_address[1],
        model_dir=cfg["model_dir"],
        load_ms=round((time.perf_counter() - t0) * 1000, 1),
        labels=model.labels,
    )
    server.serve_forever(poll_interval=0.2)
    drainer.join()  # in-flight requests finish (bounded by grace_seconds) before the process exits
    server.server_close()
    return 0

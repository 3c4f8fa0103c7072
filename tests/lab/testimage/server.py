"""Test pod: HTTP on SAGEMAKER_BIND_TO_PORT (GET /ping, GET / -> env, args and files under /opt/ml/model).
Exits 3 at once when CRASH=1 (a crashing pod). HOG_MB=N allocates N MiB first (over a memory limit: OOMKilled);
START_DELAY=S listens only after S seconds (a slow loader); PING_OK_FOR=S answers /ping with 500 after S seconds of
serving (a server that hangs)."""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.environ.get("CRASH") == "1":
    sys.exit(3)
HOG = bytearray(int(os.environ.get("HOG_MB", "0")) * 2 ** 20)
HOG[::4096] = b"x" * len(HOG[::4096])  # touch every page: the memory is really used
time.sleep(float(os.environ.get("START_DELAY", "0")))
SERVING_SINCE = time.monotonic()
PING_OK_FOR = float(os.environ.get("PING_OK_FOR", "inf"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ping" and time.monotonic() - SERVING_SINCE > PING_OK_FOR:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/ping":
            body = b"ok"
        else:
            model = "/opt/ml/model"
            files = {n: open(os.path.join(model, n)).read() for n in sorted(os.listdir(model))
                     if os.path.isfile(os.path.join(model, n))} if os.path.isdir(model) else {}
            body = json.dumps({"args": sys.argv[1:], "env": dict(os.environ), "files": files,
                               "version": os.environ.get("VERSION", "")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# Exit on SIGTERM as a real server does (PID 1 ignores it otherwise, and the kubelet would wait out the grace).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))), Handler).serve_forever()

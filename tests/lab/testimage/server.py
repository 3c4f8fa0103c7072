"""Test pod: HTTP on SAGEMAKER_BIND_TO_PORT (GET /ping, GET / -> env, args and files under /opt/ml/model).
Exits 3 at once when CRASH=1 (a crashing pod)."""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.environ.get("CRASH") == "1":
    sys.exit(3)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
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

"""SIGTERM: stop accepting, finish the request in flight, exit 0."""

import http.client
import json
import signal
import threading
import time

from conftest import POSITIVE, Runtime


def test_sigterm_drains_in_flight_request_and_exits_zero(tmp_path):
    rt = Runtime(tmp_path)
    conn = http.client.HTTPConnection("127.0.0.1", rt.port, timeout=30)
    try:
        # Warm the connection so the server's handler thread already owns it, then send a slow request
        # (64 texts of 64 tokens: hundreds of ms) and signal while it is being processed.
        assert rt.request("GET", "/ping", conn=conn)[0] == 200
        result = {}
        body = json.dumps({"inputs": [" ".join(POSITIVE * 4)] * 64})
        worker = threading.Thread(
            target=lambda: result.update(
                r=rt.request("POST", "/invocations", body, {"Content-Type": "application/json"}, conn=conn)
            )
        )
        worker.start()
        time.sleep(0.05)  # the request is sent and being computed (~0.4 s of work)
        assert not [x for x in rt.log_lines() if x.get("path") == "/invocations"], "request finished too early"
        rt.proc.send_signal(signal.SIGTERM)
        worker.join(30)
        assert rt.proc.wait(timeout=30) == 0
        status, _, data = result["r"]
        assert status == 200 and len(json.loads(data)["probabilities"]) == 64
        events = [x["event"] for x in rt.log_lines()]
        assert events[-1] == "shutdown" and rt.log_lines()[-1]["drained"] is True
        # Stopped accepting: a new connection is refused.
        try:
            rt.request("GET", "/ping")
            raise AssertionError("server still accepts connections after SIGTERM")
        except OSError:
            pass
    finally:
        conn.close()
        rt.stop()

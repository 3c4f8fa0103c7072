"""Unit tests of edgeml.wavelength.endpoint_probe against a tiny SageMaker-style server on 127.0.0.1."""

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

MODULE_PATH = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "endpoint_probe.py"
spec = importlib.util.spec_from_file_location("endpoint_probe", MODULE_PATH)
endpoint_probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(endpoint_probe)

POSITIVE = "An absolute masterpiece, moving and beautifully acted."
NEGATIVE = "A dull, lifeless and painfully boring mess."


class Handler(BaseHTTPRequestHandler):
    """Labels a text positive unless it contains 'dull'; every `slow_every`-th request sleeps `slow_s`."""

    def do_POST(self):
        server = self.server
        text = self.rfile.read(int(self.headers["Content-Length"])).decode()
        server.seen.append((self.headers["Content-Type"], self.headers["Accept"], text))
        server.clients.append(self.client_address[0])
        if server.status != 200:
            self.send_error(server.status)
            return
        if server.slow_every and len(server.seen) % server.slow_every == 0:
            time.sleep(server.slow_s)
        label = 0 if "dull" in text else 1
        reply = {"probabilities": [0.1, 0.9], "labels": ["negative", "positive"]}
        reply["predicted_label"] = label if server.index_labels else reply["labels"][label]
        reply |= server.reply
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.seen, httpd.status, httpd.slow_every, httpd.slow_s, httpd.index_labels = [], 200, 0, 0.0, False
    httpd.clients, httpd.reply = [], {}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/invocations"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        endpoint_probe.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


SAMPLES = [{"text": POSITIVE, "expected_label": "positive"}, {"text": NEGATIVE, "expected_label": "negative"}]


def test_percentile_is_nearest_rank():
    from ansible_collections.edgeml.wavelength.plugins.module_utils import probe_checks

    values = list(range(1, 101))
    assert probe_checks.percentile(values, 50) == 50
    assert probe_checks.percentile(values, 99) == 99
    assert probe_checks.percentile([5.0], 99) == 5.0
    # With fewer than 100 values the 99th percentile is the maximum, not an interpolation below it.
    assert probe_checks.percentile([1, 2, 3, 4, 50], 99) == 50
    assert probe_checks.percentile([1, 2, 3, 4], 50) == 2


def test_predictions_and_latency(capsys, server):
    server.slow_every, server.slow_s = 20, 0.25  # 1 request in 20 is slow: p50 stays fast, p99 sees it
    rc, result = run(capsys, url=server.url, samples=SAMPLES, requests=20, warmup=1)
    assert rc == 0
    assert result["changed"] is False
    assert result["predictions_ok"] is True
    assert [p["predicted_label"] for p in result["predictions"]] == ["positive", "negative"]
    # 2 checks + 1 warm-up + 20 timed requests, with the hosting-contract headers and bodies in turn
    assert len(server.seen) == 23
    assert {(ct, acc) for ct, acc, _ in server.seen} == {("application/x-text", "application/json;verbose")}
    assert [t for _, _, t in server.seen[3:5]] == [POSITIVE, NEGATIVE]
    latency = result["latency_ms"]
    assert latency["count"] == 20
    assert latency["p99"] == latency["max"] >= 250
    assert latency["min"] <= latency["p50"] < 100
    assert latency["min"] <= latency["mean"] <= latency["max"]


def test_wrong_label_is_reported_not_failed(capsys, server):
    samples = [{"text": NEGATIVE, "expected_label": "positive"}]
    rc, result = run(capsys, url=server.url, samples=samples, requests=1, warmup=0)
    assert rc == 0
    assert result["predictions_ok"] is False
    assert result["predictions"] == [
        {"text": NEGATIVE, "expected_label": "positive", "predicted_label": "negative", "ok": False,
         "problem": "expected 'positive'"}
    ]


def test_sample_without_label_checks_the_contract_only(capsys, server):
    server.index_labels = True  # JumpStart TF classifiers answer class indexes: no label names assumed
    rc, result = run(capsys, url=server.url, samples=[{"text": POSITIVE}], requests=1, warmup=0)
    assert rc == 0 and result["predictions_ok"] is True
    assert result["predictions"][0] | {"text": None} == {"text": None, "expected_label": None,
                                                         "predicted_label": "positive", "ok": True, "problem": ""}


@pytest.mark.parametrize(("reply", "problem"), [
    ({"probabilities": [0.5, 0.9]}, "sum to 1.400"),
    ({"probabilities": None}, "no list of probabilities"),
    ({"labels": ["a"]}, "do not match the 2 probabilities"),
    ({"predicted_label": "neutral"}, "is not one of the labels"),
    ({"predicted_label": 7}, "is not one of the labels"),
])
def test_malformed_answer_fails_the_contract_check(capsys, server, reply, problem):
    server.reply = reply
    rc, result = run(capsys, url=server.url, samples=[{"text": POSITIVE}], requests=1, warmup=0)
    assert rc == 0 and result["predictions_ok"] is False
    assert problem in result["predictions"][0]["problem"]


def test_requests_leave_from_the_source_address(capsys, server):
    rc, result = run(capsys, url=server.url, samples=SAMPLES, requests=3, warmup=0, source_address="127.0.2.10")
    assert rc == 0 and result["predictions_ok"] is True
    assert set(server.clients) == {"127.0.2.10"}


def test_unreachable_source_address_names_it(capsys, server):
    rc, result = run(capsys, url=server.url, samples=SAMPLES, requests=1, source_address="192.0.2.1")
    assert rc == 1 and result["msg"].startswith(f"POST {server.url} from 192.0.2.1 failed")


def test_index_label_is_mapped_through_labels(capsys, server):
    server.index_labels = True
    rc, result = run(capsys, url=server.url, samples=SAMPLES, requests=2, warmup=0)
    assert rc == 0 and result["predictions_ok"] is True


def test_http_error_fails_with_url(capsys, server):
    server.status = 503
    rc, result = run(capsys, url=server.url, samples=SAMPLES, requests=2)
    assert rc == 1
    assert result["msg"].startswith(f"POST {server.url} failed: HTTP 503")


def test_refused_connection_fails(capsys, server):
    url = server.url
    server.shutdown()
    server.server_close()
    rc, result = run(capsys, url=url, samples=SAMPLES, requests=1, timeout=2)
    assert rc == 1
    assert "refused" in result["msg"].lower()


def test_bounds_are_enforced(capsys):
    rc, result = run(capsys, url="http://127.0.0.1:9/invocations", samples=SAMPLES, requests=0)
    assert rc == 1 and "requests must be 1..10000" in result["msg"]

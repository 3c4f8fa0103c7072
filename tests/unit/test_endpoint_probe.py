"""Unit tests of edgeml.wavelength.endpoint_probe against tiny SageMaker-style servers on 127.0.0.1 and 127.0.0.2."""

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
    """Labels a text positive unless it contains 'dull'; every `slow_every`-th request sleeps `slow_s`; the first
    `fail_first` requests get 503 (a NodePort that refuses for a moment)."""

    def do_POST(self):
        server = self.server
        text = self.rfile.read(int(self.headers["Content-Length"])).decode()
        server.seen.append((self.headers["Content-Type"], self.headers["Accept"], text))
        server.clients.append(self.client_address[0])
        server.paths.append(self.path)
        if server.fail_first:
            server.fail_first -= 1
            self.send_error(503)
            return
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


def serve(host):
    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.seen, httpd.status, httpd.slow_every, httpd.slow_s, httpd.index_labels = [], 200, 0, 0.0, False
    httpd.clients, httpd.reply, httpd.paths, httpd.fail_first = [], {}, [], 0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://{host}:{httpd.server_address[1]}/invocations"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server():
    yield from serve("127.0.0.1")


@pytest.fixture
def server2():
    yield from serve("127.0.0.2")


@pytest.fixture
def server3():
    yield from serve("127.0.0.3")


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


def test_single_url_form_returns_what_it_did(capsys, server):
    rc, result = run(capsys, url=server.url, samples=SAMPLES, requests=2, warmup=0)
    assert rc == 0
    assert set(result) == {"changed", "predictions", "predictions_ok", "latency_ms", "invocation"}
    assert len(server.seen) == 4


def test_single_url_form_retries(capsys, server, monkeypatch):
    sleeps = []
    monkeypatch.setattr(endpoint_probe.time, "sleep", sleeps.append)
    server.fail_first = 1
    rc, result = run(capsys, url=server.url, samples=SAMPLES, requests=2, warmup=0, retries=1, delay=0.5)
    assert rc == 0 and result["predictions_ok"] is True and sleeps == [0.5]
    server.fail_first = 2
    rc, result = run(capsys, url=server.url, samples=SAMPLES, requests=2, warmup=0, retries=1, delay=0)
    assert rc == 1 and result["msg"].startswith(f"POST {server.url} failed: HTTP 503")
    assert "results" not in result


# --- list form (targets) --------------------------------------------------------------------------------------------

def target(httpd, path, **extra):
    return {"url": httpd.url.replace("/invocations", path), **extra}


def test_targets_all_ok_one_at_a_time(capsys, server, server2):
    own = [{"text": NEGATIVE, "expected_label": "negative"}]
    targets = [target(server, "/a/invocations", label="bos node-a", data={"zone": "bos", "port": 30007}),
               target(server, "/b/invocations", samples=own),
               target(server2, "/invocations", label="nyc stable", data={"zone": "nyc", "stable": True})]
    rc, result = run(capsys, targets=targets, samples=SAMPLES, requests=3, warmup=1)
    assert rc == 0 and result["changed"] is False
    assert not {"predictions", "predictions_ok", "latency_ms"} & set(result)
    a, b, c = result["results"]
    assert [r["url"] for r in (a, b, c)] == [t["url"] for t in targets]
    assert [r["label"] for r in (a, b, c)] == ["bos node-a", targets[1]["url"], "nyc stable"]
    assert [r["data"] for r in (a, b, c)] == [{"zone": "bos", "port": 30007}, {}, {"zone": "nyc", "stable": True}]
    assert all(r["failed"] is False and r["msg"] == "" and r["attempts"] == 1 for r in (a, b, c))
    assert all(r["predictions_ok"] is True and r["latency_ms"]["count"] == 3 for r in (a, b, c))
    assert [p["predicted_label"] for p in a["predictions"]] == ["positive", "negative"]
    assert b["predictions"] == [{"text": NEGATIVE, "expected_label": "negative", "predicted_label": "negative",
                                 "ok": True, "problem": ""}]
    # one target after the other (no probe overlaps another): samples, warm-up, timed requests of each in turn
    assert server.paths == ["/a/invocations"] * (2 + 1 + 3) + ["/b/invocations"] * (1 + 1 + 3)
    assert len(server2.seen) == 2 + 1 + 3
    # the module's settings apply to every target
    assert {(ct, acc) for ct, acc, _ in server.seen + server2.seen} == {("application/x-text",
                                                                         "application/json;verbose")}


def test_failing_targets_fail_the_run_after_all_are_probed(capsys, server, server2, server3):
    server.status = 503
    refused = server3.url
    server3.shutdown()
    server3.server_close()
    targets = [target(server2, "/first/invocations", label="bos node-a"),
               target(server, "/invocations", label="bos node-b", data={"node": "b"}),
               {"url": refused},
               target(server2, "/last/invocations", label="nyc node-c")]
    rc, result = run(capsys, targets=targets, samples=SAMPLES, requests=2, warmup=0, timeout=2)
    assert server2.paths.count("/last/invocations") == 4  # probed after the failures
    assert rc == 1
    assert result["msg"].startswith("2 of 4 targets failed: bos node-b: POST ")
    assert f"bos node-b: POST {server.url} failed: HTTP 503" in result["msg"]
    assert f"; POST {refused} failed: " in result["msg"] and "refused" in result["msg"].lower()
    first, failed, unreachable, last = result["results"]
    assert [r["failed"] for r in result["results"]] == [False, True, True, False]
    assert first["predictions_ok"] is True and last["latency_ms"]["count"] == 2
    assert failed["data"] == {"node": "b"} and failed["msg"].startswith(f"POST {server.url} failed: HTTP 503")
    assert failed["predictions_ok"] is False and failed["latency_ms"] == {
        "count": 0, "p50": None, "p99": None, "min": None, "max": None, "mean": None}
    assert [(p["text"], p["ok"], p["predicted_label"], p["problem"]) for p in failed["predictions"]] == [
        (s["text"], False, None, failed["msg"]) for s in SAMPLES]
    assert unreachable["label"] == refused and "refused" in unreachable["msg"].lower()


def test_retry_probes_only_the_failed_targets_again(capsys, server, server2, monkeypatch):
    sleeps = []
    monkeypatch.setattr(endpoint_probe.time, "sleep", sleeps.append)
    server.fail_first = 1  # refuses the first request, then answers
    targets = [target(server, "/invocations", label="a"), target(server2, "/invocations", label="b")]
    rc, result = run(capsys, targets=targets, samples=SAMPLES, requests=2, warmup=0, retries=3, delay=2)
    assert rc == 0
    assert [(r["label"], r["failed"], r["attempts"]) for r in result["results"]] == [("a", False, 2), ("b", False, 1)]
    assert result["results"][0]["predictions_ok"] is True and result["results"][0]["latency_ms"]["count"] == 2
    assert sleeps == [2]  # one more round, not three
    assert len(server.seen) == 1 + 2 + 2 and len(server2.seen) == 2 + 2  # b was not probed again


def test_retries_exhausted_name_the_target(capsys, server, server2, monkeypatch):
    monkeypatch.setattr(endpoint_probe.time, "sleep", lambda _: None)
    server.fail_first = 100
    targets = [target(server, "/invocations", label="a"), target(server2, "/invocations", label="b")]
    rc, result = run(capsys, targets=targets, samples=SAMPLES, requests=1, warmup=0, retries=2)
    assert rc == 1 and result["msg"].startswith("1 of 2 targets failed (each probed 3 times): a: POST ")
    assert [(r["failed"], r["attempts"]) for r in result["results"]] == [(True, 3), (False, 1)]
    assert server.fail_first == 97 and len(server2.seen) == 3


def test_targets_in_check_mode_are_probed(capsys, server):
    rc, result = run(capsys, targets=[{"url": server.url}], samples=SAMPLES, requests=1, warmup=0,
                     _ansible_check_mode=True)
    assert rc == 0 and result["results"][0]["predictions_ok"] is True


def test_no_targets_probe_nothing(capsys):
    rc, result = run(capsys, targets=[], samples=SAMPLES)
    assert rc == 0 and result["results"] == []


@pytest.mark.parametrize(("args", "message"), [
    ({"url": "http://127.0.0.1:9/invocations", "targets": [], "samples": SAMPLES}, "mutually exclusive: url|targets"),
    ({"samples": SAMPLES}, "one of the following is required: url, targets"),
    ({"url": "http://127.0.0.1:9/invocations"}, "missing parameter(s) required by 'url': samples"),
    ({"targets": [{"url": "http://127.0.0.1:9/invocations", "label": "bos a"}]},
     "targets: bos a has no samples, and samples is empty"),
    ({"targets": [{"url": "ftp://127.0.0.1/x"}], "samples": SAMPLES}, "targets: url must be http(s): ftp://127.0.0.1/x"),
    ({"targets": [{"label": "x"}], "samples": SAMPLES}, "missing required arguments: url"),
    ({"targets": [{"url": "http://127.0.0.1:9/i", "zone": "z"}], "samples": SAMPLES}, "zone"),
    ({"targets": [], "samples": SAMPLES, "retries": -1}, "retries must be 0..100 and delay >= 0"),
    ({"targets": [], "samples": SAMPLES, "delay": -1}, "retries must be 0..100 and delay >= 0"),
])
def test_wrong_arguments(capsys, args, message):
    rc, result = run(capsys, **args)
    assert rc == 1 and message in result["msg"], result["msg"]

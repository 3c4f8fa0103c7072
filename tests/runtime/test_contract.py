"""SageMaker hosting contract of the runtime: happy paths through boto3's InvokeEndpoint, bad input raw."""

import http.client
import json
import time

import pytest
from conftest import NEGATIVE, POSITIVE

LABELS = ["negative", "positive"]


def invoke(client, body, content_type, accept):
    r = client.invoke_endpoint(EndpointName="sentiment", Body=body, ContentType=content_type, Accept=accept)
    return r["ContentType"], json.loads(r["Body"].read())


def test_ping(runtime):
    status, _, body = runtime.request("GET", "/ping")
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_x_text_verbose(sagemaker_runtime):
    ctype, out = invoke(sagemaker_runtime, POSITIVE[0].encode(), "application/x-text", "application/json;verbose")
    assert ctype == "application/json"
    assert set(out) == {"probabilities", "labels", "predicted_label"}
    assert out["labels"] == LABELS and out["predicted_label"] == "positive"
    assert len(out["probabilities"]) == 2 and sum(out["probabilities"]) == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/json; charset=utf-8, text/csv"])
def test_json_plain(sagemaker_runtime, accept):
    _, out = invoke(sagemaker_runtime, json.dumps({"inputs": NEGATIVE[0]}), "application/json", accept)
    assert list(out) == ["probabilities"]
    assert out["probabilities"][0] > 0.5 and sum(out["probabilities"]) == pytest.approx(1, abs=1e-5)


def test_no_accept_means_json(runtime):
    status, out = runtime.invoke(POSITIVE[1].encode())
    assert status == 200 and list(out) == ["probabilities"]


def test_batch_verbose(sagemaker_runtime):
    texts = POSITIVE + NEGATIVE
    _, out = invoke(sagemaker_runtime, json.dumps({"inputs": texts}), "application/json", "application/json;verbose")
    assert out["predicted_label"] == ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
    assert len(out["probabilities"]) == len(texts) and out["labels"] == LABELS


@pytest.mark.parametrize(("text", "label"), [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE])
def test_clear_margin_labels(sagemaker_runtime, text, label):
    _, out = invoke(sagemaker_runtime, text.encode(), "application/x-text", "application/json;verbose")
    assert out["predicted_label"] == label
    assert max(out["probabilities"]) > 0.8, out


def test_single_and_batch_agree(runtime):
    """Batches are padded to their longest text; padding must not change the label."""
    texts = POSITIVE + NEGATIVE
    _, batch = runtime.invoke(json.dumps({"inputs": texts}), "application/json", "application/json;verbose")
    singles = [runtime.invoke(t.encode(), accept="application/json;verbose")[1]["predicted_label"] for t in texts]
    assert batch["predicted_label"] == singles


def test_long_text_is_truncated_not_rejected(runtime):
    text = " ".join([POSITIVE[0]] * 50)[:4000]  # ~600 words (under the test's 4 KiB body limit) >> 64 tokens
    status, out = runtime.invoke(text.encode(), accept="application/json;verbose")
    assert status == 200 and out["predicted_label"] == "positive"


def test_unicode_text(runtime):
    status, out = runtime.invoke(
        "Un film magnifique, émouvant et drôle ❤️ — brilliant!".encode(),
        "application/x-text; charset=utf-8",
        "application/json;verbose",
    )
    assert status == 200 and out["predicted_label"] in LABELS


BAD = [
    # (id, content type, accept, body, status)
    ("empty-body", "application/x-text", None, b"", 400),
    ("empty-json-body", "application/json", None, b"", 400),
    ("blank-text", "application/x-text", None, b"   ", 400),
    ("invalid-utf8-text", "application/x-text", None, b"good \xff\xfe movie", 400),
    ("invalid-utf8-json", "application/json", None, b'{"inputs": "\xc3\x28"}', 400),
    ("unsupported-content-type", "image/png", None, b"\x89PNG", 415),
    ("missing-content-type", None, None, b"a fine film", 415),
    ("unsupported-charset", "application/x-text; charset=latin-1", None, b"caf\xe9", 415),
    ("unsupported-accept", "application/x-text", "text/csv", b"a fine film", 406),
    ("malformed-json", "application/json", None, b'{"inputs": "a fine film"', 400),
    ("json-not-object", "application/json", None, b'["a fine film"]', 400),
    ("json-no-inputs", "application/json", None, b'{"text": "a fine film"}', 400),
    ("json-inputs-number", "application/json", None, b'{"inputs": 5}', 400),
    ("json-inputs-empty-list", "application/json", None, b'{"inputs": []}', 400),
    ("json-inputs-mixed", "application/json", None, b'{"inputs": ["ok", 3]}', 400),
    ("json-empty-string", "application/json", None, b'{"inputs": ["ok", ""]}', 400),
    ("oversized-body", "application/x-text", None, b"x" * 5000, 413),
    ("oversized-body-5mb", "application/x-text", None, b"x" * 5_000_000, 413),
    ("too-many-inputs", "application/json", None, json.dumps({"inputs": ["fine"] * 9}).encode(), 413),
]


@pytest.mark.parametrize(("content_type", "accept", "body", "status"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_gets_4xx_and_server_stays_up(runtime, content_type, accept, body, status):
    got, out = runtime.invoke(body, content_type, accept)
    assert got == status, out
    assert out["code"] == status and out["error"]
    assert runtime.proc.poll() is None
    assert runtime.request("GET", "/ping")[0] == 200
    assert runtime.invoke(POSITIVE[0].encode())[0] == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("POST", "/ping", 405), ("GET", "/invocations", 405), ("POST", "/nope", 404)],
)
def test_unknown_routes(runtime, method, path, status):
    assert runtime.request(method, path, b"" if method == "POST" else None)[0] == status


def test_keep_alive_survives_errors(runtime):
    """One connection (as SageMaker's front end keeps): errors with a read body leave it usable."""
    conn = http.client.HTTPConnection("127.0.0.1", runtime.port, timeout=10)
    try:
        for body, ctype, status in [
            (b"fine", "text/csv", 415),
            (b"{", "application/json", 400),
            (POSITIVE[0].encode(), "application/x-text", 200),
        ] * 2:
            assert runtime.request("POST", "/invocations", body, {"Content-Type": ctype}, conn=conn)[0] == status
    finally:
        conn.close()


def test_limits_are_configurable(runtime):
    # The module fixture runs with EDGEML_MAX_INPUTS=8: eight inputs pass, nine (above) are refused.
    status, out = runtime.invoke(json.dumps({"inputs": ["a fine film"] * 8}), "application/json")
    assert status == 200 and len(out["probabilities"]) == 8


def test_structured_log_line_per_request(runtime):
    before = len(runtime.log_lines())
    runtime.invoke(POSITIVE[2].encode())

    def new_requests():  # the previous test's line may land after `before` was read: it is written after its reply
        return [x for x in runtime.log_lines()[before:] if x["event"] == "request"]
    deadline = time.monotonic() + 5  # the line is written just after the reply
    while not any(x["inputs"] == 1 for x in new_requests()) and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = runtime.log_lines()
    assert lines[0]["event"] == "start" and lines[0]["labels"] == LABELS
    [mine] = [x for x in new_requests() if x["inputs"] == 1]
    assert mine["path"] == "/invocations" and mine["status"] == 200
    assert isinstance(mine["latency_ms"], float) and mine["latency_ms"] > 0
    assert {x["status"] for x in lines if x["event"] == "request"} >= {200}

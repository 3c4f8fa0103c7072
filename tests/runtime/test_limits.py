"""Limits against hostile or broken clients: JSON nesting depth, and read timeouts (stalled body, slowloris, idle)."""

import json
import socket
import threading
import time

import pytest
from conftest import POSITIVE, Runtime
from edgeml_runtime.server import HTTPError, json_too_deep, parse_inputs

DEPTH = 10  # EDGEML_MAX_JSON_DEPTH of the fixture (default 32)
TIMEOUT = 1.0  # EDGEML_READ_TIMEOUT_SECONDS of the fixture (default 60), short so the tests stay fast


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    # Default body limit (1 MiB), so the 100000-deep body reaches the JSON check instead of the 413.
    rt = Runtime(
        tmp_path_factory.mktemp("rt"), EDGEML_MAX_JSON_DEPTH=str(DEPTH), EDGEML_READ_TIMEOUT_SECONDS=str(TIMEOUT)
    )
    yield rt
    rt.stop()


def nested(depth):
    """A valid request whose extra (ignored) key makes the whole body nest `depth` levels deep; its strings hold
    brackets and escaped quotes, which must not count."""
    return json.dumps({"inputs": [POSITIVE[0] + ' [{"'], "meta": json.loads("[" * (depth - 1) + "]" * (depth - 1))})


def connect(runtime):
    return socket.create_connection(("127.0.0.1", runtime.port), timeout=10)


def read_until_closed(sock):
    """What the server sends on `sock` until it closes it."""
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def assert_serves(runtime, within=0.5):
    t0 = time.monotonic()
    status, out = runtime.invoke(POSITIVE[0].encode())
    assert status == 200, out
    assert time.monotonic() - t0 < within


@pytest.mark.parametrize(("depth", "status"), [(DEPTH - 1, 200), (DEPTH, 200), (DEPTH + 1, 400)])
def test_nesting_up_to_the_limit_passes(runtime, depth, status):
    assert not json_too_deep(nested(depth), depth) and json_too_deep(nested(depth + 1), depth)
    got, out = runtime.invoke(nested(depth), "application/json")
    assert got == status, out
    if status == 400:
        assert out["error"] == f'JSON nested deeper than {DEPTH} levels; send {{"inputs": ...}}'


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_pathological_nesting_is_a_400(runtime, opener):
    body = '{"inputs": ' + opener * 100_000  # a RecursionError (500) in json.loads before the depth limit
    got, out = runtime.invoke(body.encode(), "application/json")
    assert got == 400 and "nested deeper" in out["error"], out
    assert_serves(runtime)


def test_recursion_error_is_a_400_too():
    """With a limit above Python's recursion limit, json.loads itself gives up: still a 400."""
    with pytest.raises(HTTPError) as e:
        parse_inputs("application/json", b"[" * 100_000 + b"]" * 100_000, 64, 1_000_000)
    assert e.value.code == 400 and "nested deeper" in e.value.message


def test_brackets_in_text_are_not_nesting(runtime):
    status, _ = runtime.invoke(json.dumps({"inputs": '[[[[[[[[[[[[ {{{{{{{{{{{{ \\" great'}), "application/json")
    assert status == 200


def test_stalled_body_is_dropped_and_others_are_served(runtime):
    stalled = connect(runtime)
    try:
        t0 = time.monotonic()
        stalled.sendall(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-text\r\n")
        stalled.sendall(b"Content-Length: 1000\r\n\r\n" + POSITIVE[0].encode()[:20])  # then silence
        closing = {}
        waiter = threading.Thread(target=lambda: closing.update(reply=read_until_closed(stalled)))
        waiter.start()
        assert_serves(runtime)  # meanwhile
        waiter.join(TIMEOUT + 3)
        elapsed = time.monotonic() - t0
        assert not waiter.is_alive(), "the stalled connection is still open"
        assert TIMEOUT * 0.9 <= elapsed <= TIMEOUT + 2, elapsed
    finally:
        stalled.close()
    assert closing["reply"].startswith(b"HTTP/1.1 408 ") and b"Connection: close" in closing["reply"]
    assert_serves(runtime)  # afterwards


def test_short_body_then_eof_is_a_400(runtime):
    with connect(runtime) as s:
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-text\r\n")
        s.sendall(b"Content-Length: 1000\r\n\r\nA wonderful")
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ") and b"body ended after 11 of 1000 bytes" in reply


@pytest.mark.parametrize("trickle", [b"", b"X-Slow: 1\r\n"], ids=["idle", "slowloris"])
def test_slow_or_silent_client_is_closed_after_the_timeout(runtime, trickle):
    """A client sending a header line every 0.2 s (each read well within any per-read timeout), or nothing."""
    with connect(runtime) as s:
        s.settimeout(0.2)
        t0 = time.monotonic()
        if trickle:
            s.sendall(b"POST /invocations HTTP/1.1\r\n")
        closed = False
        while not closed and time.monotonic() - t0 < TIMEOUT + 3:
            try:
                if trickle:
                    s.sendall(trickle)
                closed = s.recv(4096) == b""
            except TimeoutError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        elapsed = time.monotonic() - t0
    assert closed and TIMEOUT * 0.9 <= elapsed <= TIMEOUT + 1, elapsed
    assert_serves(runtime)

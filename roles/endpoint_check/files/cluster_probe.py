# The probe Job's program (endpoint_check_probe_from: cluster), run by the model's own image (python3, stdlib only).
# It resolves the model's Service name through cluster DNS (the zone's own CoreDNS replicas: no other zone can answer),
# sends the samples and the timed requests to the model's NodePort on the node's private address (status.hostIP),
# and leaves what it measured in the termination message, which Kubernetes keeps in the Pod's status (4096 bytes
# at most); the controller judges the answers (plugins/filter/cluster_probe_results.py).
import http.client
import json
import os
import socket
import time

MESSAGE = os.environ.get("PROBE_MESSAGE", "/dev/termination-log")  # the terminationMessagePath
KEEP = ("predicted_label", "labels", "probabilities")  # what the checks read; the rest could overflow the message


def invoke(host, port, text, timeout):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    start = time.perf_counter()
    try:
        conn.request("POST", "/invocations", body=text.encode("utf-8"),
                     headers={"Content-Type": "application/x-text", "Accept": "application/json;verbose"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    elapsed = (time.perf_counter() - start) * 1000.0
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status} {response.reason}: {body[:200]!r}")
    reply = json.loads(body)
    if not isinstance(reply, dict):
        raise RuntimeError(f"reply is not a JSON object: {body[:200]!r}")
    return {k: reply[k] for k in KEEP if k in reply}, elapsed


def resolve(name):
    """Milliseconds the pod's resolver (its resolv.conf: cluster DNS) took to answer an A query for `name`."""
    start = time.perf_counter()
    try:
        socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        raise RuntimeError(f"cluster DNS did not resolve {name} in this zone: {exc}") from None
    return round((time.perf_counter() - start) * 1000.0, 1)


def main():
    host, port = os.environ["NODE_IP"], int(os.environ["PROBE_PORT"])
    texts = json.loads(os.environ["PROBE_SAMPLES"])
    requests, warmup = int(os.environ["PROBE_REQUESTS"]), int(os.environ["PROBE_WARMUP"])
    timeout = float(os.environ["PROBE_TIMEOUT"])
    dns_name = os.environ.get("PROBE_DNS_NAME", "")
    result = {"url": f"http://{host}:{port}/invocations", "replies": [], "latencies_ms": [], "error": ""}
    try:
        if dns_name:
            result["dns_ms"] = resolve(dns_name)
        result["replies"] = [invoke(host, port, text, timeout)[0] for text in texts]
        for i in range(warmup):
            invoke(host, port, texts[i % len(texts)], timeout)
        result["latencies_ms"] = [round(invoke(host, port, texts[i % len(texts)], timeout)[1], 1)
                                  for i in range(requests)]
    except Exception as exc:  # any failure is the finding: reported, and the Job fails
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
    with open(MESSAGE, "w", encoding="utf-8") as out:
        json.dump(result, out, separators=(",", ":"))
    raise SystemExit(1 if result["error"] else 0)


main()

"""Runtime benchmark: prints a JSON report (not a timed test). ~1 minute, loopback only, batch 1.

    python bench/runtime_bench.py [--model-dir model/artifacts] [--seconds 6] [--out report.json]

Measures, on ~20-word held-out review snippets:
- in-process forward pass (tokenize + ONNX Runtime) with the runtime's own session settings: p50/p99, rate;
- the runtime over HTTP (`python -m edgeml_runtime serve` subprocess, keep-alive connections, closed loop):
  p50/p99 with 1 client, throughput and p99 with 1, 4, 16 concurrent clients (client processes x threads);
- the issue's targets: HTTP p50 <= 1.3x in-process p50; throughput at 4 clients >= 85% of the in-process
  single-thread rate; p99 at 16 clients <= 10x in-process p50.
"""

import argparse
import gzip
import http.client
import json
import multiprocessing as mp
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "runtime"))
from edgeml_runtime.model import SentimentModel
from edgeml_runtime.server import settings


def sentences(model_dir, n=200):
    """Held-out snippets of 18-22 words: real text of the requested length, never seen in training."""
    with gzip.open(Path(model_dir) / "heldout.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [r["text"] for r in map(json.loads, f) if 18 <= len(r["text"].split()) <= 22]
    return texts[:n]


def stats(latencies_s, seconds=None):
    a = np.array(latencies_s) * 1000
    out = {
        "n": len(a),
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
    }
    if seconds:
        out["throughput_per_s"] = round(len(a) / seconds, 1)
    return out


def in_process(model_dir, texts, seconds, threads):
    model = SentimentModel(model_dir, intra_op_threads=threads)
    for t in texts[:20]:
        model.predict([t])
    lat, i, end = [], 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        model.predict([texts[i % len(texts)]])
        lat.append(time.perf_counter() - t0)
        i += 1
    s = stats(lat)
    s["rate_per_s"] = round(len(lat) / sum(lat), 1)  # back-to-back single-thread rate
    return s


def _client_proc(port, texts, threads, start_at, seconds, queue):
    """One client process running `threads` closed-loop keep-alive clients; reports latencies."""
    results = []

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/x-text", "Accept": "application/json"}
        bodies = [t.encode() for t in texts]
        for b in bodies[:5]:  # warm the connection
            conn.request("POST", "/invocations", b, headers)
            conn.getresponse().read()
        lat, i = [], k
        time.sleep(max(0.0, start_at - time.time()))
        end = start_at + seconds
        while time.time() < end:
            t0 = time.perf_counter()
            conn.request("POST", "/invocations", bodies[i % len(bodies)], headers)
            r = conn.getresponse()
            r.read()
            lat.append(time.perf_counter() - t0)
            assert r.status == 200, r.status
            i += 7
        conn.close()
        results.append(lat)

    ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    queue.put([x for lat in results for x in lat])


def http_load(port, texts, clients, seconds):
    procs_n = min(clients, 4)  # client processes, so the load generator is not bound by one GIL
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    start_at = time.time() + 1.0
    procs = [
        ctx.Process(target=_client_proc, args=(port, texts, clients // procs_n, start_at, seconds, q))
        for _ in range(procs_n)
    ]
    for p in procs:
        p.start()
    lat = [x for _ in procs for x in q.get()]
    for p in procs:
        p.join()
    return {"clients": clients, **stats(lat, seconds)}


def start_server(model_dir, threads):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "runtime"),
        "SAGEMAKER_MODEL_DIR": str(model_dir),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "EDGEML_BIND_HOST": "127.0.0.1",
        "EDGEML_ORT_THREADS": str(threads),
    }
    # Logging stays on (one JSON line per request), as in production; the lines go to /dev/null.
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeml_runtime", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/ping")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("runtime did not start")


def target(value, limit, op):
    return {"value": round(value, 3), "limit": limit, "pass": bool(value <= limit if op == "<=" else value >= limit)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default=str(REPO / "model" / "artifacts"))
    ap.add_argument("--seconds", type=float, default=6.0, help="duration of each measurement")
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args()
    threads = settings()["intra_op_threads"]  # the runtime's default (EDGEML_ORT_THREADS)
    texts = sentences(args.model_dir)

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "onnxruntime": __import__("onnxruntime").__version__,
            "load_avg_before": os.getloadavg(),
        },
        "workload": {
            "sentences": len(texts),
            "mean_words": round(float(np.mean([len(t.split()) for t in texts])), 1),
            "batch": 1,
            "ort_intra_op_threads": threads,
            "seconds_per_measurement": args.seconds,
        },
        "in_process": in_process(args.model_dir, texts, args.seconds, threads),
    }
    proc, port = start_server(args.model_dir, threads)
    try:
        report["http"] = {f"{c}_clients": http_load(port, texts, c, args.seconds) for c in (1, 4, 16)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    ip, h = report["in_process"], report["http"]
    report["targets"] = {
        "http_p50_over_inprocess_p50": target(h["1_clients"]["p50_ms"] / ip["p50_ms"], 1.3, "<="),
        "throughput_4_clients_over_inprocess_rate": target(
            h["4_clients"]["throughput_per_s"] / ip["rate_per_s"], 0.85, ">="
        ),
        "p99_16_clients_over_inprocess_p50": target(h["16_clients"]["p99_ms"] / ip["p50_ms"], 10, "<="),
    }
    report["all_targets_pass"] = all(t["pass"] for t in report["targets"].values())
    # Closed loop: by Little's law the mean latency at N clients is N / throughput, and throughput cannot
    # exceed cpus / (in-process p50), so p99(16) / p50 is at least 16 / cpus even with zero overhead.
    report["targets"]["p99_16_clients_over_inprocess_p50"]["floor_zero_overhead"] = round(16 / os.cpu_count(), 1)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Shared by the lab benchmarks: run a playbook against inventories/lab, and a phone that keeps calling an address."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
from edgelab import device

CONTRACT = {"Content-Type": "application/x-text", "Accept": "application/json;verbose"}


def play(playbook: str, extra: dict) -> float:
    """Run a playbook of this clone on the lab; the seconds it took. Fails loudly with the run's tail."""
    env = os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    start = time.perf_counter()
    out = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(REPO / "inventories" / "lab"),
                          str(REPO / playbook), "-e", json.dumps(extra)], env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-4000:])
        raise SystemExit(f"{playbook} failed (rc {out.returncode})")
    return round(time.perf_counter() - start, 1)


class Phone(threading.Thread):
    """Sends a request every `period` s from the lab's carrier network; records (monotonic time, ok) of each."""

    def __init__(self, url: str, period: float = 0.05, body: bytes = b"A fine film."):
        super().__init__(daemon=True)
        self.url, self.period, self.body, self.results, self.stop = url, period, body, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                ok = device.request(self.url, self.body, headers=CONTRACT, timeout=1.0)[0] == 200
            except (OSError, ValueError):
                ok = False
            self.results.append((start, ok))
            self.stop.wait(max(0.0, self.period - (time.monotonic() - start)))

    def finish(self) -> None:
        self.stop.set()
        self.join()


def summary(results: list, since: float = float("-inf")) -> dict:
    """Requests sent and failed after `since`, the longest run of failures (count and seconds)."""
    after = [(t, ok) for t, ok in results if t >= since]
    longest = run = 0
    longest_s, run_start = 0.0, None
    for t, ok in after:
        if ok:
            run, run_start = 0, None
            continue
        run += 1
        run_start = t if run_start is None else run_start
        longest = max(longest, run)
        longest_s = max(longest_s, t - run_start)
    return {"requests": len(after), "failed": sum(1 for _, ok in after if not ok), "longest_failure_run": longest,
            "longest_outage_s": round(longest_s, 2)}

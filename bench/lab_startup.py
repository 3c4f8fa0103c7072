"""Lab startup time: `lab down` then `lab up` (images cached), and an idempotent re-`up`. Prints JSON.

    .venv/bin/python bench/lab_startup.py [--runs N]

Leaves the lab running. The target is < 30 s for a cold `lab up` with images already built.
"""

import argparse
import json
import re
import subprocess
import time
from pathlib import Path

LAB = Path(__file__).resolve().parents[1] / "lab" / "bin" / "lab"


def timed(*args: str) -> tuple[float, str]:
    start = time.monotonic()
    proc = subprocess.run([str(LAB), *args], capture_output=True, text=True, check=True)
    return time.monotonic() - start, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    runs = []
    for _ in range(parser.parse_args().runs):
        timed("down")
        seconds, out = timed("up")
        phases = {m[1]: float(m[2]) for m in re.finditer(r"^(\S+)\s+.*\((\d+\.\d+)s\)$", out, re.M)}
        runs.append({"cold_up_s": round(seconds, 2), "phases_s": phases})
    warm, _ = timed("up")
    cold = [r["cold_up_s"] for r in runs]
    print(json.dumps({"benchmark": "lab_startup", "runs": runs, "cold_up_s_max": max(cold),
                      "warm_up_s": round(warm, 2), "target_s": 30, "under_target": max(cold) < 30}, indent=2))


if __name__ == "__main__":
    main()

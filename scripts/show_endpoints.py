"""Print the endpoints report written by endpoint_check and one sample prediction from each endpoint."""

import json
import sys
import urllib.request
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "artifacts" / "endpoints.json"
SAMPLE = "A warm, funny and beautifully acted film that I would happily watch again."


def main() -> int:
    if not REPORT.is_file():
        print(f"{REPORT} not found: run site.yml first (make demo)", file=sys.stderr)
        return 1
    report = json.loads(REPORT.read_text())
    print(f"\nEndpoints of deployment {report['deployment']} (checked {report['checked_at']}):")
    print(f"{'zone':26} {'carrier IP':15} {'port':>5} {'model':14} {'p50 ms':>7} {'p99 ms':>7}")
    for e in report["endpoints"]:
        print(f"{e['zone']:26} {e['carrier_ip']:15} {e['port']:>5} {e['model']:14} "
              f"{e['p50_ms']:7.2f} {e['p99_ms']:7.2f}")
    for e in report["endpoints"]:
        url = f"http://{e['carrier_ip']}:{e['port']}/invocations"
        request = urllib.request.Request(url, data=SAMPLE.encode(), method="POST", headers={
            "Content-Type": "application/x-text", "Accept": "application/json;verbose"})
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 (http to the reported endpoint)
            print(f"\nPOST {url}\n  text: {SAMPLE}\n  reply: {reply.read().decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

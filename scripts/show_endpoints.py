"""`make demo`'s ending: the zones' stable addresses from the endpoints report, and one prediction at each, sent as a
phone on the carrier network sends it (from the lab's device address: carrier addresses answer nothing else)."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
from edgelab import config, device  # the lab package lives in lab/

REPORT = REPO / "artifacts" / "endpoints.json"
SAMPLE = "A warm, funny and beautifully acted film that I would happily watch again."


def main() -> int:
    if not REPORT.is_file():
        print(f"{REPORT} not found: run site.yml first (make demo)", file=sys.stderr)
        return 1
    report = json.loads(REPORT.read_text())
    print(f"\nDeployment {report['deployment']}: the address of each zone and model (checked {report['checked_at']}"
          f", from {report['zones'][0]['probed_from'] if report['zones'] else '-'}):")
    print(f"{'zone':26} {'address':15} {'port':>5} {'model':14} {'p50 ms':>7} {'p99 ms':>7}  checks")
    for e in report["zones"]:
        print(f"{e['zone']:26} {e['address']:15} {e['port']:>5} {e['model']:14} "
              f"{e['p50_ms']:7.2f} {e['p99_ms']:7.2f}  {'ok' if e['checks_passed'] else 'FAILED'}")
    for e in report["zones"]:
        url = f"http://{e['address']}:{e['port']}/invocations"
        status, _, body = device.request(url, SAMPLE.encode(), headers={
            "Content-Type": "application/x-text", "Accept": "application/json;verbose"}, timeout=10)
        print(f"\nPOST {url} from the device {config.DEVICE_ADDRESS} (carrier network)\n  text: {SAMPLE}\n"
              f"  reply: HTTP {status} {body.decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: endpoint_probe
version_added: 0.1.0
short_description: Check the predictions and measure the latency of a SageMaker-style inference endpoint
description:
  - Sends each sample once to O(url) (the SageMaker hosting contract C(POST /invocations)). A sample with an
    C(expected_label) passes when the returned C(predicted_label) is that label. A sample without one passes when the
    answer is well formed (with O(accept=application/json;verbose)), that is C(probabilities) that sum to about 1 and
    a C(predicted_label) that is one of the C(labels) (or an index into them). No label names are assumed.
  - Then sends O(requests) timed requests (samples in turn, one at a time, a new connection each, as a
    device would) and reports latency percentiles computed with the nearest-rank method over all of them.
  - Read-only, never reports a change; safe in check mode (it only sends inference requests).
  - A request that fails (connection error, timeout, HTTP status other than 200, body that is not JSON)
    makes the module fail with the URL and the reason.
author:
  - edgeml team
options:
  url:
    description: Full invocation URL, for example C(http://203.0.113.10:30007/invocations).
    type: str
    required: true
  samples:
    description: Texts to send, each optionally with the label it must get.
    type: list
    elements: dict
    required: true
    suboptions:
      text: {description: Request body (UTF-8)., type: str, required: true}
      expected_label: {description: Expected C(predicted_label); without it the answer's form is checked., type: str}
  requests:
    description: Number of timed requests (1 to 10000).
    type: int
    default: 50
  warmup:
    description: Untimed requests sent before the timed ones (connection set-up, lazy initialisation).
    type: int
    default: 2
  timeout:
    description: Timeout of each request in seconds.
    type: float
    default: 5.0
  content_type:
    description: Content-Type of the requests.
    type: str
    default: application/x-text
  accept:
    description: Accept header of the requests.
    type: str
    default: application/json;verbose
  source_address:
    description:
      - Local address the requests are sent from, on a host with several networks (for example the address a
        test device has on the carrier network). Empty lets the system choose.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Check a model endpoint on a node's carrier IP
  edgeml.wavelength.endpoint_probe:
    url: "http://{{ carrier_ip }}:30007/invocations"
    samples:
      - {text: "An absolute masterpiece, moving and beautifully acted.", expected_label: positive}
      - {text: "A dull, lifeless and painfully boring mess.", expected_label: negative}
    requests: 50
  register: probe
"""

RETURN = r"""
predictions:
  description: One entry per sample.
  returned: always
  type: list
  elements: dict
  contains:
    text: {description: The sample text., type: str}
    expected_label: {description: Expected label (null when only the answer's form was checked)., type: str}
    predicted_label: {description: Label returned by the endpoint., type: str}
    ok: {description: Whether the sample passed (label matches, or the answer is well formed)., type: bool}
    problem: {description: Why it did not pass (empty when it did)., type: str}
predictions_ok:
  description: True when every sample passed.
  returned: always
  type: bool
latency_ms:
  description: Latency of the timed requests in milliseconds (client side, request sent to body read).
  returned: always
  type: dict
  contains:
    count: {description: Number of timed requests., type: int}
    p50: {description: Median (nearest rank)., type: float}
    p99: {description: 99th percentile (nearest rank; with fewer than 100 requests this is the maximum)., type: float}
    min: {description: Fastest request., type: float}
    max: {description: Slowest request., type: float}
    mean: {description: Mean., type: float}
"""

import http.client
import json
import time
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgeml.wavelength.plugins.module_utils.probe_checks import check, latency_summary


class ProbeError(Exception):
    pass


def invoke(url, text, params):
    """POST text to url (from params['source_address'] when set); (reply, milliseconds)."""
    parts = urllib.parse.urlsplit(url)
    source = (params["source_address"], 0) if params["source_address"] else None
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, parts.port, timeout=params["timeout"], source_address=source)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    start = time.perf_counter()
    try:
        conn.request("POST", path or "/", body=text.encode("utf-8"),
                     headers={"Content-Type": params["content_type"], "Accept": params["accept"]})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as e:
        raise ProbeError(str(e) or type(e).__name__) from e
    finally:
        conn.close()
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    if response.status != 200:
        raise ProbeError(f"HTTP {response.status} {response.reason}: {body[:300]!r}")
    try:
        reply = json.loads(body)
    except ValueError as e:
        raise ProbeError(f"reply is not JSON: {body[:300]!r}") from e
    if not isinstance(reply, dict):
        raise ProbeError(f"reply is not a JSON object: {body[:300]!r}")
    return reply, elapsed_ms


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            samples=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(text=dict(type="str", required=True), expected_label=dict(type="str")),
            ),
            requests=dict(type="int", default=50),
            warmup=dict(type="int", default=2),
            timeout=dict(type="float", default=5.0),
            content_type=dict(type="str", default="application/x-text"),
            accept=dict(type="str", default="application/json;verbose"),
            source_address=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["url"].startswith(("http://", "https://")):
        module.fail_json(msg=f"url must be http(s): {p['url']}")
    if not p["samples"]:
        module.fail_json(msg="samples must not be empty")
    if not 1 <= p["requests"] <= 10000 or not 0 <= p["warmup"] <= 100 or p["timeout"] <= 0:
        module.fail_json(msg="requests must be 1..10000, warmup 0..100 and timeout > 0")

    samples = p["samples"]
    try:
        predictions = []
        for sample in samples:
            reply, _ = invoke(p["url"], sample["text"], p)
            predictions.append(check(sample, reply))
        for i in range(p["warmup"]):
            invoke(p["url"], samples[i % len(samples)]["text"], p)
        latencies = [invoke(p["url"], samples[i % len(samples)]["text"], p)[1] for i in range(p["requests"])]
    except ProbeError as e:
        origin = f" from {p['source_address']}" if p["source_address"] else ""
        module.fail_json(msg=f"POST {p['url']}{origin} failed: {e}")

    latency = latency_summary(latencies)
    module.exit_json(
        changed=False,
        predictions=predictions,
        predictions_ok=all(x["ok"] for x in predictions),
        latency_ms=latency,
    )


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: endpoint_probe
version_added: 0.1.0
short_description: Check the predictions and measure the latency of a SageMaker-style inference endpoint
description:
  - Sends each sample once to O(url) (the SageMaker hosting contract C(POST /invocations)) and compares the
    returned C(predicted_label) with the expected one.
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
    description: Texts to send, with the label each must get.
    type: list
    elements: dict
    required: true
    suboptions:
      text: {description: Request body (UTF-8)., type: str, required: true}
      expected_label: {description: Expected C(predicted_label)., type: str, required: true}
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
    expected_label: {description: Expected label., type: str}
    predicted_label: {description: Label returned by the endpoint., type: str}
    ok: {description: Whether both labels match., type: bool}
predictions_ok:
  description: True when every sample got its expected label.
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

import json
import math
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule


class ProbeError(Exception):
    pass


def percentile(sorted_values, pct):
    """Nearest-rank percentile: the smallest value with at least pct % of the values at or below it."""
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def label_of(reply):
    """predicted_label, mapped through labels when the endpoint returns an index."""
    label = reply.get("predicted_label")
    labels = reply.get("labels")
    if isinstance(label, int) and not isinstance(label, bool) and isinstance(labels, list) and 0 <= label < len(labels):
        label = labels[label]
    return None if label is None else str(label)


def invoke(url, text, params):
    request = urllib.request.Request(  # noqa: S310 (the module checks that url is http(s))
        url,
        data=text.encode("utf-8"),
        method="POST",
        headers={"Content-Type": params["content_type"], "Accept": params["accept"]},
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=params["timeout"]) as response:  # noqa: S310
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        raise ProbeError(f"HTTP {e.code} {e.reason}: {e.read()[:300]!r}") from e
    except (urllib.error.URLError, OSError) as e:
        raise ProbeError(str(getattr(e, "reason", e))) from e
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    if status != 200:
        raise ProbeError(f"HTTP {status}")
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
                options=dict(text=dict(type="str", required=True), expected_label=dict(type="str", required=True)),
            ),
            requests=dict(type="int", default=50),
            warmup=dict(type="int", default=2),
            timeout=dict(type="float", default=5.0),
            content_type=dict(type="str", default="application/x-text"),
            accept=dict(type="str", default="application/json;verbose"),
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
            predicted = label_of(reply)
            predictions.append(dict(sample, predicted_label=predicted, ok=predicted == sample["expected_label"]))
        for i in range(p["warmup"]):
            invoke(p["url"], samples[i % len(samples)]["text"], p)
        latencies = sorted(invoke(p["url"], samples[i % len(samples)]["text"], p)[1] for i in range(p["requests"]))
    except ProbeError as e:
        module.fail_json(msg=f"POST {p['url']} failed: {e}")

    latency = dict(
        count=len(latencies),
        p50=round(percentile(latencies, 50), 3),
        p99=round(percentile(latencies, 99), 3),
        min=round(latencies[0], 3),
        max=round(latencies[-1], 3),
        mean=round(sum(latencies) / len(latencies), 3),
    )
    module.exit_json(
        changed=False,
        predictions=predictions,
        predictions_ok=all(x["ok"] for x in predictions),
        latency_ms=latency,
    )


if __name__ == "__main__":
    main()

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
  - With O(targets) instead of O(url), one run probes every target in turn - one endpoint at a time, so no probe
    competes with another for a node or the network and the latency figures stay those of a lone client - and
    returns one entry per target in RV(results). Targets whose requests failed are probed again, up to O(retries)
    times, O(delay) seconds after each round; the module fails when some still fail, after probing all of them,
    naming each and why (their entries in RV(results) say so too).
author:
  - edgeml team
options:
  url:
    description:
      - Full invocation URL, for example C(http://203.0.113.10:30007/invocations).
      - Exactly one of O(url) and O(targets) is required.
    type: str
  samples:
    description:
      - Texts to send, each optionally with the label it must get.
      - Required with O(url); with O(targets), the samples of the targets without their own.
    type: list
    elements: dict
    suboptions:
      text: {description: Request body (UTF-8)., type: str, required: true}
      expected_label: {description: Expected C(predicted_label); without it the answer's form is checked., type: str}
  targets:
    description:
      - Endpoints to probe in one run, in this order, each with the module's O(requests), O(warmup), O(timeout),
        O(content_type), O(accept) and O(source_address). Exactly one of O(url) and O(targets) is required.
    type: list
    elements: dict
    version_added: 0.3.0
    suboptions:
      url:
        description: Full invocation URL.
        type: str
        required: true
      samples:
        description: Texts to send to this target; default O(samples).
        type: list
        elements: dict
        suboptions:
          text: {description: Request body (UTF-8)., type: str, required: true}
          expected_label: {description: Expected C(predicted_label); without it the answer's form is checked., type: str}
      label:
        description: Name of the target in messages; default its O(targets[].url).
        type: str
      data:
        description: Anything the caller needs to place the result (zone, node, model); returned unchanged in the
          target's entry of RV(results).
        type: dict
        default: {}
  retries:
    description:
      - How many more rounds probe the targets whose requests failed (0 to 100); each round probes only the ones
        that have not answered yet (with O(url), the one endpoint).
    type: int
    default: 0
    version_added: 0.3.0
  delay:
    description: Seconds before each further round of O(retries).
    type: float
    default: 1
    version_added: 0.3.0
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

- name: Check two endpoints in one run, each failed one probed twice more
  edgeml.wavelength.endpoint_probe:
    targets:
      - {url: "http://203.0.113.10:30007/invocations", label: bos node-a, data: {zone: bos, node: node-a}}
      - {url: "http://203.0.113.20:30007/invocations", label: nyc node-b, data: {zone: nyc, node: node-b}}
    samples:
      - {text: "An absolute masterpiece, moving and beautifully acted.", expected_label: positive}
    retries: 2
    delay: 2
  register: probes  # probes.results[0].latency_ms.p99, probes.results[0].data.zone
"""

RETURN = r"""
predictions:
  description: One entry per sample.
  returned: with O(url)
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
  returned: with O(url)
  type: bool
latency_ms:
  description: Latency of the timed requests in milliseconds (client side, request sent to body read).
  returned: with O(url)
  type: dict
  contains:
    count: {description: Number of timed requests., type: int}
    p50: {description: Median (nearest rank)., type: float}
    p99: {description: 99th percentile (nearest rank; with fewer than 100 requests this is the maximum)., type: float}
    min: {description: Fastest request., type: float}
    max: {description: Slowest request., type: float}
    mean: {description: Mean., type: float}
results:
  description: One entry per target of O(targets), in their order.
  returned: with O(targets), also when the module fails
  type: list
  elements: dict
  version_added: 0.3.0
  contains:
    url: {description: The target's URL., type: str}
    label: {description: The target's label (its URL when it has none)., type: str}
    data:
      description: The target's O(targets[].data).
      type: dict
    failed: {description: Whether its requests still failed after the last attempt., type: bool}
    msg: {description: Why it failed (empty when it did not)., type: str}
    attempts: {description: Rounds it was probed in (1 plus its retries)., type: int}
    predictions:
      description: As RV(predictions); for a failed target every sample, not passed, with the reason as C(problem).
      type: list
      elements: dict
    predictions_ok: {description: As RV(predictions_ok) (false for a failed target)., type: bool}
    latency_ms:
      description: As RV(latency_ms); for a failed target C(count) 0 and no figures (null).
      type: dict
"""

import http.client
import json
import time
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgeml.wavelength.plugins.module_utils.probe_checks import check, latency_summary

SAMPLE = dict(text=dict(type="str", required=True), expected_label=dict(type="str"))


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


def probe(url, samples, params):
    """{predictions, predictions_ok, latency_ms} of one endpoint; ProbeError when a request fails."""
    predictions = [check(sample, invoke(url, sample["text"], params)[0]) for sample in samples]
    for i in range(params["warmup"]):
        invoke(url, samples[i % len(samples)]["text"], params)
    latencies = [invoke(url, samples[i % len(samples)]["text"], params)[1] for i in range(params["requests"])]
    return dict(predictions=predictions, predictions_ok=all(x["ok"] for x in predictions),
                latency_ms=latency_summary(latencies))


def failure(url, error, params):
    origin = f" from {params['source_address']}" if params["source_address"] else ""
    return f"POST {url}{origin} failed: {error}"


def probe_target(target, params, attempt):
    """The target's entry of `results`: its measurements, or a failed check of every sample with the reason."""
    entry = dict(url=target["url"], label=target["label"] or target["url"], data=target["data"] or {},
                 failed=False, msg="", attempts=attempt)
    try:
        return entry | probe(target["url"], target["samples"], params)
    except ProbeError as e:
        msg = failure(target["url"], e, params)
        predictions = [dict(sample, predicted_label=None, ok=False, problem=msg) for sample in target["samples"]]
        return entry | dict(failed=True, msg=msg, predictions=predictions, predictions_ok=False,
                            latency_ms=latency_summary([]))


def probe_all(targets, params):
    """The entries of the targets, probed one after the other (never two at once: concurrent probes would share
    nodes and links and distort each other's latency); then, up to `retries` more rounds, the failed ones again."""
    results = [None] * len(targets)
    pending = list(range(len(targets)))
    for attempt in range(1, params["retries"] + 2):
        if attempt > 1:
            time.sleep(params["delay"])
        for i in pending:
            results[i] = probe_target(targets[i], params, attempt)
        pending = [i for i in pending if results[i]["failed"]]
        if not pending:
            break
    return results


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str"),
            samples=dict(type="list", elements="dict", options=SAMPLE),
            targets=dict(
                type="list",
                elements="dict",
                options=dict(
                    url=dict(type="str", required=True),
                    samples=dict(type="list", elements="dict", options=SAMPLE),
                    label=dict(type="str"),
                    data=dict(type="dict", default={}),
                ),
            ),
            requests=dict(type="int", default=50),
            warmup=dict(type="int", default=2),
            timeout=dict(type="float", default=5.0),
            content_type=dict(type="str", default="application/x-text"),
            accept=dict(type="str", default="application/json;verbose"),
            source_address=dict(type="str", default=""),
            retries=dict(type="int", default=0),
            delay=dict(type="float", default=1.0),
        ),
        mutually_exclusive=[("url", "targets")],
        required_one_of=[("url", "targets")],
        required_by=dict(url="samples"),
        supports_check_mode=True,
    )
    p = module.params
    single = p["targets"] is None
    if single:
        if not p["url"].startswith(("http://", "https://")):
            module.fail_json(msg=f"url must be http(s): {p['url']}")
        if not p["samples"]:
            module.fail_json(msg="samples must not be empty")
        targets = [dict(url=p["url"], samples=p["samples"], label=None, data={})]
    else:
        targets = [dict(t, samples=t["samples"] or p["samples"]) for t in p["targets"]]
        for t in targets:
            if not t["url"].startswith(("http://", "https://")):
                module.fail_json(msg=f"targets: url must be http(s): {t['url']}")
            if not t["samples"]:
                module.fail_json(msg=f"targets: {t['label'] or t['url']} has no samples, and samples is empty")
    if not 1 <= p["requests"] <= 10000 or not 0 <= p["warmup"] <= 100 or p["timeout"] <= 0:
        module.fail_json(msg="requests must be 1..10000, warmup 0..100 and timeout > 0")
    if not 0 <= p["retries"] <= 100 or p["delay"] < 0:
        module.fail_json(msg="retries must be 0..100 and delay >= 0")

    results = probe_all(targets, p)
    failed = [r for r in results if r["failed"]]
    if single:
        if failed:
            module.fail_json(msg=failed[0]["msg"])
        module.exit_json(changed=False, **{k: results[0][k] for k in ("predictions", "predictions_ok", "latency_ms")})
    if failed:
        rounds = f" (each probed {p['retries'] + 1} times)" if p["retries"] else ""
        module.fail_json(msg=f"{len(failed)} of {len(results)} targets failed{rounds}: " + "; ".join(
            r["msg"] if r["label"] == r["url"] else f"{r['label']}: {r['msg']}" for r in failed), results=results)
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()

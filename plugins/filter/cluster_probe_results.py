# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: cluster_probe_results
author: edgeml team
version_added: 0.1.0
short_description: Judge what endpoint_check's probe Jobs measured, as endpoint_probe would
description:
  - Reads each probe Job's termination message (the JSON that roles/endpoint_check/files/cluster_probe.py leaves in
    the Pod's status) and checks the answers with the same rules as the C(edgeml.wavelength.endpoint_probe) module
    (expected labels, or a well-formed hosting-contract answer) and the same latency percentiles.
  - Returns one result per pair, shaped like the C(results) of a looped C(endpoint_probe) task (C(item),
    C(predictions), C(predictions_ok), C(latency_ms)), so P(edgeml.wavelength.endpoint_report#filter) reports both
    modes alike. A Job that did not finish, failed or left no message gives a failed check that says why.
positional: _input, jobs, pods, samples
options:
  _input:
    description: The C([target, model]) pairs the Jobs were made for.
    type: list
    elements: list
    required: true
  jobs:
    description: The Jobs as P(edgeml.wavelength.probe_jobs#filter) made them (same order as the pairs).
    type: list
    elements: dict
    required: true
  pods:
    description: The probe pods (k8s_info resources); a pod belongs to the Job named by its C(job-name) label.
    type: list
    elements: dict
    required: true
  samples:
    description: Samples of the models that have none of their own.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
results: "{{ pairs | edgeml.wavelength.cluster_probe_results(jobs, pods.resources, endpoint_check_samples) }}"
"""

RETURN = r"""
_value:
  description:
    - One C({item, url, dns_ms, predictions, predictions_ok, latency_ms, error}) per pair.
    - C(dns_ms) is how long cluster DNS took to resolve the model's Service name in the zone (None when not measured).
  type: list
  elements: dict
"""

import json
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.module_utils.probe_checks import check, latency_summary
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of


def _terminated(pod):
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        state = (status.get("state") or {}).get("terminated")
        if state:
            return state
    return None


def _why_unfinished(pod):
    if pod is None:
        return "the probe Job started no pod"
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return f"probe pod waiting: {waiting.get('reason', '')} {waiting.get('message', '')}".strip()
    return f"probe pod {status.get('phase', 'Unknown')}, not finished"


def _result(pair, samples, pod):
    target, model = pair
    samples = model.get("samples") or samples
    state = _terminated(pod) if pod else None
    measured, error = {}, ""
    if state is None:
        error = _why_unfinished(pod)
    else:
        try:
            measured = json.loads(state.get("message") or "")
        except ValueError:
            error = f"probe exited {state.get('exitCode')} ({state.get('reason', '')}) without a result"
        else:
            error = measured.get("error") or ""
    replies = measured.get("replies") or []
    if not error and len(replies) != len(samples):
        error = f"the probe answered {len(replies)} of {len(samples)} samples"
    if error:
        predictions = [dict(s, predicted_label=None, ok=False, problem=error) for s in samples]
        latency = latency_summary([])
    else:
        predictions = [check(s, r if isinstance(r, Mapping) else {}) for s, r in zip(samples, replies, strict=True)]
        latency = latency_summary(measured.get("latencies_ms") or [])
    return {"item": [target, model], "url": measured.get("url", ""), "dns_ms": measured.get("dns_ms"),
            "predictions": predictions,
            "predictions_ok": not error and all(p["ok"] for p in predictions), "latency_ms": latency, "error": error}


def cluster_probe_results(pairs, jobs, pods, samples):
    if not isinstance(pairs, list) or not isinstance(jobs, list) or len(pairs) != len(jobs):
        raise AnsibleFilterError("cluster_probe_results: the pairs and the jobs must be lists of the same length")
    list_of(jobs, Mapping, "cluster_probe_results", "jobs")
    list_of(pods, Mapping, "cluster_probe_results", "pods")
    list_of(samples, Mapping, "cluster_probe_results", "samples")
    by_job = {}
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
        if job and (job not in by_job or _terminated(pod)):  # a finished pod is the one to read
            by_job[job] = pod
    return [_result(pair, samples, by_job.get(job["metadata"]["name"])) for pair, job in zip(pairs, jobs, strict=True)]


class FilterModule:
    """Results of the probe Jobs."""

    def filters(self):
        return {"cluster_probe_results": cluster_probe_results}

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""What a probe checks in an answer of the SageMaker hosting contract, and its latency summary.

Shared by the endpoint_probe module (requests sent from the controller or a carrier-network host) and the
cluster_probe_results filter (requests sent by a probe Job inside the cluster), so both modes judge alike.
"""

import json
import math


def percentile(sorted_values, pct):
    """Nearest-rank percentile: the smallest value with at least pct % of the values at or below it."""
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(latencies):
    """count, p50, p99, min, max and mean (milliseconds, rounded to microseconds); count 0 and no figures for no
    latencies (an endpoint that did not answer)."""
    values = sorted(latencies)
    if not values:
        return dict(count=0, p50=None, p99=None, min=None, max=None, mean=None)
    return dict(
        count=len(values),
        p50=round(percentile(values, 50), 3),
        p99=round(percentile(values, 99), 3),
        min=round(values[0], 3),
        max=round(values[-1], 3),
        mean=round(sum(values) / len(values), 3),
    )


def label_of(reply):
    """predicted_label, mapped through labels when the endpoint returns an index."""
    label = reply.get("predicted_label")
    labels = reply.get("labels")
    if isinstance(label, int) and not isinstance(label, bool) and isinstance(labels, list) and 0 <= label < len(labels):
        label = labels[label]
    return None if label is None else str(label)


def contract_problem(reply):
    """Why a verbose hosting-contract answer is malformed ('' when it is well formed)."""
    probabilities, labels = reply.get("probabilities"), reply.get("labels")
    if not isinstance(probabilities, list) or not probabilities or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in probabilities):
        return f"no list of probabilities in {json.dumps(reply)[:200]}"
    if abs(sum(probabilities) - 1.0) > 0.02:
        return f"probabilities sum to {sum(probabilities):.3f}, not 1"
    if not isinstance(labels, list) or len(labels) != len(probabilities):
        return f"labels {labels!r} do not match the {len(probabilities)} probabilities"
    predicted = label_of(reply)
    if predicted is None or predicted not in [str(label) for label in labels]:
        return f"predicted_label {reply.get('predicted_label')!r} is not one of the labels {labels!r}"
    return ""


def check(sample, reply):
    """The sample with what the model answered: ok when the expected label came back, or (without one) when the
    answer is well formed."""
    predicted = label_of(reply)
    if sample.get("expected_label") is not None:
        problem = "" if predicted == sample["expected_label"] else f"expected {sample['expected_label']!r}"
    else:
        problem = contract_problem(reply)
    return dict(sample, predicted_label=predicted, ok=not problem, problem=problem)

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: probe_jobs
author: edgeml team
version_added: 0.1.0
short_description: The probe Jobs of endpoint_check's cluster mode, one per (node, model) pair
description:
  - For each C([target, model]) pair (P(edgeml.wavelength.probe_targets#filter)) a batch/v1 Job pinned (C(nodeName))
    to the target's node - for a zone's stable address, the node that holds it - which runs O(script) with the
    image of the model's Deployment in that zone (already on the node, and known to have python3).
  - The program calls the model's NodePort on the node's private address (C(status.hostIP)), which proves the node,
    the Service and the model, not the carrier path, and needs no access from the internet. First it resolves the
    model's Service name (C(<model>.<namespace>.svc.cluster.local.), env C(PROBE_DNS_NAME)) through cluster DNS,
    which proves the zone has DNS of its own (no other Wavelength zone can answer it).
  - The pod is restricted (Pod Security Standards) - non-root with the Deployment's user, no privilege escalation,
    no capabilities, read-only root file system, RuntimeDefault seccomp, no service account token - and labelled
    C(app.kubernetes.io/component=probe) so the models' NetworkPolicy admits it.
positional: _input, nodes, deployments, script, name, namespace, settings
options:
  _input:
    description: The C([target, model]) pairs; models carry C(node_port) and optionally C(samples).
    type: list
    elements: list
    required: true
  nodes:
    description: The zones' Ready nodes (P(edgeml.wavelength.ready_zone_nodes#filter)), to find a stable address's node.
    type: list
    elements: dict
    required: true
  deployments:
    description: The deployment's Deployment objects (k8s_info resources), one per model and zone.
    type: list
    elements: dict
    required: true
  script:
    description: The probe program (roles/endpoint_check/files/cluster_probe.py).
    type: str
    required: true
  name:
    description: >-
      Deployment name (the models' C(edgeml.io/deployment) label; the probes carry it as C(app.kubernetes.io/part-of)
      only, so that nothing counts them among the models' pods).
    type: str
    required: true
  namespace:
    description: Namespace of the models.
    type: str
    required: true
  settings:
    description: >-
      C(samples) (for models without their own), C(requests), C(warmup), C(timeout), C(deadline) and C(ttl)
      (seconds), C(run) (a token that makes the names of this run unique).
    type: dict
    required: true
"""

EXAMPLES = r"""
jobs: "{{ pairs | edgeml.wavelength.probe_jobs(nodes, deployments, lookup('ansible.builtin.file', 'cluster_probe.py'),
  'edgeml', 'edgeml', {'samples': samples, 'requests': 50, 'warmup': 2, 'timeout': 5, 'deadline': 300, 'ttl': 600,
  'run': '1733212800'}) }}"
"""

RETURN = r"""
_value:
  description: Job manifests in the order of the pairs; each carries the pair's index in label C(edgeml.io/probe-index).
  type: list
  elements: dict
"""

import hashlib
import json
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of

PROBE_COMPONENT = "probe"
REQUIRED_SETTINGS = ("samples", "requests", "warmup", "timeout", "deadline", "ttl", "run")


def _deployment_pods(deployments, name):
    """(model, zone) -> the pod template spec of that model's Deployment in that zone."""
    specs = {}
    for deploy in deployments:
        labels = deploy.get("metadata", {}).get("labels") or {}
        if labels.get("edgeml.io/deployment") != name:
            continue
        key = (labels.get("app.kubernetes.io/name"), labels.get("edgeml.io/zone"))
        specs[key] = ((deploy.get("spec") or {}).get("template") or {}).get("spec") or {}
    return specs


def _node_of(target, nodes):
    if target.get("node_name"):
        return target["node_name"]
    for node in nodes:
        if target.get("instance_id") and node.get("instance_id") == target["instance_id"]:
            return node["node_name"]
    raise AnsibleFilterError(f"probe_jobs: the stable address {target.get('carrier_ip')} of {target.get('zone')} is on "
                             f"instance {target.get('instance_id') or '(none)'}, which is no Ready node of the zone: "
                             "run the deploy stage (edgeml.wavelength.deploy), which moves it to a serving node")


def probe_jobs(pairs, nodes, deployments, script, name, namespace, settings):
    if isinstance(pairs, str) or not isinstance(pairs, Sequence) or not all(
            isinstance(p, Sequence) and len(p) == 2 and all(isinstance(x, Mapping) for x in p) for p in pairs):
        raise AnsibleFilterError(f"probe_jobs: the input must be [target, model] pairs, got {pairs!r:.200}")
    list_of(nodes, Mapping, "probe_jobs", "nodes")
    list_of(deployments, Mapping, "probe_jobs", "deployments")
    missing = [k for k in REQUIRED_SETTINGS if not isinstance(settings, Mapping) or k not in settings]
    if missing:
        raise AnsibleFilterError(f"probe_jobs: settings need {', '.join(missing)}")
    pods = _deployment_pods(deployments, name)
    jobs = []
    for index, (target, model) in enumerate(pairs):
        pod = pods.get((model["name"], target["zone"]))
        if not pod or not pod.get("containers"):
            raise AnsibleFilterError(f"probe_jobs: no Deployment of model {model['name']} in zone {target['zone']} "
                                     f"(namespace {namespace}): run the deploy stage (edgeml.wavelength.deploy) first")
        node = _node_of(target, nodes)
        texts = [s["text"] for s in model.get("samples") or settings["samples"]]
        kind = "stable" if target.get("stable") else "node"
        digest = hashlib.sha256(json.dumps([settings["run"], index, node, model["name"], kind]).encode()).hexdigest()
        labels = {"app.kubernetes.io/part-of": name, "app.kubernetes.io/managed-by": "edgeml.wavelength",
                  "app.kubernetes.io/component": PROBE_COMPONENT, "edgeml.io/probe-run": str(settings["run"]),
                  "edgeml.io/probe-index": str(index)}
        env = {"PROBE_PORT": str(model["node_port"]), "PROBE_SAMPLES": json.dumps(texts),
               "PROBE_REQUESTS": str(int(settings["requests"])), "PROBE_WARMUP": str(int(settings["warmup"])),
               "PROBE_TIMEOUT": str(float(settings["timeout"])),
               # Absolute (trailing dot): one look-up, no search-list expansions.
               "PROBE_DNS_NAME": f"{model['name']}.{namespace}.svc.cluster.local."}
        security = dict(pod.get("securityContext") or {})
        security.update(runAsNonRoot=True, seccompProfile={"type": "RuntimeDefault"})
        jobs.append({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"{name[:30].rstrip('-')}-probe-{digest[:10]}", "namespace": namespace,
                         "labels": labels,
                         "annotations": {"edgeml.io/probe-target": f"{target['zone']} {kind} {node}",
                                         "edgeml.io/probe-model": model["name"]}},
            "spec": {
                "backoffLimit": 0, "activeDeadlineSeconds": int(settings["deadline"]),
                "ttlSecondsAfterFinished": int(settings["ttl"]),
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeName": node, "restartPolicy": "Never", "automountServiceAccountToken": False,
                        "enableServiceLinks": False, "tolerations": pod.get("tolerations") or [],
                        "securityContext": security,
                        "containers": [{
                            "name": "probe", "image": pod["containers"][0]["image"],
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python3", "-I", "-c", script],
                            "env": [{"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]
                                   + [{"name": k, "value": v} for k, v in env.items()],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                          "limits": {"cpu": "500m", "memory": "128Mi"}},
                            "terminationMessagePolicy": "File",
                            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "privileged": False, "capabilities": {"drop": ["ALL"]}},
                        }],
                    },
                },
            },
        })
    return jobs


class FilterModule:
    """Probe Jobs."""

    def filters(self):
        return {"probe_jobs": probe_jobs}

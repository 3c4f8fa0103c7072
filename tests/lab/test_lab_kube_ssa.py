"""Server-side apply on the lab Kubernetes API, as the product uses it (kubernetes.core `apply: true,
server_side_apply: {field_manager: edgeml}`): create if missing, unchanged re-apply, changes, removal of fields the
manager no longer applies, conflicts with other managers (force_conflicts), check mode.

A private API server (edgelab.kube.subprocess_server) with the lab-only admin credential: no running lab needed.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from edgelab import kube
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server():
    with kube.subprocess_server() as server:
        yield server


@pytest.fixture
def deployments(server):
    return dynamic.DynamicClient(client.ApiClient(server.configuration())).resources.get(
        api_version="apps/v1", kind="Deployment")


def deployment(namespace: str, replicas: int = 1, labels: dict | None = None, env: list | None = None) -> dict:
    container = {"name": "model", "image": "img:1", "env": env if env is not None else [{"name": "A", "value": "1"}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace, "labels": labels or {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}}


def apply(resource, body: dict, manager: str = "edgeml", **kw) -> dict:
    return resource.server_side_apply(body=body, name=body["metadata"]["name"],
                                      namespace=body["metadata"]["namespace"], field_manager=manager, **kw).to_dict()


def test_apply_creates_then_is_idempotent(deployments):
    created = apply(deployments, deployment("ssa-a"))
    assert created["metadata"]["generation"] == 1
    [entry] = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("edgeml", "Apply", "FieldsV1")
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]
    again = apply(deployments, deployment("ssa-a"))
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_apply_removes_what_the_manager_no_longer_applies(deployments):
    apply(deployments, deployment("ssa-b", labels={"app": "web", "tier": "edge"},
                                  env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    changed = apply(deployments, deployment("ssa-b", replicas=2, env=[{"name": "A", "value": "9"}]))
    assert changed["metadata"]["labels"] == {"app": "web"}
    assert changed["spec"]["replicas"] == 2 and changed["metadata"]["generation"] == 2
    assert changed["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "9"}]


def test_fields_of_other_managers_are_kept_and_conflict(deployments):
    apply(deployments, deployment("ssa-c"))
    deployments.patch(body={"metadata": {"annotations": {"note": "x"}}, "spec": {"replicas": 3}}, name="web",
                      namespace="ssa-c", content_type="application/merge-patch+json", field_manager="scaler")
    with pytest.raises(ApiException) as e:
        apply(deployments, deployment("ssa-c", replicas=2))
    status = json.loads(e.value.body)
    assert e.value.status == 409 and status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "scaler" using apps/v1: .spec.replicas'
    assert status["details"]["causes"][0]["field"] == ".spec.replicas"
    same = apply(deployments, deployment("ssa-c", replicas=3))  # the same value: shared ownership, no conflict
    assert same["spec"]["replicas"] == 3
    forced = apply(deployments, deployment("ssa-c", replicas=2), force_conflicts=True)
    assert forced["spec"]["replicas"] == 2
    assert forced["metadata"]["annotations"] == {"note": "x"}  # not applied by edgeml: kept
    owners = {m["manager"]: m for m in forced["metadata"]["managedFields"]}
    assert "f:replicas" not in owners["scaler"]["fieldsV1"].get("f:spec", {})


def test_apply_refuses_what_the_api_server_refuses(server, deployments):
    http = server.session()
    url = f"{server.url}/apis/apps/v1/namespaces/ssa-d/deployments/web"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    body = json.dumps(deployment("ssa-d"))
    assert http.patch(url, data=body, headers=headers, timeout=5).status_code == 422  # no fieldManager
    wrong_name = json.dumps({**deployment("ssa-d"), "metadata": {"name": "other", "namespace": "ssa-d"}})
    assert http.patch(url, params={"fieldManager": "m"}, data=wrong_name, headers=headers, timeout=5).status_code == 400
    no_kind = json.dumps({k: v for k, v in deployment("ssa-d").items() if k != "kind"})
    assert http.patch(url, params={"fieldManager": "m"}, data=no_kind, headers=headers, timeout=5).status_code == 400
    yaml_body = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 4}\n"
    resp = http.patch(url, params={"fieldManager": "m"}, data=yaml_body, headers=headers, timeout=5)
    assert resp.status_code == 200 and resp.json()["spec"]["replicas"] == 4
    dry = http.patch(url, params={"fieldManager": "m", "dryRun": "All"}, data=yaml_body.replace("4", "5"),
                     headers=headers, timeout=5)
    assert dry.json()["spec"]["replicas"] == 5 and deployments.get(name="web", namespace="ssa-d").spec.replicas == 4


PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/kubernetes.core.k8s: {auth}
  vars:
    ns: ssa-play
    manifests:
      - {{apiVersion: v1, kind: Namespace, metadata: {{name: ssa-play, labels: {{team: edge}}}}}}
      - {deployment}
      - apiVersion: v1
        kind: Service
        metadata: {{name: web, namespace: ssa-play}}
        spec: {{type: NodePort, selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080, nodePort: 30080}}]}}
      - apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {{name: web, namespace: ssa-play}}
        spec:
          podSelector: {{matchLabels: {{app: web}}}}
          policyTypes: [Ingress]
          ingress: [{{from: [{{ipBlock: {{cidr: 127.0.0.0/8}}}}], ports: [{{port: 8080}}]}}]
    ssa: {{field_manager: edgeml}}
  tasks:
    - name: Create (missing objects)
      kubernetes.core.k8s: {{definition: "{{{{ item }}}}", apply: true, server_side_apply: "{{{{ ssa }}}}"}}
      loop: "{{{{ manifests }}}}"
      register: created
    - name: Re-apply, no change
      kubernetes.core.k8s: {{definition: "{{{{ item }}}}", apply: true, server_side_apply: "{{{{ ssa }}}}"}}
      loop: "{{{{ manifests }}}}"
      register: again
    - name: Check mode of a change
      kubernetes.core.k8s:
        definition: "{{{{ manifests[1] | combine({{'spec': {{'replicas': 3}}}}, recursive=true) }}}}"
        apply: true
        server_side_apply: "{{{{ ssa }}}}"
      check_mode: true
      register: preview
    - name: Stored unchanged
      kubernetes.core.k8s_info: {{kind: Deployment, namespace: ssa-play, name: web}}
      register: before
    - name: Change a field, drop a label
      kubernetes.core.k8s:
        definition: "{{{{ manifests[1] | combine(change, recursive=true) }}}}"
        apply: true
        server_side_apply: "{{{{ ssa }}}}"
      vars:
        change: {{spec: {{replicas: 3}}, metadata: {{labels: {{tier: null}}}}}}
      register: changed
    - name: Another manager scales (client-side)
      kubernetes.core.k8s:
        state: patched
        kind: Deployment
        namespace: ssa-play
        name: web
        merge_type: merge
        definition: {{spec: {{replicas: 5}}}}
    - name: Apply over it without force
      kubernetes.core.k8s:
        definition: "{{{{ manifests[1] }}}}"
        apply: true
        server_side_apply: "{{{{ ssa }}}}"
      register: conflict
      ignore_errors: true
    - name: Apply over it with force
      kubernetes.core.k8s:
        definition: "{{{{ manifests[1] }}}}"
        apply: true
        server_side_apply: {{field_manager: edgeml, force_conflicts: true}}
      register: forced
    - name: Read back
      kubernetes.core.k8s_info: {{kind: Deployment, namespace: ssa-play, name: web}}
      register: after
    - ansible.builtin.assert:
        that:
          - created.results | map(attribute='changed') | list == [true, true, true, true]
          - again.results | map(attribute='changed') | list == [false, false, false, false]
          - preview is changed and preview.result.spec.replicas == 3
          - before.resources[0].spec.replicas == 1
          - changed is changed
          - changed.result.spec.replicas == 3 and 'tier' not in changed.result.metadata.labels
          - conflict is failed and 'conflict with' in conflict.msg
          - forced is changed and after.resources[0].spec.replicas == 1
"""


def test_kubernetes_core_server_side_apply(server, tmp_path):
    body = deployment("ssa-play", labels={"app": "web", "tier": "edge"})
    playbook = tmp_path / "ssa.yml"
    playbook.write_text(PLAYBOOK.format(auth=json.dumps(kube.admin_auth(server)), deployment=json.dumps(body)))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    start = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert time.monotonic() - start < 120

"""The lab Kubernetes API (edgelab.kube) behaves as kubernetes.core and the Python client need: Namespace objects,
server-side dry run, typed list replies with selectors, generation/resourceVersion bookkeeping.

The module starts its own server (edgelab.kube.subprocess_server) on a free loopback port: no lab needed.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import fixtures_cluster
import pytest
from edgelab import config, kube
from kubernetes import client
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parents[2]
lab = fixtures_cluster.lab  # the running lab (for the one test that checks its kube service)
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "c", "image": "img:1"}]}}}}


@pytest.fixture(scope="module")
def server():
    with kube.subprocess_server() as server:
        yield server


@pytest.fixture
def api(server):
    return client.ApiClient(server.configuration())  # https, the lab CA, the lab-only admin token


def deployment(namespace: str, **spec) -> dict:
    body = json.loads(json.dumps(DEPLOYMENT))
    body["metadata"]["namespace"] = namespace
    body["spec"].update(spec)
    return body


def test_namespace_objects(api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    created = core.create_namespace({"metadata": {"name": "ns-life", "labels": {"team": "a"}}})
    assert created.metadata.uid and created.metadata.creation_timestamp and created.status.phase == "Active"
    assert core.read_namespace("ns-life").metadata.labels == {"team": "a"}
    assert "ns-life" in [n.metadata.name for n in core.list_namespace().items]
    apps.create_namespaced_deployment("ns-life", deployment("ns-life"))
    core.create_namespaced_service("ns-other", {"metadata": {"name": "keep"}, "spec": {"ports": [{"port": 80}]}})

    core.delete_namespace("ns-life")
    with pytest.raises(ApiException) as e:
        core.read_namespace("ns-life")
    assert e.value.status == 404 and json.loads(e.value.body)["reason"] == "NotFound"
    # the namespace's objects went with it; other namespaces are untouched
    assert apps.list_namespaced_deployment("ns-life").items == []
    assert [s.metadata.name for s in core.list_namespaced_service("ns-other").items] == ["keep"]
    with pytest.raises(ApiException) as e:
        core.delete_namespace("ns-life")
    assert e.value.status == 404


def test_dry_run_stores_nothing(api):
    apps = client.AppsV1Api(api)
    preview = apps.create_namespaced_deployment("dry", deployment("dry"), dry_run="All")
    assert preview.metadata.generation == 1 and preview.spec.replicas == 1
    assert apps.list_namespaced_deployment("dry").items == []

    apps.create_namespaced_deployment("dry", deployment("dry"))
    with pytest.raises(ApiException) as e:  # a dry-run create still sees conflicts
        apps.create_namespaced_deployment("dry", deployment("dry"), dry_run="All")
    assert e.value.status == 409
    patched = apps.patch_namespaced_deployment("web", "dry", {"spec": {"replicas": 3}}, dry_run="All")
    assert patched.spec.replicas == 3 and patched.metadata.generation == 2
    stored = apps.read_namespaced_deployment("web", "dry")
    assert stored.spec.replicas == 1 and stored.metadata.generation == 1

    apps.delete_namespaced_deployment("web", "dry", dry_run="All")
    assert apps.read_namespaced_deployment("web", "dry").metadata.name == "web"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "dry"}}, dry_run="All")
    assert [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items if n.metadata.name == "dry"] == []


def test_generation_and_resource_version(api):
    apps = client.AppsV1Api(api)
    first = apps.create_namespaced_deployment("gen", deployment("gen"))
    assert first.metadata.generation == 1 and first.metadata.resource_version

    labelled = apps.patch_namespaced_deployment("web", "gen", {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1  # metadata only: no new generation...
    assert int(labelled.metadata.resource_version) > int(first.metadata.resource_version)  # ...but a new version

    same = apps.patch_namespaced_deployment("web", "gen", {"spec": {"replicas": 1}})
    assert same.metadata.resource_version == labelled.metadata.resource_version  # no change, no new version

    status = apps.patch_namespaced_deployment_status("web", "gen", {"status": {"replicas": 1}})
    assert status.metadata.generation == 1 and status.status.replicas == 1

    rolled = apps.patch_namespaced_deployment("web", "gen", {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "img:2"}]}}}})
    assert rolled.metadata.generation == 2
    assert rolled.metadata.uid == first.metadata.uid
    assert rolled.metadata.creation_timestamp == first.metadata.creation_timestamp

    body = deployment("gen", replicas=4)  # PUT replaces the object (server fields kept, generation bumped)
    replaced = apps.replace_namespaced_deployment("web", "gen", body)
    assert replaced.spec.replicas == 4 and replaced.metadata.generation == 3
    assert replaced.metadata.labels == {"app": "web", "tier": "front"}


def test_typed_lists_and_selectors(api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_node({"metadata": {"name": "node-a", "labels": {"zone": "bos", "edge": "true"}}})
    core.create_node({"metadata": {"name": "node-b", "labels": {"zone": "nyc"}}})
    nodes = core.list_node()  # the typed client needs kind/apiVersion to deserialize a V1NodeList
    assert {n.metadata.name for n in nodes.items} >= {"node-a", "node-b"}
    raw = api.call_api("/api/v1/nodes", "GET", response_type="object", _return_http_data_only=True,
                       auth_settings=["BearerToken"])
    assert raw["kind"] == "NodeList" and raw["apiVersion"] == "v1"

    def names(**kw):
        return sorted(n.metadata.name for n in core.list_node(**kw).items)

    assert names(label_selector="zone=bos") == ["node-a"]
    assert names(label_selector="zone in (bos, nyc),!edge") == ["node-b"]
    assert names(label_selector="zone notin (bos),zone") == ["node-b"]
    assert names(label_selector="edge,zone!=nyc") == ["node-a"]
    assert names(field_selector="metadata.name=node-b") == ["node-b"]

    apps.create_namespaced_deployment("sel", deployment("sel"))
    assert apps.list_deployment_for_all_namespaces(field_selector="metadata.namespace=sel").items[0].kind \
        == "Deployment"
    assert apps.list_namespaced_deployment("sel", label_selector="tier=back").items == []


def test_kubernetes_core_modules(server, tmp_path):
    """check mode (server-side dry run) stores nothing, apply is idempotent, k8s_info lists Nodes without a name,
    and a Namespace is created, found and deleted (with wait)."""
    playbook = tmp_path / "k8s.yml"
    playbook.write_text(f"""
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/kubernetes.core.k8s: {json.dumps(kube.admin_auth(server))}
  vars:
    manifests:
      - {{apiVersion: v1, kind: Namespace, metadata: {{name: core-ns, labels: {{edgeml.io/deployment: t}}}}}}
      - {json.dumps(deployment("core-ns"))}
  tasks:
    - name: Check mode reports the creation
      kubernetes.core.k8s: {{definition: "{{{{ manifests }}}}", apply: true}}
      check_mode: true
      register: preview
    - name: Nothing was stored
      kubernetes.core.k8s_info: {{kind: Namespace, name: core-ns}}
      register: absent
    - ansible.builtin.assert:
        that:
          - preview is changed
          - absent.resources | length == 0
    - name: Create
      kubernetes.core.k8s: {{definition: "{{{{ manifests }}}}", apply: true}}
      register: created
    - name: Re-apply changes nothing
      kubernetes.core.k8s: {{definition: "{{{{ manifests }}}}", apply: true}}
      register: again
    - name: Check mode on an unchanged object reports no change
      kubernetes.core.k8s: {{definition: "{{{{ manifests }}}}", apply: true}}
      check_mode: true
      register: again_check
    - name: List the Nodes (no name)
      kubernetes.core.k8s_info: {{kind: Node}}
      register: nodes
    - name: Find the Namespace by label
      kubernetes.core.k8s_info: {{kind: Namespace, label_selectors: ["edgeml.io/deployment=t"]}}
      register: found
    - ansible.builtin.assert:
        that:
          - created is changed and again is not changed and again_check is not changed
          - nodes.resources is defined
          - found.resources | map(attribute='metadata.name') | list == ['core-ns']
          - created.result.results[1].result.metadata.generation == 1
    - name: Delete the Namespace and wait until it is gone
      kubernetes.core.k8s: {{kind: Namespace, name: core-ns, state: absent, wait: true, wait_timeout: 20}}
      register: deleted
    - name: Gone, with its Deployment
      kubernetes.core.k8s_info: {{kind: Deployment, namespace: core-ns}}
      register: left
    - ansible.builtin.assert:
        that:
          - deleted is changed
          - left.resources | length == 0
""")
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    start = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert time.monotonic() - start < 120


@pytest.mark.lab
def test_the_running_lab_serves_this_api(lab):
    """The lab's kube service runs this code (not a stale process): Namespaces, typed lists, dry run."""
    core = client.CoreV1Api(client.ApiClient(kube.admin_server(config.KUBE_URL).configuration()))
    preview = core.create_namespace({"metadata": {"name": "lab-kube-dry-run"}}, dry_run="All")
    assert preview.metadata.generation == 1 and preview.status.phase == "Active"
    with pytest.raises(ApiException) as e:
        core.read_namespace("lab-kube-dry-run")
    assert e.value.status == 404

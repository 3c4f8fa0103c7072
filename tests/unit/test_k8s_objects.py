"""edgeml.wavelength.k8s_objects: several kinds read in one module run, against a private lab Kubernetes API (TLS with
the lab CA, bearer tokens checked), with the connection forms the roles pass: host/api_key/ca_cert and kubeconfigs
(token, exec credential plugin, inline CA data)."""

import base64
import contextlib
import io
import json
import os
import sys
import urllib.request

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.edgeml.wavelength.plugins.modules import k8s_objects
from edgelab import kube as labkube

READY = [{"type": "Ready", "status": "True"}]


def run(**args):
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        k8s_objects.main()
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def server():
    with labkube.subprocess_server() as server:
        def post(path, body):
            request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            with server.urlopen(request):
                pass

        for i, zone in enumerate(["bos", "bos", "mia"]):
            post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": f"node-{i}", "labels": {"edgeml.io/zone": zone, "edgeml.io/deployment": "edgeml"}},
                "status": {"conditions": READY}})
        post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "system"}})
        post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge"}})
        for name in ("a", "b"):
            post("/api/v1/namespaces/edge/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": name, "namespace": "edge", "labels": {"edgeml.io/deployment": "edgeml"}},
                "spec": {"containers": [{"name": "m", "image": "x"}]}})
        post("/apis/networking.k8s.io/v1/namespaces/edge/networkpolicies", {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "allow", "namespace": "edge", "labels": {"edgeml.io/deployment": "edgeml"}},
            "spec": {"podSelector": {}}})
        yield server


QUERIES = [
    {"kind": "Node", "label_selectors": ["edgeml.io/deployment=edgeml", "edgeml.io/zone"]},
    {"kind": "Pod", "namespace": "edge", "label_selectors": ["edgeml.io/deployment=edgeml"]},
    {"kind": "NetworkPolicy", "api_version": "networking.k8s.io/v1", "namespace": "edge"},
    {"kind": "Deployment", "api_version": "apps/v1", "namespace": "edge"},
    {"kind": "Node", "name": "system"},
    {"kind": "Node", "name": "gone"},
]


def names(result):
    return [sorted(o["metadata"]["name"] for o in r["resources"]) for r in result["results"]]


def test_several_kinds_in_one_call(server):
    r = run(connection=server.auth(), queries=QUERIES)
    assert r["changed"] is False
    assert names(r) == [["node-0", "node-1", "node-2"], ["a", "b"], ["allow"], [], ["system"], []]
    assert [r["kind"] for r in r["results"]] == [q["kind"] for q in QUERIES]
    # Typed like kubernetes.core.k8s_info's results (list items carry no kind on the wire).
    pod = r["results"][1]["resources"][0]
    assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1" and pod["metadata"]["namespace"] == "edge"
    assert r["results"][2]["resources"][0]["apiVersion"] == "networking.k8s.io/v1"
    selected = run(connection=server.auth(), queries=[{"kind": "Node", "label_selectors": ["edgeml.io/zone=mia"]}])
    assert names(selected) == [["node-2"]]


def kubeconfig(tmp_path, server, user, inline_ca=False):
    cluster = {"server": server.url}
    if inline_ca:
        cluster["certificate-authority-data"] = base64.b64encode(server.ca_cert.read_bytes()).decode()
    else:
        cluster["certificate-authority"] = str(server.ca_cert)
    path = tmp_path / "config"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "edge",
        "clusters": [{"name": "edge", "cluster": cluster}],
        "contexts": [{"name": "edge", "context": {"cluster": "edge", "user": "u"}}],
        "users": [{"name": "u", "user": user}]}))
    return str(path)


def test_kubeconfig_with_a_token_and_inline_ca(server, tmp_path):
    before = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    path = kubeconfig(tmp_path, server, {"token": server.token}, inline_ca=True)
    r = run(connection={"kubeconfig": path}, queries=QUERIES[:1])
    assert names(r) == [["node-0", "node-1", "node-2"]]
    # The CA data went through a temporary file, which is gone.
    assert not {f for f in set(os.listdir(os.environ.get("TMPDIR", "/tmp"))) - before if f.startswith("edgeml-kube-")}


def test_kubeconfig_with_an_exec_plugin(server, tmp_path):
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import json, os\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1',"
                      " 'kind': 'ExecCredential', 'status': {'token': os.environ['LAB_TOKEN']}}))\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                     "args": [str(plugin)], "env": [{"name": "LAB_TOKEN", "value": server.token}]}}
    r = run(connection={"kubeconfig": kubeconfig(tmp_path, server, user)}, queries=QUERIES[1:2])
    assert names(r) == [["a", "b"]]
    user["exec"]["args"] = ["-c", "import sys; sys.exit('no credentials')"]
    r = run(connection={"kubeconfig": kubeconfig(tmp_path, server, user)}, queries=QUERIES[1:2])
    assert r["failed"] and "exec plugin" in r["msg"] and "no credentials" in r["msg"]


def test_errors_are_clear(server, tmp_path):
    r = run(connection=dict(server.auth(), api_key="not-a-token"), queries=QUERIES[:1])
    assert r["failed"] and "HTTP 401" in r["msg"] and "not-a-token" not in r["msg"]
    r = run(connection=dict(server.auth(), ca_cert=None), queries=QUERIES[:1])  # the system CAs: not the lab's
    assert r["failed"] and "CERTIFICATE_VERIFY_FAILED" in r["msg"]
    r = run(connection=server.auth(), queries=[{"kind": "Gadget"}])
    assert r["failed"] and "no kind Gadget in v1" in r["msg"]
    r = run(connection={}, queries=QUERIES[:1])
    assert r["failed"] and "host (with api_key) or kubeconfig" in r["msg"]
    r = run(connection={"kubeconfig": kubeconfig(tmp_path, server, {})}, queries=QUERIES[:1])
    assert r["failed"] and "has no token, token file, exec plugin or client certificate" in r["msg"]


def test_rollouts_pending_filter():
    from ansible_collections.edgeml.wavelength.plugins.filter.rollouts_pending import rollouts_pending

    rendered = [{"kind": "Service", "metadata": {"name": "s"}},
                {"kind": "Deployment", "metadata": {"name": "a"}, "spec": {"replicas": 2}},
                {"kind": "Deployment", "metadata": {"name": "b"}, "spec": {"replicas": 1}},
                {"kind": "Deployment", "metadata": {"name": "c"}, "spec": {"replicas": 1}}]
    done = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "observedGeneration": 3}
    found = [{"metadata": {"name": "a", "generation": 3}, "status": done},
             {"metadata": {"name": "b", "generation": 2}, "status": {
                 "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1, "unavailableReplicas": 1,
                 "observedGeneration": 2, "conditions": [{"message": "ReplicaSet b-2 is progressing"}]}}]
    assert rollouts_pending(found, rendered) == [
        "b (replicas 2, updated 1, available 1 of 1; ReplicaSet b-2 is progressing)", "c (not found)"]
    # The controller has not seen the new spec yet: not rolled out, whatever the counts say.
    found[0]["metadata"]["generation"] = 4
    assert rollouts_pending(found, rendered[:2]) == ["a (replicas 2, updated 2, available 2 of 2; no conditions)"]
    found[0]["metadata"]["generation"] = 3
    assert rollouts_pending(found, rendered[:2]) == []

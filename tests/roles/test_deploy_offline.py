"""model_deploy against a private lab Kubernetes API (edgelab.kube on a free port) with a stand-in rollout
controller; no running lab needed.

Proves the role's own logic: check mode reports and stores nothing, converge creates the exact manifests and
really waits for the rollout, a re-run changes nothing, a change rolls out again, invalid manifests fail before
anything is applied, and a rollout that never completes fails with the Deployment status.

The server is the lab's own (edgelab.kube: Namespaces, server-side dry run, typed lists, generation), started
privately so that the stand-in controller below does not fight the lab's node agent.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from edgelab import kube as labkube

PLAYBOOK = Path(__file__).parent / "playbooks" / "deploy_model.yml"
SHA = "a" * 64
IMAGE = "127.0.0.1:5002/edgeml/sentiment@sha256:" + "b" * 64
ZONES = ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1"]
ROLLOUT_DELAY = 2.0  # seconds the stand-in controller takes to report a new template as available


# ---------------------------------------------------------------------------------------------- the API server
def http(method: str, url: str, body: dict | None = None):
    headers = {"Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    try:
        with labkube.admin_urlopen(urllib.request.Request(url, data, headers, method=method), timeout=5) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


class Controller(threading.Thread):
    """Stand-in for the Deployment controller: ROLLOUT_DELAY after a template appears, reports it rolled out.
    Deployments in `stuck` ((namespace, name) pairs) never become available."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.seen, self.stuck, self.stop = url, {}, set(), threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            for d in (http("GET", f"{self.url}/apis/apps/v1/deployments") or {}).get("items", []):
                key = (d["metadata"]["namespace"], d["metadata"]["name"])
                template = json.dumps(d["spec"]["template"], sort_keys=True)
                first_seen = self.seen.setdefault((key, template), time.monotonic())
                done = time.monotonic() - first_seen >= ROLLOUT_DELAY and key not in self.stuck
                want = d["spec"]["replicas"]
                status = {"observedGeneration": d["metadata"]["generation"],  # seen at once, rolled out later
                          "replicas": want, "updatedReplicas": want if done else 0,
                          "availableReplicas": want if done else 0, "readyReplicas": want if done else 0,
                          "unavailableReplicas": 0 if done else want}
                if d.get("status") != status:
                    http("PATCH", f"{self.url}/apis/apps/v1/namespaces/{key[0]}/deployments/{key[1]}/status",
                         {"status": status})


@pytest.fixture(scope="module")
def lab_aws():
    """The lab AWS endpoint, in-process: the private Kubernetes API checks EKS tokens against its clusters."""
    from edgelab.aws.testing import lab_aws_server

    with lab_aws_server() as server:
        yield server


@pytest.fixture(scope="module")
def kube(lab_aws):
    from edgelab.aws.state import LAB

    with labkube.subprocess_server(aws_url=lab_aws.url) as server:
        url = server.url
        LAB.kube_url = url  # EKS clusters created from now on have this API as endpoint
        controller = Controller(url)
        controller.start()
        yield url, controller
        controller.stop.set()


# ---------------------------------------------------------------------------------------------- running the role
def inputs(url: str, namespace: str, **overrides) -> dict:
    data = {
        "edge_name": "edgeml",
        "edge_models": [{"name": "sentiment", "model_id": "edgeml-tc-minilm-l6-sentiment-int8", "model_version": "*",
                         "node_port": 30007, "replicas_per_zone": 1}],
        "edge_zones": ZONES,
        "edge_kubernetes_version": "1.33",
        "edge_nodeport_allowed_cidrs": ["127.0.0.0/8", "198.51.100.0/24"],
        "model_artifacts_exports": {"sentiment": {
            "image_uri": "127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0", "args": ["serve"],
            "environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": 1},
            "port": 8080, "readiness_path": "/ping", "content_types": ["application/x-text"],
            "accept_types": ["application/json;verbose"], "artifact_s3_uri": "s3://bucket/sentiment/model.tar.gz",
            "artifact_sha256": SHA, "model_id": "edgeml-tc-minilm-l6-sentiment-int8", "model_version": "1.0.0"}},
        "image_packaging_images": {"sentiment": IMAGE},
        "model_deploy_k8s_auth": labkube.admin_auth(url),
        "model_deploy_namespace": namespace,
        "model_deploy_rollout_poll": 0.5,
        "model_deploy_rollout_timeout": 30,
        # No EC2 instances behind this API's Nodes: the stable addresses are proven by
        # tests/unit/test_carrier_address.py, tests/roles/test_deploy_lab.py and the e2e tests, on real lab nodes.
        "model_deploy_stable_addresses": False,
    }
    data.update(overrides)
    return data


def run_role(tmp_path: Path, variables: dict, *flags: str,
             playbook: Path = PLAYBOOK) -> tuple[subprocess.CompletedProcess, int, float]:
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), str(playbook), "-e", f"@{extra}", *flags],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - start
    recap = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", proc.stdout)
    return proc, int(recap.group(1)) if recap else -1, elapsed


@pytest.fixture(scope="module")
def aws(lab_aws, kube):
    """The lab AWS endpoint (in-process) whose EKS clusters have the private Kubernetes API as endpoint."""
    return lab_aws.url


def objects(url: str, namespace: str) -> dict:
    found = {}
    for path in ("/apis/apps/v1/deployments", "/api/v1/services", "/apis/networking.k8s.io/v1/networkpolicies"):
        for item in (http("GET", url + path) or {}).get("items", []):
            if item["metadata"]["namespace"] == namespace:
                found[f"{item['kind']}/{item['metadata']['name']}"] = item
    if http("GET", f"{url}/api/v1/namespaces/{namespace}"):
        found[f"Namespace/{namespace}"] = True
    return found


# ---------------------------------------------------------------------------------------------- tests
def test_check_converge_idempotence_update(kube, tmp_path):
    url, _ = kube
    ns = "edgeml-cycle"
    variables = inputs(url, ns)

    proc, changed, _ = run_role(tmp_path, variables, "--check")
    assert proc.returncode == 0, proc.stdout
    assert changed == 1, proc.stdout  # the apply task reports the changes...
    assert objects(url, ns) == {}  # ...and stores nothing
    assert re.search(r"Wait until each Deployment is rolled out\] \**\n(.*\n)?skipping:", proc.stdout), proc.stdout

    proc, changed, elapsed = run_role(tmp_path, variables)
    assert proc.returncode == 0, proc.stdout
    assert changed == 1
    assert elapsed >= ROLLOUT_DELAY  # the wait really waited for the controller
    found = objects(url, ns)
    names = [f"Deployment/sentiment-{z}" for z in ZONES]
    assert sorted(found) == sorted([f"Namespace/{ns}", "NetworkPolicy/sentiment-ingress", "Service/sentiment", *names])
    for zone, name in zip(ZONES, names, strict=True):
        d = found[name]
        assert d["status"]["availableReplicas"] == 1
        spec = d["spec"]["template"]["spec"]
        [c] = spec["containers"]
        assert c["image"] == IMAGE and c["args"] == ["serve"]
        assert {e["name"]: e["value"] for e in c["env"]} == {
            "SAGEMAKER_BIND_TO_PORT": "8080", "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
            "SAGEMAKER_PROGRAM": "inference.py"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/ping", "port": 8080}
        assert c["livenessProbe"]["httpGet"] == {"path": "/ping", "port": 8080}
        assert c["startupProbe"]["httpGet"] == {"path": "/ping", "port": 8080}
        assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "privileged": False, "capabilities": {"drop": ["ALL"]}}
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert c["resources"]["limits"] and c["resources"]["requests"]
        assert {"name": "model", "mountPath": "/opt/ml/model", "readOnly": True} in c["volumeMounts"]
        model_volume = next(v for v in spec["volumes"] if v["name"] == "model")
        assert model_volume["hostPath"] == {"path": f"/var/lib/edgeml/models/sentiment/{SHA}", "type": "Directory"}
        assert spec["nodeSelector"] == {"edgeml.io/zone": zone, "topology.kubernetes.io/zone": zone}
        assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        assert d["spec"]["selector"]["matchLabels"]["edgeml.io/zone"] == zone
    svc = found["Service/sentiment"]["spec"]
    assert svc["type"] == "NodePort" and svc["externalTrafficPolicy"] == "Local"
    assert svc["ports"][0]["nodePort"] == 30007 and svc["ports"][0]["port"] == 8080
    netpol = found["NetworkPolicy/sentiment-ingress"]["spec"]
    allowed = [{"ipBlock": {"cidr": "127.0.0.0/8"}}, {"ipBlock": {"cidr": "198.51.100.0/24"}}]
    probes = [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "edgeml",
                                               "app.kubernetes.io/component": "probe"}}}]
    assert netpol["ingress"] == [{"from": allowed, "ports": [{"protocol": "TCP", "port": 8080}]},
                                 {"from": probes, "ports": [{"protocol": "TCP", "port": 8080}]}]

    proc, changed, _ = run_role(tmp_path, variables)
    assert proc.returncode == 0 and changed == 0, proc.stdout
    proc, changed, _ = run_role(tmp_path, variables, "--check")
    assert proc.returncode == 0 and changed == 0, proc.stdout

    # A new artifact version: a new hostPath, rolled out again (and waited for).
    variables["model_artifacts_exports"]["sentiment"]["artifact_sha256"] = "c" * 64
    proc, changed, elapsed = run_role(tmp_path, variables)
    assert proc.returncode == 0 and changed == 1, proc.stdout
    assert elapsed >= ROLLOUT_DELAY
    spec = objects(url, ns)[names[0]]["spec"]["template"]["spec"]
    assert spec["volumes"][0]["hostPath"]["path"] == "/var/lib/edgeml/models/sentiment/" + "c" * 64


def test_invalid_manifest_fails_before_apply(kube, tmp_path):
    url, _ = kube
    ns = "edgeml-invalid"
    variables = inputs(url, ns, model_deploy_resources={"requests": {"cpu": "1"}, "limitz": {"cpu": "2"}})
    proc, _, _ = run_role(tmp_path, variables)
    assert proc.returncode != 0
    where = "spec.template.spec.containers.0.resources"
    assert f"Deployment/{ns}/sentiment-us-east-1-wl1-bos-wlz-1: {where}" in proc.stdout
    assert "limitz" in proc.stdout
    assert objects(url, ns) == {}


def test_missing_image_is_a_clear_error(kube, aws, tmp_path):
    """No image handed over and none in the deployment record (the bucket does not exist): the error names both."""
    url, _ = kube
    variables = inputs(url, "edgeml-noimage", image_packaging_images={}, edge_aws_endpoint_url=aws,
                       edge_artifact_bucket="no-such-bucket-edgeml",
                       edge_aws_credentials={"access_key": "testing", "secret_key": "testing"})
    proc, _, _ = run_role(tmp_path, variables)
    assert proc.returncode != 0
    assert "Model sentiment" in proc.stdout and "image_packaging_images['sentiment']" in proc.stdout
    assert "s3://no-such-bucket-edgeml/edgeml/deployment.json" in proc.stdout
    assert objects(url, "edgeml-noimage") == {}


def test_stuck_rollout_fails_with_the_status(kube, tmp_path):
    url, controller = kube
    ns = "edgeml-stuck"
    controller.stuck.add((ns, "sentiment-us-east-1-wl1-nyc-wlz-1"))
    variables = inputs(url, ns, model_deploy_rollout_timeout=3)
    proc, _, _ = run_role(tmp_path, variables)
    assert proc.returncode != 0
    assert "Rollout not complete after about 3 s" in proc.stdout
    assert "sentiment-us-east-1-wl1-nyc-wlz-1 (replicas 1, updated 0, available 0 of 1" in proc.stdout



def test_prune_and_teardown(kube, aws, tmp_path):
    import boto3

    url, _ = kube
    ns, name = "edgeml-prune", "prunetest"
    two = inputs(url, ns, edge_name=name)  # two models in two zones
    two["edge_models"].append({**two["edge_models"][0], "name": "other", "node_port": 30008})
    two["model_artifacts_exports"]["other"] = two["model_artifacts_exports"]["sentiment"]
    two["image_packaging_images"]["other"] = IMAGE
    proc, changed, _ = run_role(tmp_path, two)
    assert proc.returncode == 0 and changed == 1, proc.stdout
    assert len(objects(url, ns)) == 1 + 2 * 2 + 2 * 2  # Namespace, 2 Services + 2 NetworkPolicies, 4 Deployments
    # Another deployment's object (same kinds, other edge_name): neither pruning nor teardown may touch it.
    neighbour = {"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "sentiment-us-east-1-wl1-nyc-wlz-1", "namespace": "edgeml-neighbour",
                              "labels": {"edgeml.io/deployment": "neighbour",
                                         "app.kubernetes.io/managed-by": "edgeml.wavelength"}},
                 "spec": {"replicas": 1, "template": {"spec": {"containers": []}}}}
    http("POST", f"{url}/apis/apps/v1/namespaces/edgeml-neighbour/deployments", neighbour)

    # One model in one zone: the other zone's Deployments and the other model's objects are pruned.
    one = inputs(url, ns, edge_name=name, edge_zones=ZONES[:1])
    proc, changed, _ = run_role(tmp_path, one, "--check")
    assert proc.returncode == 0 and changed == 1, proc.stdout  # the prune task reports...
    assert len(objects(url, ns)) == 9  # ...and deletes nothing
    proc, changed, _ = run_role(tmp_path, one)
    assert proc.returncode == 0 and changed == 1, proc.stdout
    assert sorted(objects(url, ns)) == [f"Deployment/sentiment-{ZONES[0]}", f"Namespace/{ns}",
                                        "NetworkPolicy/sentiment-ingress", "Service/sentiment"]
    proc, changed, _ = run_role(tmp_path, one)
    assert proc.returncode == 0 and changed == 0, proc.stdout

    # Teardown: check mode with explicit access reports and deletes nothing.
    teardown = {"edge_name": name, "edge_aws_endpoint_url": aws, "model_deploy_k8s_auth": one["model_deploy_k8s_auth"]}
    absent = Path(__file__).parent / "playbooks" / "deploy_absent.yml"
    proc, changed, _ = run_role(tmp_path, teardown, "--check", playbook=absent)
    assert proc.returncode == 0 and changed == 2, proc.stdout  # objects, then the Namespace
    assert len(objects(url, ns)) == 4

    # Teardown through the EKS cluster (a fresh token from edgeml.wavelength.eks_kubeconfig), as teardown.yml does.
    eks = boto3.client("eks", region_name="us-east-1", endpoint_url=aws, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/x", resourcesVpcConfig={})
    deadline = time.monotonic() + 30
    while eks.describe_cluster(name=name)["cluster"]["status"] != "ACTIVE" and time.monotonic() < deadline:
        time.sleep(0.2)
    teardown["model_deploy_k8s_auth"] = {}
    proc, changed, _ = run_role(tmp_path, teardown, playbook=absent)
    assert proc.returncode == 0 and changed == 2, proc.stdout
    assert objects(url, ns) == {}
    assert http("GET", f"{url}/apis/apps/v1/namespaces/edgeml-neighbour/deployments/{neighbour['metadata']['name']}")
    assert "k8s-aws-v1." not in proc.stdout  # the EKS token is a credential (no_log)
    proc, changed, _ = run_role(tmp_path, teardown, playbook=absent)
    assert proc.returncode == 0 and changed == 0, proc.stdout

    # No cluster at all (already deleted): nothing to do, no error.
    proc, changed, _ = run_role(tmp_path, {**teardown, "model_deploy_cluster_name": "no-such-cluster"},
                                playbook=absent)
    assert proc.returncode == 0 and changed == 0, proc.stdout
    assert "Delete the Namespace" in proc.stdout and "skipping" in proc.stdout

"""endpoint_check's cluster mode: the probe Jobs (probe_jobs), their program (roles/endpoint_check/files/
cluster_probe.py, run here against a local model stand-in) and the judgement of what they left
(cluster_probe_results)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.cluster_probe_results import cluster_probe_results
from ansible_collections.edgeml.wavelength.plugins.filter.endpoint_report import endpoint_report
from ansible_collections.edgeml.wavelength.plugins.filter.endpoint_table import endpoint_table
from ansible_collections.edgeml.wavelength.plugins.filter.probe_jobs import probe_jobs
from test_endpoint_probe import server  # noqa: F401  (the local model stand-in fixture)

SCRIPT = Path(__file__).resolve().parents[2] / "roles/endpoint_check/files/cluster_probe.py"
BOS = "us-east-1-wl1-bos-wlz-1"
NODES = [{"zone": BOS, "instance_id": "i-0a", "node_name": "ip-10-0-32-4.ec2.internal"},
         {"zone": BOS, "instance_id": "i-0b", "node_name": "ip-10-0-32-5.ec2.internal"}]
STABLE = {"zone": BOS, "carrier_ip": "155.1.1.254", "instance_id": "i-0b", "node_name": "", "stable": True}
NODE = {"zone": BOS, "instance_id": "i-0a", "node_name": NODES[0]["node_name"], "carrier_ip": "155.1.1.1"}
MODEL = {"name": "sentiment", "node_port": 30007}
SAMPLES = [{"text": "great"}, {"text": "dull"}]
SETTINGS = {"samples": SAMPLES, "requests": 5, "warmup": 1, "timeout": 2, "deadline": 120, "ttl": 600,
            "run": "20261203090000"}
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"}}


def deployment(model="sentiment", zone=BOS, name="edgeml"):
    labels = {"edgeml.io/deployment": name, "app.kubernetes.io/name": model, "edgeml.io/zone": zone}
    return {"metadata": {"name": f"{model}-{zone}", "labels": labels},
            "spec": {"template": {"spec": {"securityContext": POD_SECURITY, "tolerations": [{"operator": "Exists"}],
                                           "containers": [{"name": "model", "image": "ecr/sentiment@sha256:ab"}]}}}}


def test_probe_jobs_pin_each_pair_to_its_node_with_the_models_image():
    jobs = probe_jobs([[STABLE, MODEL], [NODE, MODEL]], NODES, [deployment(), deployment(zone="other")], "print(1)",
                      "edgeml", "models", SETTINGS)
    assert [j["spec"]["template"]["spec"]["nodeName"] for j in jobs] == [NODES[1]["node_name"], NODES[0]["node_name"]]
    assert len({j["metadata"]["name"] for j in jobs}) == 2
    job = jobs[0]
    assert len(job["metadata"]["name"]) <= 63 and job["metadata"]["namespace"] == "models"
    assert job["metadata"]["labels"]["edgeml.io/probe-run"] == "20261203090000"
    assert "edgeml.io/deployment" not in job["metadata"]["labels"]  # never counted among the models' pods
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 120
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == POD_SECURITY and pod["tolerations"] == [{"operator": "Exists"}]
    [container] = pod["containers"]
    assert container["image"] == "ecr/sentiment@sha256:ab"
    assert container["command"] == ["python3", "-I", "-c", "print(1)"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "privileged": False, "capabilities": {"drop": ["ALL"]}}
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["NODE_IP"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["PROBE_PORT"] == "30007" and json.loads(env["PROBE_SAMPLES"]) == ["great", "dull"]
    assert (env["PROBE_REQUESTS"], env["PROBE_WARMUP"], env["PROBE_TIMEOUT"]) == ("5", "1", "2.0")
    # cluster DNS is checked on the model's own Service name, absolute (no search-list expansions)
    assert env["PROBE_DNS_NAME"] == f"{MODEL['name']}.models.svc.cluster.local."
    # a model's own samples win
    own = probe_jobs([[NODE, {**MODEL, "samples": [{"text": "x", "expected_label": "positive"}]}]], NODES,
                     [deployment()], "", "edgeml", "models", SETTINGS)
    assert json.loads({e["name"]: e.get("value") for e in own[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
                      ["PROBE_SAMPLES"]) == ["x"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: probe_jobs([[NODE, MODEL]], NODES, [], "", "edgeml", "models", SETTINGS),
     "no Deployment of model sentiment in zone us-east-1-wl1-bos-wlz-1"),
    (lambda: probe_jobs([[NODE, MODEL]], NODES, [deployment(name="other")], "", "edgeml", "models", SETTINGS),
     "no Deployment of model sentiment"),
    (lambda: probe_jobs([[{**STABLE, "instance_id": "i-gone"}, MODEL]], NODES, [deployment()], "", "edgeml", "m",
                        SETTINGS), "on instance i-gone, which is no Ready node of the zone"),
    (lambda: probe_jobs([NODE], NODES, [], "", "edgeml", "m", SETTINGS), "must be \\[target, model\\] pairs"),
    (lambda: probe_jobs([], NODES, [], "", "edgeml", "m", {"samples": []}), "settings need requests, warmup"),
])
def test_probe_jobs_errors_name_the_fix(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


def run_script(server, tmp_path, **env):  # noqa: F811
    message = tmp_path / "termination-log"
    base = {"NODE_IP": "127.0.0.1", "PROBE_PORT": str(server.server_address[1]),
            "PROBE_SAMPLES": json.dumps(["great", "dull"]), "PROBE_REQUESTS": "5", "PROBE_WARMUP": "1",
            "PROBE_TIMEOUT": "2", "PROBE_MESSAGE": str(message)}
    proc = subprocess.run([sys.executable, "-I", "-c", SCRIPT.read_text()], env={**os.environ, **base, **env},
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, json.loads(message.read_text())


def pod_with(job, message, code=0):
    return {"metadata": {"name": job["metadata"]["name"] + "-x", "labels": {"job-name": job["metadata"]["name"]}},
            "status": {"phase": "Succeeded" if code == 0 else "Failed",
                       "containerStatuses": [{"state": {"terminated": {"exitCode": code, "message": message}}}]}}


def test_script_measures_and_the_filter_judges_like_endpoint_probe(server, tmp_path):  # noqa: F811
    rc, measured = run_script(server, tmp_path, PROBE_DNS_NAME="localhost")  # /etc/hosts: no query leaves the machine
    assert rc == 0 and measured["error"] == ""
    assert isinstance(measured["dns_ms"], float)
    assert measured["url"] == f"http://127.0.0.1:{server.server_address[1]}/invocations"
    assert len(measured["latencies_ms"]) == 5 and len(measured["replies"]) == 2
    assert len(server.seen) == 2 + 1 + 5  # samples, warm-up, timed
    assert all((ct, acc) == ("application/x-text", "application/json;verbose") for ct, acc, _ in server.seen)
    pairs = [[NODE, MODEL]]
    jobs = probe_jobs(pairs, NODES, [deployment()], "", "edgeml", "models", SETTINGS)
    [result] = cluster_probe_results(pairs, jobs, [pod_with(jobs[0], json.dumps(measured))], SAMPLES)
    assert result["predictions_ok"] is True and result["error"] == ""
    assert [p["predicted_label"] for p in result["predictions"]] == ["positive", "negative"]
    assert result["latency_ms"]["count"] == 5 and result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    report = endpoint_report([result], "cluster (probe Job)")
    assert report["endpoints"][0]["checks_passed"] is True
    assert report["endpoints"][0]["probed_from"] == "cluster (probe Job)"
    # expected labels are checked as endpoint_probe checks them
    [wrong] = cluster_probe_results(pairs, jobs, [pod_with(jobs[0], json.dumps(measured))],
                                    [{"text": "great", "expected_label": "negative"}, {"text": "dull"}])
    assert wrong["predictions_ok"] is False and wrong["predictions"][0]["problem"] == "expected 'negative'"


def test_script_reports_a_failing_model_and_exits_1(server, tmp_path):  # noqa: F811
    server.status = 503
    rc, measured = run_script(server, tmp_path)
    assert rc == 1 and "HTTP 503" in measured["error"] and measured["latencies_ms"] == []
    rc, measured = run_script(server, tmp_path, PROBE_PORT="1")  # nothing listens
    assert rc == 1 and "ConnectionRefusedError" in measured["error"]


@pytest.mark.parametrize(("pods", "why"), [
    ([], "the probe Job started no pod"),
    ([{"metadata": {"labels": {"job-name": "J"}}, "status": {"phase": "Pending", "containerStatuses": [
        {"state": {"waiting": {"reason": "CreateContainerConfigError", "message": "image will run as root"}}}]}}],
     "probe pod waiting: CreateContainerConfigError image will run as root"),
    ([{"metadata": {"labels": {"job-name": "J"}}, "status": {"phase": "Running", "containerStatuses": [
        {"state": {"running": {}}}]}}], "probe pod Running, not finished"),
    ([{"metadata": {"labels": {"job-name": "J"}}, "status": {"phase": "Failed", "containerStatuses": [
        {"state": {"terminated": {"exitCode": 137, "reason": "Error", "message": ""}}}]}}],
     "probe exited 137 (Error) without a result"),
    ([{"metadata": {"labels": {"batch.kubernetes.io/job-name": "J"}}, "status": {"containerStatuses": [
        {"state": {"terminated": {"exitCode": 1, "message": json.dumps(
            {"replies": [], "latencies_ms": [], "error": "TimeoutError: timed out"})}}}]}}],
     "TimeoutError: timed out"),
    ([{"metadata": {"labels": {"job-name": "J"}}, "status": {"containerStatuses": [
        {"state": {"terminated": {"exitCode": 0, "message": json.dumps(
            {"replies": [{}], "latencies_ms": [1.0], "error": ""})}}}]}}],
     "the probe answered 1 of 2 samples"),
])
def test_unfinished_or_failed_probes_fail_their_checks_with_the_reason(pods, why):
    [result] = cluster_probe_results([[NODE, MODEL]], [{"metadata": {"name": "J"}}], pods, SAMPLES)
    assert result["predictions_ok"] is False and result["error"] == why
    assert all(p["problem"] == why and p["ok"] is False for p in result["predictions"])
    assert result["latency_ms"]["count"] == 0
    table = endpoint_table(endpoint_report([result], "cluster"))
    assert table[1].split()[5:7] == ["-", "-"] and why in table[1]


def test_cluster_probe_results_input_errors():
    with pytest.raises(AnsibleFilterError, match="same length"):
        cluster_probe_results([[NODE, MODEL]], [], [], SAMPLES)
    with pytest.raises(AnsibleFilterError, match="pods must be a list of dicts"):
        cluster_probe_results([], [], "pods", SAMPLES)

"""model_deploy + endpoint_check on the full lab: a Wavelength node (ASG instance with a carrier IP, run by the node
agent), the lab Kubernetes API and the lab "ECR" registry.

The pod image is a stand-in model server that honours the SageMaker hosting contract (GET /ping, POST /invocations
with application/x-text -> application/json;verbose) and reads its labels from the read-only model directory, so
the test proves the whole path: manifests -> pod on the zone's node with the versioned hostPath -> the zone's stable
Elastic carrier IP on that node -> NodePort on it -> discovery through EC2 (node and tag) -> requests from the lab's
phone -> checks and latency -> report -> teardown releases the address. It does not need the
trained model (that is the e2e test's job).
"""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))

import fixtures_cluster as lab_fixtures
from fixtures_cluster import config, mime_user_data, wait_for

# The lab fixtures (lab up, AWS clients, Kubernetes helper, Wavelength subnet, node groups), used by name.
lab, aws, kube = lab_fixtures.lab, lab_fixtures.aws, lab_fixtures.kube
wavelength_subnet, node_group = lab_fixtures.wavelength_subnet, lab_fixtures.node_group
node_profile = lab_fixtures.node_profile  # node_group launches its nodes with it

pytestmark = pytest.mark.lab

ZONE = "us-east-1-wl1-bos-wlz-1"
NODE_PORT = 30123
SHA = uuid.uuid4().hex * 2  # a fresh "artifact version" per run
PLAYBOOKS = Path(__file__).parent / "playbooks"
# Other lab tests run edge nodes in the same zone at the same time: this test's node carries its own zone label
# (model_deploy_zone_label_key), so that its pods land only there, where the model directory was prepared.
TEST_ZONE_LABEL = "labtest.edgeml.io/zone"
DNS_ZONE = "edge.lab"  # the lab's public hosted zone; inventories/lab sets edge_dns_zone to it


def dns_records(aws, owner: str) -> dict:
    """{(name, type): [values]} of the records in the lab's hosted zone that carry the deployment's TXT mark."""
    route53 = aws("route53")
    [zone] = [z["Id"] for z in route53.list_hosted_zones_by_name(DNSName=DNS_ZONE)["HostedZones"]
              if z["Name"] == f"{DNS_ZONE}."]
    found = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone).build_full_result()
    sets = found["ResourceRecordSets"]
    names = {s["Name"] for s in sets if s["Type"] == "TXT"
             and {"Value": f'"edgeml:deployment={owner}"'} in s["ResourceRecords"]}
    return {(s["Name"], s["Type"]): [r["Value"] for r in s["ResourceRecords"]] for s in sets if s["Name"] in names}

STUB_SERVER = r'''
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LABELS = json.load(open("/opt/ml/model/labels.json"))  # fails (pod never ready) without the model mount


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(200 if self.path == "/ping" else 404, b"{}")

    def do_POST(self):
        text = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if self.path != "/invocations" or self.headers.get("Content-Type") != "application/x-text":
            return self.reply(415, b"{}")
        index = 0 if any(w in text.lower() for w in ("dull", "boring", "mess")) else 1
        body = {"probabilities": [0.9, 0.1] if index == 0 else [0.1, 0.9], "labels": LABELS,
                "predicted_label": LABELS[index]}
        self.reply(200, json.dumps(body).encode())

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))), Handler)
server.daemon_threads = True
server.serve_forever()
'''


@pytest.fixture(scope="module")
def stub_image(lab, tmp_path_factory):
    """The stand-in model server, built FROM the lab node image and pushed to the lab ECR registry by digest."""
    from edgelab import images

    context = tmp_path_factory.mktemp("stub-image")
    (context / "server.py").write_text(STUB_SERVER)
    (context / "Dockerfile").write_text('FROM edgelab/node:latest\nCOPY server.py /srv/server.py\n'
                                        'ENTRYPOINT ["python3", "/srv/server.py"]\nCMD ["serve"]\n')
    images.build_from_dockerfile("edgelab/deploytest-model:latest", context)
    return images.push_by_digest("edgelab/deploytest-model:latest", f"{config.ECR_REGISTRY}/edgeml-test/stub-model")


def nodeconfig(zone: str) -> str:
    return f"""apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: lab
    apiServerEndpoint: {config.KUBE_URL}
    certificateAuthority: Y2E=
    cidr: 10.100.0.0/16
  kubelet:
    flags:
      - --node-labels=edgeml.io/zone={zone},{TEST_ZONE_LABEL}={zone}
      - --register-with-taints=edgeml.io/edge=true:NoSchedule
"""


def run_playbook(tmp_path: Path, name: str, variables: dict, *flags: str):
    extra = tmp_path / f"{name}-vars.json"
    extra.write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    start = time.monotonic()
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), str(PLAYBOOKS / f"{name}.yml"),
                           "-e", f"@{extra}", *flags], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    recap = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", proc.stdout)
    return proc, int(recap.group(1)) if recap else -1, time.monotonic() - start


def test_deploy_and_check_endpoints(lab, aws, kube, node_group, stub_image, tmp_path):
    model = f"stub-{uuid.uuid4().hex[:6]}"
    namespace = "edgeml-labtest"
    # Node bootstrap as the edge nodegroup does it: the artifact unpacked under its versioned directory.
    prepare = (f"mkdir -p /var/lib/edgeml/models/{model}/{SHA}\n"
               f"echo '[\"negative\", \"positive\"]' > /var/lib/edgeml/models/{model}/{SHA}/labels.json\n")
    _, [instance_id] = node_group(mime_user_data(prepare, nodeconfig=nodeconfig(ZONE)))
    node = wait_for(lambda: kube.node(instance_id), 120, what="node registration")
    assert node["metadata"]["labels"]["edgeml.io/zone"] == ZONE

    # the lab-only admin credential (https + lab CA); its long random token is not masked inside object names
    k8s_auth = lab_fixtures.labkube.admin_auth(config.KUBE_URL)
    common = {
        "edge_name": "edgeml-labtest",
        "edge_models": [{"name": model, "model_id": "stub", "model_version": "1.0.0", "node_port": NODE_PORT,
                         "replicas_per_zone": 1}],
        "edge_zones": [ZONE],
    }
    deploy_vars = {
        **common,
        "edge_kubernetes_version": "1.33",
        "edge_nodeport_allowed_cidrs": ["127.0.0.0/8"],
        "model_artifacts_exports": {model: {
            "image_uri": "unused", "args": ["serve"], "environment": {"SAGEMAKER_PROGRAM": "inference.py"},
            "port": 8080, "readiness_path": "/ping", "content_types": ["application/x-text"],
            "accept_types": ["application/json;verbose"], "artifact_s3_uri": "s3://unused/model.tar.gz",
            "artifact_sha256": SHA, "model_id": "stub", "model_version": "1.0.0"}},
        "image_packaging_images": {model: stub_image},
        "model_deploy_k8s_auth": k8s_auth,
        "model_deploy_namespace": namespace,
        "model_deploy_zone_label_key": TEST_ZONE_LABEL,
        "model_deploy_tolerations": [{"key": "edgeml.io/edge", "operator": "Equal", "value": "true",
                                      "effect": "NoSchedule"}],
        "model_deploy_rollout_poll": 1,
        "model_deploy_rollout_timeout": 180,
    }
    report = tmp_path / "artifacts" / "endpoints.json"
    # Only this test's node: other lab tests may run edge nodes in the same zone at the same time.
    selector = f"edgeml.io/zone,edgelab.lab/instance-id={instance_id}"
    check_vars = {**common, "endpoint_check_k8s_auth": k8s_auth, "endpoint_check_requests": 30,
                  "endpoint_check_namespace": namespace,  # where the deploy put the model's pods
                  "endpoint_check_node_label_selector": selector,
                  "endpoint_check_report_path": str(report), "edge_aws_endpoint_url": config.AWS_URL}
    deployment = f"/apis/apps/v1/namespaces/{namespace}/deployments/{model}-{ZONE}"
    try:
        proc, changed, elapsed = run_playbook(tmp_path, "deploy_model", deploy_vars)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert changed == 3  # the objects, the zone's stable address and its DNS name
        status = kube.get(deployment)["status"]
        assert status["availableReplicas"] == status["updatedReplicas"] == 1  # the wait waited for the agent
        print(f"cold deploy {elapsed:.1f} s")

        proc, changed, _ = run_playbook(tmp_path, "deploy_endpoints", check_vars)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert changed == 0
        written = json.loads(report.read_text())
        [row] = written["endpoints"]
        assert row["zone"] == ZONE and row["model"] == model and row["port"] == NODE_PORT
        assert row["instance_id"] == instance_id and row["carrier_ip"].startswith(config.CARRIER_IP_PREFIX)
        assert row["checks_passed"] is True and row["requests"] == 30
        assert 0 < row["p50_ms"] <= row["p99_ms"] < 1000
        # The zone's stable address is the node's carrier IP now (an Elastic IP replaces the auto-assigned one).
        [zone] = written["zones"]
        address = aws("ec2").describe_addresses(Filters=[{"Name": "tag:edgeml:deployment",
                                                          "Values": [common["edge_name"]]}])["Addresses"]
        assert [(a["CarrierIp"], a["InstanceId"]) for a in address] == [(zone["address"], instance_id)]
        assert zone["address"] == row["carrier_ip"] and zone["checks_passed"] is True
        # The zone's DNS name per model resolves to the zone's stable address, marked as the deployment's.
        name = f"{model}.{ZONE}.{DNS_ZONE}."
        assert dns_records(aws, common["edge_name"]) == {
            (name, "A"): [zone["address"]], (name, "TXT"): [f'"edgeml:deployment={common["edge_name"]}"']}
        assert zone["probed_from"] == "host lab-device (127.0.2.10)"
        assert re.search(rf"{ZONE}\s+stable\s+{re.escape(zone['address'])}\s+{NODE_PORT}\s+{model}\s+[\d.]+\s+"
                         rf"[\d.]+\s+ok", proc.stdout), proc.stdout[-3000:]
        print(f"endpoint p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms")

        proc, changed, elapsed = run_playbook(tmp_path, "deploy_model", deploy_vars)
        assert proc.returncode == 0 and changed == 0, proc.stdout[-4000:]
        print(f"no-change deploy {elapsed:.1f} s")
        proc, changed, _ = run_playbook(tmp_path, "deploy_model", deploy_vars, "--check")
        assert proc.returncode == 0 and changed == 0, proc.stdout[-4000:]

        # A wrong expectation is reported in the table and fails the check.
        wrong = {**check_vars, "endpoint_check_samples": [{"text": "A dull mess.", "expected_label": "positive"}],
                 "endpoint_check_requests": 2}
        proc, _, _ = run_playbook(tmp_path, "deploy_endpoints", wrong)
        assert proc.returncode != 0
        assert f"Checks failed on: {ZONE}/{model}" in proc.stdout
        assert "FAILED (got negative: expected 'positive')" in proc.stdout

        # Teardown entry point (as teardown.yml calls it): objects and Namespace gone, the pod stopped.
        teardown = {"edge_name": common["edge_name"], "model_deploy_k8s_auth": k8s_auth}
        proc, changed, elapsed = run_playbook(tmp_path, "deploy_absent", teardown)
        assert proc.returncode == 0 and changed == 4, proc.stdout[-4000:]  # objects, Namespace, DNS name, address
        assert dns_records(aws, common["edge_name"]) == {}
        assert aws("ec2").describe_addresses(Filters=[{"Name": "tag:edgeml:deployment",
                                                       "Values": [common["edge_name"]]}])["Addresses"] == []
        assert kube.get(deployment) is None and kube.get(f"/api/v1/namespaces/{namespace}") is None
        wait_for(lambda: not [p for p in kube.get("/api/v1/pods")["items"]
                              if p["metadata"]["namespace"] == namespace], 60, what="pods removed")
        print(f"teardown {elapsed:.1f} s")
        proc, changed, _ = run_playbook(tmp_path, "deploy_absent", teardown)
        assert proc.returncode == 0 and changed == 0, proc.stdout[-4000:]
    finally:  # in case the test failed before its teardown
        kube.delete(deployment)
        kube.delete(f"/api/v1/namespaces/{namespace}/services/{model}")
        kube.delete(f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{model}-ingress")
        kube.delete(f"/api/v1/namespaces/{namespace}")
        for left in aws("ec2").describe_addresses(Filters=[{"Name": "tag:edgeml:deployment",
                                                            "Values": [common["edge_name"]]}])["Addresses"]:
            if left.get("AssociationId"):
                aws("ec2").disassociate_address(AssociationId=left["AssociationId"])
            aws("ec2").release_address(AllocationId=left["AllocationId"])

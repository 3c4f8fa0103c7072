"""endpoint_check without the full lab: the lab AWS endpoint in-process (Wavelength subnet, an instance holding the
zone's stable Elastic carrier IP 127.0.1.N, tagged as the deploy stage tags it), a private lab Kubernetes API
(edgelab.kube) with a Node whose providerID names that instance, and a SageMaker-style stand-in model server
listening on the carrier IP.

Proves the discovery chains (Node -> providerID -> EC2 instance -> carrier IP; the deployment tag -> the zone's
stable address), the probe from a source address, the contract check without labels, the table, the JSON report,
the failure on a wrong prediction and on a zone without a node or without a stable address.
"""

import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "lab"), str(Path(__file__).parent)]

from edgelab import kube as labkube
from test_deploy_offline import http

PLAYBOOK = Path(__file__).parent / "playbooks" / "deploy_endpoints.yml"
ZONE, OTHER_ZONE = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1"


class Model(BaseHTTPRequestHandler):
    """Hosting contract stand-in: negative when the text says 'dull', else positive."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        text = self.rfile.read(int(self.headers["Content-Length"])).decode()
        ok = self.path == "/invocations" and self.headers["Content-Type"] == "application/x-text"
        label = "negative" if "dull" in text else "positive"
        self.server.clients.add(self.client_address[0])
        body = json.dumps({"probabilities": [0.2, 0.8], "labels": ["negative", "positive"],
                           "predicted_label": label}).encode()
        self.send_response(200 if ok else 415)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def world():
    from edgelab.aws import LabAWS

    aws = LabAWS(host="127.0.0.1", port=0, delays={"optin": 0}).start()
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=aws.url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    ec2.modify_availability_zone_group(GroupName="us-east-1-wl1", OptInStatus="opted-in")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    deadline = time.monotonic() + 30
    while True:  # the zone group opt-in takes effect asynchronously
        try:
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
            break
        except ec2.exceptions.ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    ec2.create_launch_template(LaunchTemplateName="edge", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.xlarge", "UserData": base64.b64encode(b"#!/bin/bash").decode(),
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "AssociateCarrierIpAddress": True}]})
    [instance] = ec2.run_instances(LaunchTemplate={"LaunchTemplateName": "edge"}, MinCount=1, MaxCount=1)["Instances"]
    # The zone's stable address, as the deploy stage leaves it (edgeml.wavelength.carrier_address): it replaces the
    # instance's own carrier IP, as an Elastic IP replaces an auto-assigned public IP on AWS.
    address = ec2.allocate_address(Domain="vpc", NetworkBorderGroup=ZONE, TagSpecifications=[{
        "ResourceType": "elastic-ip", "Tags": [{"Key": "edgeml:deployment", "Value": "edgeml"},
                                               {"Key": "edgeml:zone", "Value": ZONE}]}])
    ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=instance["InstanceId"])
    carrier_ip = address["CarrierIp"]
    eni = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert eni["NetworkInterfaces"][0]["Association"]["CarrierIp"] == carrier_ip

    model = ThreadingHTTPServer((carrier_ip, 0), Model)  # a free port on the carrier IP plays the NodePort
    model.clients = set()
    threading.Thread(target=model.serve_forever, daemon=True).start()
    try:
        with labkube.subprocess_server() as kube_server:
            kube_url = kube_server.url
            ready = [{"type": "Ready", "status": "True"}]
            for name, zone, provider in (("edge-1", ZONE, f"aws:///{ZONE}/{instance['InstanceId']}"),
                                         ("regional", None, "aws:///us-east-1a/i-0aaaaaaaaaaaaaaaa")):
                labels = {"topology.kubernetes.io/zone": zone or "us-east-1a",
                          **({"edgeml.io/zone": zone} if zone else {})}
                http("POST", f"{kube_url}/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": name, "labels": labels}, "spec": {"providerID": provider},
                     "status": {"conditions": ready}})
            # The model's Ready pod on the edge node, as the deploy stage leaves it: a node's own address is probed
            # only for the models it runs (externalTrafficPolicy Local).
            http("POST", f"{kube_url}/api/v1/namespaces/edgeml/pods", {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "sentiment-1", "namespace": "edgeml",
                              "labels": {"app.kubernetes.io/name": "sentiment", "edgeml.io/deployment": "edgeml"}},
                 "spec": {"nodeName": "edge-1", "containers": [{"name": "model", "image": "unused"}]},
                 "status": {"conditions": ready}})
            yield {"aws_url": aws.url, "kube_url": kube_url, "carrier_ip": carrier_ip, "node_port": model.server_port,
                   "instance_id": instance["InstanceId"], "clients": model.clients}
    finally:
        model.shutdown()
        aws.stop()


def run(world, tmp_path, **overrides):
    variables = {
        "edge_name": "edgeml",
        "edge_zones": [ZONE],
        "edge_models": [{"name": "sentiment", "node_port": world["node_port"]}],
        "edge_aws_endpoint_url": world["aws_url"],
        "endpoint_check_k8s_auth": labkube.admin_auth(world["kube_url"]),
        "endpoint_check_requests": 20,
        "endpoint_check_retries": 1,
        "endpoint_check_report_path": str(tmp_path / "artifacts" / "endpoints.json"),
        **overrides,
    }
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), str(PLAYBOOK), "-e", f"@{extra}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    recap = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", proc.stdout)
    return proc, int(recap.group(1)) if recap else -1


def test_endpoints_table_and_report(world, tmp_path):
    world["clients"].clear()
    proc, changed = run(world, tmp_path)  # the lab inventory (ansible.cfg): probes delegated to its phone
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert changed == 0  # read-only, the report is an output
    assert world["clients"] == {"127.0.2.10"}  # every request left from the device address
    report = json.loads((tmp_path / "artifacts" / "endpoints.json").read_text())
    assert report["deployment"] == "edgeml" and report["requests_per_endpoint"] == 20
    [zone] = report["zones"]
    assert zone["zone"] == ZONE and zone["address"] == world["carrier_ip"] and zone["model"] == "sentiment"
    assert zone["port"] == world["node_port"] and zone["probed_from"] == "host lab-device (127.0.2.10)"
    assert zone["checks_passed"] is True and zone["requests"] == 20 and 0 < zone["p50_ms"] <= zone["p99_ms"]
    # The default samples carry no labels: only the answer's form is checked, no label names are assumed.
    assert [(c["expected_label"], c["ok"]) for c in zone["checks"]] == [(None, True), (None, True)]
    [row] = report["endpoints"]  # the regional node (no edgeml.io/zone label) is not an edge endpoint
    assert row["zone"] == ZONE and row["carrier_ip"] == world["carrier_ip"]
    assert row["instance_id"] == world["instance_id"] and row["node_name"] == "edge-1"
    assert row["port"] == world["node_port"] and row["model"] == "sentiment"
    assert row["checks_passed"] is True and row["requests"] == 20
    assert [p["predicted_label"] for p in row["checks"]] == ["positive", "negative"]
    assert 0 < row["p50_ms"] <= row["p99_ms"]
    header = re.search(r"zone\s+kind\s+address\s+port\s+model\s+p50 ms\s+p99 ms\s+checks", proc.stdout)
    line = re.search(rf"{ZONE}\s+stable\s+{re.escape(world['carrier_ip'])}\s+{world['node_port']}\s+sentiment\s+"
                     rf"{zone['p50_ms']:.1f}\s+{zone['p99_ms']:.1f}\s+ok", proc.stdout)
    assert header and line, proc.stdout[-3000:]


def test_wrong_prediction_fails_after_the_table(world, tmp_path):
    samples = [{"text": "A dull, lifeless and painfully boring mess.", "expected_label": "positive"}]
    models = [{"name": "sentiment", "node_port": world["node_port"], "samples": samples}]
    proc, _ = run(world, tmp_path, edge_models=models, endpoint_check_requests=2)
    assert proc.returncode != 0
    assert "FAILED (got negative: expected 'positive')" in proc.stdout
    assert f"Checks failed on: {ZONE}/sentiment" in proc.stdout
    report = json.loads((tmp_path / "artifacts" / "endpoints.json").read_text())
    assert report["zones"][0]["checks_passed"] is False and report["endpoints"][0]["checks_passed"] is False


def test_zone_without_stable_address_is_a_clear_error(world, tmp_path):
    proc, _ = run(world, tmp_path, edge_name="other", endpoint_check_cluster_name="edgeml")
    assert proc.returncode != 0
    assert (f"No stable carrier address (Elastic IP tagged edgeml:deployment=other) for {ZONE}: run the deploy stage"
            in proc.stdout), proc.stdout[-3000:]


def test_probe_host_must_be_in_the_inventory(world, tmp_path):
    proc, _ = run(world, tmp_path, endpoint_check_probe_from="host", endpoint_check_probe_host="phone-1")
    assert proc.returncode != 0
    assert "endpoint_check_probe_host must name an inventory host on the carrier network; got 'phone-1'" in proc.stdout


def test_zone_without_node_is_a_clear_error(world, tmp_path):
    proc, _ = run(world, tmp_path, edge_zones=[ZONE, OTHER_ZONE])
    assert proc.returncode != 0
    assert f"Zone {OTHER_ZONE}: no Ready node labelled edgeml.io/zone with a carrier IP" in proc.stdout


def test_unreachable_endpoint_fails_with_the_url(world, tmp_path):
    with socket.socket() as s:  # a port on the carrier IP where nothing listens
        s.bind((world["carrier_ip"], 0))
        port = s.getsockname()[1]
    proc, _ = run(world, tmp_path, edge_models=[{"name": "sentiment", "node_port": port}], endpoint_check_timeout=2)
    assert proc.returncode != 0
    assert f"POST http://{world['carrier_ip']}:{port}/invocations from 127.0.2.10 failed" in proc.stdout


def test_kubeconfig_file_names_are_not_masked(world, tmp_path):
    """A kubeconfig file (endpoint_check_kubeconfig) whose context shares the node's name: kubernetes.core masks the
    strings of a kubeconfig passed as a dict, never those of a file, so the report keeps the node name; the
    kubeconfig's token never shows in the output."""
    auth = labkube.admin_auth(world["kube_url"])
    ca_data = base64.b64encode(Path(auth["ca_cert"]).read_bytes()).decode()
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "edge-1", "preferences": {},
                  "clusters": [{"name": "edge-1", "cluster": {"server": auth["host"],
                                                              "certificate-authority-data": ca_data}}],
                  "users": [{"name": "eks", "user": {"token": auth["api_key"]}}],
                  "contexts": [{"name": "edge-1", "context": {"cluster": "edge-1", "user": "eks"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(kubeconfig))
    path.chmod(0o600)
    proc, changed = run(world, tmp_path, endpoint_check_k8s_auth={}, endpoint_check_kubeconfig=str(path))
    assert proc.returncode == 0 and changed == 0, proc.stdout[-4000:]
    [row] = json.loads((tmp_path / "artifacts" / "endpoints.json").read_text())["endpoints"]
    assert row["node_name"] == "edge-1" and row["instance_id"] == world["instance_id"]
    assert auth["api_key"] not in proc.stdout

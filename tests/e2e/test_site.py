"""site.yml end to end on the lab: bad inputs; interrupted run, node replacement and failed deploy on one deployment,
then teardown. (Three zones under throttling run in test_installed.py, on the installed collection.)"""

import json
import os
import signal
import subprocess
import sys
import time

import boto3
import pytest
from e2e_lib import REPO, lab_api, leftovers, playbook

sys.path.insert(0, str(REPO / "lab"))
from edgelab import device  # a phone on the lab's carrier network
from edgelab import kube as labkube

pytestmark = pytest.mark.e2e
BOS = "us-east-1-wl1-bos-wlz-1"
CONTRACT = {"Content-Type": "application/x-text", "Accept": "application/json;verbose"}
NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_PROFILE": None,
                  "AWS_SESSION_TOKEN": None,
                  "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
                  "AWS_EC2_METADATA_DISABLED": "true"}


# A valid model of the lab catalog, for the cases that change one thing about it.
MODEL = {"name": "sentiment", "model_id": "edgeml-tc-minilm-l6-sentiment-int8", "model_version": "*"}


def ec2():
    return boto3.client("ec2", region_name="us-east-1", endpoint_url="http://127.0.0.1:4566",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.mark.parametrize(("extra", "env", "message"), [
    ({"edge_models": [{"name": "sentiment", "model_id": "edgeml-tc-minilm-l6-sentimnt-int8"}]}, {},
     "edgeml-tc-minilm-l6-sentiment-int8"),  # unknown id: the error names the close match
    ({"edge_zones": ["us-east-1-wl1-xyz-wlz-1"]}, {}, "edge_zones"),
    ({"edge_zones": ["us-east-1-wl1-mia-wlz-1"], "edge_instance_type": "g4dn.2xlarge"}, {}, "edge_instance_type"),
    ({"edge_artifact_bucket": "Not_A_Bucket"}, {}, "edge_artifact_bucket"),
    ({"edge_aws_credentials": {}}, NO_CREDENTIALS, "Unable to locate credentials"),
    ({"endpoint_check_probe_host": "phone-9"}, {}, "endpoint_check_probe_host must name an inventory host"),
    ({"edge_models": [MODEL | {"node_port": 99999}]}, {},
     "edge_models[0] (name 'sentiment').node_port is 99999: set a NodePort in 30000-32767"),
    ({"edge_models": [MODEL | {"node_port": 30007}, MODEL | {"name": "second", "node_port": 30007}]}, {},
     "edge_models[1] (name 'second').node_port 30007 is also the node port of edge_models[0] (name 'sentiment')"),
    ({"edge_models": [MODEL | {"node_port": 30007}, MODEL | {"node_port": 30008}]}, {},
     "edge_models[1] (name 'sentiment').name is also the name of edge_models[0]"),
    ({"edge_models": [MODEL | {"name": "Sentiment_V2"}]}, {},
     "edge_models[0].name 'Sentiment_V2' is not a DNS-1123 label that starts with a letter"),
], ids=["unknown-model", "unknown-zone", "type-not-offered", "bad-bucket", "no-credentials", "unknown-probe-host",
        "node-port-out-of-range", "two-models-one-port", "duplicate-names", "bad-name"])
def test_bad_input_fails_before_anything_is_created(deployment, extra, env, message):
    base, before = deployment
    run = playbook("site.yml", base | extra, env=env)
    assert run.rc != 0, run
    assert message in run.out, run
    assert "changed=0" in run.out, run
    assert leftovers(before, lab_api("resources")) == []


def stable_address(name: str, zone: str) -> dict:
    """The zone's Elastic carrier IP tagged with the deployment (EC2 API of the lab)."""
    [address] = ec2().describe_addresses(Filters=[{"Name": "tag:edgeml:deployment", "Values": [name]},
                                                   {"Name": "tag:edgeml:zone", "Values": [zone]}])["Addresses"]
    return address


def deployments(name: str) -> list[dict]:
    """The deployment's Deployments (the lab's Kubernetes API, as its admin)."""
    with labkube.admin_urlopen(f"{labkube.config.KUBE_URL}/apis/apps/v1/namespaces/edgeml/deployments"
                               f"?labelSelector=edgeml.io/deployment%3D{name}") as reply:
        return json.loads(reply.read())["items"]


def test_interrupted_run_node_replacement_model_update_failed_deploy_then_teardown(deployment):
    """One deployment, one lab cluster, five checks in order:
    1. a run interrupted while the node groups are created converges on the re-run, and the next run changes nothing;
    2. the serving instance terminated through the EC2 API: the next run moves the zone's stable address to the
       replacement node (the address stays the same) and a phone reaches the model there;
    3. a model update (another artifact, so a node roll) while a phone keeps calling the zone's address: not one
       request fails, the new model serves there, the old node is gone;
    4. a deploy the API rejects (invalid securityContext) fails the run while the zone keeps serving;
    5. teardown then removes everything, addresses included."""
    base, before = deployment
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(REPO / "inventories" / "lab"),
           str(REPO / "site.yml"), "-e", json.dumps(base)]
    proc = subprocess.Popen(cmd, env=os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    for line in proc.stdout:  # interrupt as soon as the node groups are being created
        if "Auto scaling group per zone" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    proc.kill()
    proc.wait()
    run = playbook("site.yml", base)
    assert run.rc == 0, run
    rerun = playbook("site.yml", base)
    assert rerun.rc == 0 and "changed=0" in rerun.out, rerun

    address = stable_address(base["edge_name"], BOS)
    url = f"http://{address['CarrierIp']}:30007/invocations"
    assert device.request(url, b"A fine film.", headers=CONTRACT)[0] == 200
    ec2().terminate_instances(InstanceIds=[address["InstanceId"]])
    replaced = playbook("site.yml", base)
    assert replaced.rc == 0, replaced
    moved = stable_address(base["edge_name"], BOS)
    assert moved["CarrierIp"] == address["CarrierIp"] and moved["InstanceId"] not in ("", address["InstanceId"])
    assert device.request(url, b"A fine film.", headers=CONTRACT)[0] == 200

    phone = device.Phone(url, headers=CONTRACT)
    phone.start()
    updated = playbook("site.yml", base | {"edge_models": [MODEL | {"model_version": "0.9.0"}]})
    time.sleep(2)
    phone.finish()
    assert updated.rc == 0, updated
    calls = device.summary(phone.results)
    assert calls["requests"] > 100 and calls["failed"] == 0, calls
    rolled = stable_address(base["edge_name"], BOS)
    assert rolled["CarrierIp"] == address["CarrierIp"] and rolled["InstanceId"] != moved["InstanceId"]
    group = boto3.client("autoscaling", region_name="us-east-1", endpoint_url="http://127.0.0.1:4566",
                         aws_access_key_id="testing", aws_secret_access_key="testing").describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"{base['edge_name']}-{BOS}"])["AutoScalingGroups"][0]
    assert [i["InstanceId"] for i in group["Instances"]] == [rolled["InstanceId"]]  # the old node retired
    [serving] = deployments(base["edge_name"])  # the old generation's Deployment is pruned
    assert serving["metadata"]["annotations"]["edgeml.io/model-version"] == "0.9.0"
    generation = serving["spec"]["template"]["spec"]["nodeSelector"]["edgeml.io/generation"]
    assert serving["metadata"]["name"] == f"sentiment-{BOS}-{generation[:8]}"

    failed = playbook("site.yml", base | {"edge_models": [MODEL | {"model_version": "0.9.0"}],
                                         "model_deploy_run_as_user": "nobody"})
    assert failed.rc != 0 and "model_deploy" in failed.out, failed
    assert device.request(url, b"A fine film.", headers=CONTRACT)[0] == 200  # what serves is not disrupted

    down = playbook("teardown.yml", base | {"edge_teardown_purge_artifacts": True})
    assert down.rc == 0, down
    assert leftovers(before, lab_api("resources")) == []
    assert ec2().describe_addresses(Filters=[{"Name": "tag:edgeml:deployment", "Values": [base["edge_name"]]}])[
        "Addresses"] == []


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))

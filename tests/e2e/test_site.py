"""site.yml end to end on the lab: bad inputs, 3 zones under throttling, interrupted and failed runs, teardown."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from e2e_lib import REPO, lab_api, leftovers, playbook

pytestmark = pytest.mark.e2e
ZONES3 = ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"]
NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_PROFILE": None,
                  "AWS_SESSION_TOKEN": None,
                  "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
                  "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.mark.parametrize(("extra", "env", "message"), [
    ({"edge_models": [{"name": "sentiment", "model_id": "edgeml-tc-minilm-l6-sentimnt-int8"}]}, {},
     "edgeml-tc-minilm-l6-sentiment-int8"),  # unknown id: the error names the close match
    ({"edge_zones": ["us-east-1-wl1-xyz-wlz-1"]}, {}, "edge_zones"),
    ({"edge_zones": ["us-east-1-wl1-mia-wlz-1"], "edge_instance_type": "g4dn.2xlarge"}, {}, "edge_instance_type"),
    ({"edge_artifact_bucket": "Not_A_Bucket"}, {}, "edge_artifact_bucket"),
    ({"edge_aws_credentials": {}}, NO_CREDENTIALS, "Unable to locate credentials"),
], ids=["unknown-model", "unknown-zone", "type-not-offered", "bad-bucket", "no-credentials"])
def test_bad_input_fails_before_anything_is_created(deployment, extra, env, message):
    base, before = deployment
    run = playbook("site.yml", base | extra, env=env)
    assert run.rc != 0, run
    assert message in run.out, run
    assert "changed=0" in run.out, run
    assert leftovers(before, lab_api("resources")) == []


def test_three_zones_with_throttling_then_teardown(deployment):
    base, before = deployment
    faults = lab_api("config")["faults"]
    lab_api("config", {"faults": {"throttle_rate": 0.1, "error_rate": 0.02, "seed": 7}})
    try:
        run = playbook("site.yml", base | {"edge_zones": ZONES3})
    finally:
        lab_api("config", {"faults": faults})
    assert run.rc == 0, run
    report = json.loads((REPO / "artifacts" / "endpoints.json").read_text())
    assert report["deployment"] == base["edge_name"]
    assert sorted(e["zone"] for e in report["endpoints"]) == sorted(ZONES3)
    assert all(e["predictions_ok"] for e in report["endpoints"])
    assert len({e["carrier_ip"] for e in report["endpoints"]}) == 3

    run = playbook("teardown.yml", base | {"edge_zones": ZONES3, "edge_teardown_purge_artifacts": True})
    assert run.rc == 0, run
    assert leftovers(before, lab_api("resources")) == []
    again = playbook("teardown.yml", base | {"edge_zones": ZONES3, "edge_teardown_purge_artifacts": True})
    assert again.rc == 0 and "changed=0" in again.out, again


def test_interrupted_run_converges_on_rerun(deployment):
    base, _ = deployment
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


def test_teardown_after_failed_deploy(deployment):
    base, before = deployment
    # Everything up to the deploy stage is created, then the Deployment is rejected (invalid securityContext).
    run = playbook("site.yml", base | {"model_deploy_run_as_user": "nobody"})
    assert run.rc != 0, run
    assert "model_deploy" in run.out, run
    assert lab_api("resources")["eks_clusters"], "the failed run should have got as far as the cluster"
    down = playbook("teardown.yml", base | {"edge_teardown_purge_artifacts": True})
    assert down.rc == 0, down
    assert leftovers(before, lab_api("resources")) == []


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))

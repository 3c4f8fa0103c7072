"""edgeml.wavelength.instance_console against the lab's GetConsoleOutput (the node's boot output), and the kubelet
taint merge the lab node agent applies (lab/edgelab/nodes/userdata.py)."""

import pytest
from edgelab import config
from edgelab.nodes.userdata import register_taints

PENDING = {"key": "edgeml.io/models-pending", "value": "true", "effect": "NoSchedule"}
USER = {"key": "dedicated", "value": "edge", "effect": "NoSchedule"}


def instances(client, n):
    ec2 = client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return [i["InstanceId"] for i in ec2.run_instances(ImageId=image, MinCount=n, MaxCount=n)["Instances"]]


def test_console_output_of_lab_nodes(lab_only, run, client, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "NODES_DIR", tmp_path)
    failed, silent = instances(client, 2)
    (tmp_path / failed).mkdir()
    (tmp_path / failed / "user-data.log").write_text(
        "=== part-001\nedgeml: model placement failed: bert: sha256 mismatch for s3://b/k\n"
        "util.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/part-001 [1]\n"
        "cc_scripts_user.py[WARNING]: Failed to run module scripts_user\n")
    # EC2 answers base64 (botocore decodes it), and no Output at all for an instance that printed nothing yet.
    assert client("ec2").get_console_output(InstanceId=failed)["Output"].startswith("=== part-001")
    assert "Output" not in client("ec2").get_console_output(InstanceId=silent)

    r = run("instance_console", instance_ids=[failed, silent], pattern="edgeml: |Failed running", tail_lines=2,
            check=True)
    assert not r["changed"]
    assert r["instances"] == [
        {"instance_id": failed, "available": True,
         "matches": ["edgeml: model placement failed: bert: sha256 mismatch for s3://b/k",
                     "util.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/part-001 [1]"],
         "tail": ["util.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/part-001 [1]",
                  "cc_scripts_user.py[WARNING]: Failed to run module scripts_user"]},
        {"instance_id": silent, "available": False, "matches": [], "tail": []}]


def test_console_output_errors(lab_only, run):
    assert "not a valid regular expression" in run("instance_console", instance_ids=["i-1"], pattern="(")["msg"]
    # An instance that cannot be read does not fail the task: the caller still reports what it knows.
    gone = run("instance_console", instance_ids=["i-0000000000000dead"])
    assert not gone.get("failed") and gone["instances"][0]["available"] is False
    assert "InvalidInstanceID.NotFound" in gone["instances"][0]["error"]


@pytest.mark.parametrize(("config_taints", "drop_ins", "flag", "expected"), [
    ([USER, PENDING], [], None, [USER, PENDING]),  # the user data failed: nothing replaced the NodeConfig's list
    ([USER, PENDING], [{"kind": "KubeletConfiguration"}, {"registerWithTaints": [USER]}], None, [USER]),
    ([PENDING], [{"registerWithTaints": []}], None, []),  # an empty list in a later drop-in replaces too
    ([PENDING], [{"registerWithTaints": [USER]}], [], []),  # the flag overrides every file
    ([], [], None, []),
])
def test_register_taints_merge_as_kubelet(config_taints, drop_ins, flag, expected):
    assert register_taints({"registerWithTaints": config_taints}, drop_ins, flag) == expected

"""Run job template playbooks under ansible-runner the way AWX launches them (project, inventory, extravars)."""

import os
import subprocess
import sys
from pathlib import Path

import ansible_runner
import boto3
import yaml

REPO = Path(__file__).resolve().parents[2]
CONTROLLER = yaml.safe_load((REPO / "awx" / "controller.yml").read_text())


def _survey_defaults(template_name: str) -> dict:
    template = next(t for t in CONTROLLER["controller_templates"] if t["name"] == template_name)
    answers = {}
    for question in template["survey_spec"]["spec"]:
        if "default" in question:
            value = question["default"]
            # AWX passes a multiselect answer as a list, an integer answer as an int.
            answers[question["variable"]] = value.split("\n") if question["type"] == "multiselect" else value
    return answers


def test_zones_stage_runs_under_ansible_runner(lab_aws, tmp_path):
    extravars = _survey_defaults("edgeml-wavelength-deploy") | {
        "edge_artifact_bucket": "awx-runner-test",
        # The lab inventory targets the fixed lab port; this test's endpoint is on a free port.
        "edge_aws_endpoint_url": lab_aws.url,
    }
    result = ansible_runner.run(
        private_data_dir=str(tmp_path),
        project_dir=str(REPO),
        playbook="playbooks/zones.yml",
        inventory=str(REPO / "inventories" / "lab"),
        extravars=extravars,
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                 "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        quiet=True,
    )
    assert result.status == "successful", result.stdout.read()
    assert result.rc == 0
    ec2 = boto3.client("ec2", endpoint_url=lab_aws.url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    zones = ec2.describe_availability_zones(AllAvailabilityZones=True, ZoneNames=extravars["edge_zones"])
    assert {z["OptInStatus"] for z in zones["AvailabilityZones"]} == {"opted-in"}


def test_execution_environment_definition_builds_a_context(tmp_path):
    """ansible-builder accepts the EE file and the collection tarball it packs builds."""
    dist = REPO / "dist"
    subprocess.run([Path(sys.executable).parent / "ansible-galaxy", "collection", "build", "--force",
                    "--output-path", str(dist), str(REPO)], check=True, capture_output=True)
    assert list(dist.glob("edgeml-wavelength-*.tar.gz"))
    context = tmp_path / "context"
    subprocess.run([Path(sys.executable).parent / "ansible-builder", "create", "-f",
                    str(REPO / "awx" / "execution-environment.yml"), "--context", str(context),
                    "--output-filename", "Containerfile"], check=True, capture_output=True)
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install --no-deps /build/collection/edgeml-wavelength-" in containerfile
    assert "sagemaker-core==2.27.0" in (context / "_build" / "requirements.txt").read_text()
    assert "skopeo" in (context / "_build" / "bindep.txt").read_text()

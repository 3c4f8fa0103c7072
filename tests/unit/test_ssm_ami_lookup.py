"""The SSM AMI lookup of roles/edge_nodegroup (tasks/ami.yml, amazon.aws.ssm_parameter) gets every credential of
edge_aws_credentials: a session token with explicit keys, and a named profile of the shared files. The play leaves
edge_kubernetes_version to the product default: its EKS AMI parameter exists.

One ansible-playbook run (a lookup plugin is only reached through Ansible's templating) against the in-process AWS
endpoint behind a recording proxy: each SSM request shows the key id and session token it was signed with.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from aws_recorder import AWS_ENV, RecordingProxy

REPO = Path(__file__).resolve().parents[2]
VERSION = yaml.safe_load((REPO / "roles" / "edge" / "defaults" / "main.yml").read_text())["edge_kubernetes_version"]
PARAMETER = f"/aws/service/eks/optimized-ami/{VERSION}/amazon-linux-2023/x86_64/standard/recommended/image_id"


def include_ami(credentials, out):
    """Tasks: the role's AMI lookup with these edge_aws_credentials, then the AMI id written to out."""
    return [
        {"name": f"AMI lookup of {out.name}", "ansible.builtin.include_role": {
            "name": "edgeml.wavelength.edge_nodegroup", "tasks_from": "ami"},
         "vars": {"edge_aws_credentials": credentials}},
        {"name": f"Write {out.name}", "ansible.builtin.copy": {
            "dest": str(out), "content": "{{ __edge_nodegroup_ami }}", "mode": "0600"}},
    ]


def test_session_token_and_profile_reach_the_ssm_lookup(aws_url, lab_only, client, tmp_path):
    expected = client("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"]
    proxy = RecordingProxy(aws_url)
    try:
        credentials = tmp_path / "credentials"
        credentials.write_text("[edgeml-ssm]\naws_access_key_id = AKIDSSMPROFILE\naws_secret_access_key = x\n"
                               "aws_session_token = token-ssm-profile\n")
        play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
                 "vars": {"edge_aws_endpoint_url": proxy.url, "edge_region": "us-east-1"},
                 "tasks": include_ami({"access_key": "AKIDSSMKEYS", "secret_key": "x",
                                       "session_token": "token-ssm-keys"}, tmp_path / "keys.txt")
                 + include_ami({"profile": "edgeml-ssm"}, tmp_path / "profile.txt")}]
        (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
        env = {k: v for k, v in os.environ.items() if k not in AWS_ENV}  # no credentials but the play's
        env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), AWS_SHARED_CREDENTIALS_FILE=str(credentials),
                   AWS_CONFIG_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
        proc = subprocess.run([Path(sys.executable).parent / "ansible-playbook", str(tmp_path / "play.yml")],
                              capture_output=True, text=True, check=False, cwd=REPO, env=env, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    finally:
        proxy.stop()
    assert (tmp_path / "keys.txt").read_text() == (tmp_path / "profile.txt").read_text() == expected
    ssm = [r for r in proxy.requests if r.headers.get("x-amz-target") == "AmazonSSM.GetParameter"]
    assert [r.signed_with for r in ssm] == [("AKIDSSMKEYS", "token-ssm-keys"),
                                           ("AKIDSSMPROFILE", "token-ssm-profile")], ssm
    assert {json.loads(r.body)["Name"] for r in ssm} == {PARAMETER}  # the default version's parameter

"""roles/image_packaging (after model_artifacts) on the lab: check mode reports what a real run changes, the
image lands in the lab ECR registry by digest, a re-run and a later check run change nothing.
Needs `lab up` (AWS 127.0.0.1:4566, source registry 127.0.0.1:5001, ECR registry 127.0.0.1:5002)."""

import subprocess
import uuid

import boto3
import pytest
from test_model_artifacts import ENDPOINT, changed_tasks, delete_bucket, lab_vars, play

pytestmark = pytest.mark.lab


def delete_repositories(prefix):
    ecr = boto3.client("ecr", endpoint_url=ENDPOINT, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    for repo in ecr.describe_repositories()["repositories"]:
        if repo["repositoryName"].startswith(prefix + "/"):
            ecr.delete_repository(repositoryName=repo["repositoryName"], force=True)


def test_image_packaging_converge_idempotent_check(tmp_path):
    uid = uuid.uuid4().hex[:8]
    name, bucket = f"rt{uid}", f"edgeml-rt-{uid}"
    vars_file = lab_vars(tmp_path, edge_name=name, edge_artifact_bucket=bucket)
    try:
        check_stats, check_tasks = play("artifacts_image_packaging.yml", vars_file, check=True)
        real_stats, real_tasks = play("artifacts_image_packaging.yml", vars_file)
        # bucket + export + deployment record + repository + image copy + the images in the record: the recap of the
        # check run announces the real run's changes.
        assert check_stats["changed"] == real_stats["changed"] == 6, (changed_tasks(check_tasks),
                                                                      changed_tasks(real_tasks))
        again, again_tasks = play("artifacts_image_packaging.yml", vars_file)
        assert again["changed"] == 0, changed_tasks(again_tasks)
        later, later_tasks = play("artifacts_image_packaging.yml", vars_file, check=True)
        assert later["changed"] == 0, changed_tasks(later_tasks)

        image = real_tasks["Show the images"][0]["image_packaging_images"]["sentiment"]
        repository, digest = image.split("@")
        assert repository == f"127.0.0.1:5002/{name}/sentiment"
        source = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                                 "docker://127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0"],
                                capture_output=True, text=True, check=True).stdout.strip()
        assert digest == source
        subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}"],
                       capture_output=True, check=True)
        ecr = boto3.client("ecr", endpoint_url=ENDPOINT, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        repo = ecr.describe_repositories(repositoryNames=[f"{name}/sentiment"])["repositories"][0]
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"]["scanOnPush"] is True
        assert "countNumber" in ecr.get_lifecycle_policy(repositoryName=f"{name}/sentiment")["lifecyclePolicyText"]
        # No registry secret in the output of any run.
        assert "auths" not in str(real_tasks.get("ECR credentials for the destination registry"))
    finally:
        delete_repositories(name)
        delete_bucket(bucket)

"""roles/image_packaging (after model_artifacts) on the lab: check mode reports what a real run changes, the
image lands in the lab ECR registry by digest, the repositories carry the deployment tag, a model dropped from the
list loses its repository (the rest changes nothing), a later check run changes nothing, and the teardown entry
point with yet another model list leaves no repository of the deployment.
Needs `lab up` (AWS 127.0.0.1:4566, source registry 127.0.0.1:5001, ECR registry 127.0.0.1:5002)."""

import json
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


def task_results(tasks, name):
    """The results of the task named `name` (the JSON callback names a role's tasks "<role> : <name>")."""
    found = [results for task, results in tasks.items() if task == name or task.endswith(f" : {name}")]
    assert len(found) == 1, (name, sorted(tasks))
    return found[0]


REPOSITORIES_TASK = ("ECR repository per model (scan on push, immutable tags, lifecycle policy, encryption, tags), "
                     "prune the others")


def repository_tags(ecr, prefix):
    """{repository name: tags} of the repositories named <prefix>/..."""
    found = {}
    for page in ecr.get_paginator("describe_repositories").paginate():
        for repo in page["repositories"]:
            if repo["repositoryName"].startswith(prefix + "/"):
                tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
                found[repo["repositoryName"]] = {t["Key"]: t["Value"] for t in tags}
    return found


def test_image_packaging_converge_idempotent_check(tmp_path):
    uid = uuid.uuid4().hex[:8]
    name, bucket = f"rt{uid}", f"edgeml-rt-{uid}"
    ecr = boto3.client("ecr", endpoint_url=ENDPOINT, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    vars_file = lab_vars(tmp_path, edge_name=name, edge_artifact_bucket=bucket)
    sentiment = json.loads(vars_file.read_text())["edge_models"][0]
    # A second model for this role only, with the first one's export (its image): model_artifacts would export the
    # same model again, which takes time and proves nothing here.
    both_file = lab_vars(tmp_path, edge_name=name, edge_artifact_bucket=bucket,
                         image_packaging_models=[sentiment, {**sentiment, "name": "second"}],
                         image_packaging_exports="{{ model_artifacts_exports | combine({'second': "
                                                 "model_artifacts_exports.sentiment}) }}")
    try:
        check_stats, check_tasks = play("artifacts_image_packaging.yml", both_file, check=True)
        real_stats, real_tasks = play("artifacts_image_packaging.yml", both_file)
        # bucket + export + deployment record + repositories (created with their settings and tags in one run) +
        # image copies + the images in the record: the recap of the check run announces the real run's changes.
        assert check_stats["changed"] == real_stats["changed"] == 6, (changed_tasks(check_tasks),
                                                                      changed_tasks(real_tasks))
        planned = task_results(check_tasks, REPOSITORIES_TASK)[0]["repositories"]
        assert sorted((r["name"], r["created"]) for r in planned) == [(f"{name}/second", True),
                                                                       (f"{name}/sentiment", True)]
        assert repository_tags(ecr, name) == {f"{name}/sentiment": {"edgeml:deployment": name},
                                              f"{name}/second": {"edgeml:deployment": name}}

        # "second" dropped from the list: its repository goes; only that and the images in the record change.
        again, again_tasks = play("artifacts_image_packaging.yml", vars_file)
        assert again["changed"] == 2, changed_tasks(again_tasks)
        pruned = task_results(again_tasks, REPOSITORIES_TASK)[0]
        assert pruned["changed"] and pruned["deleted"] == [f"{name}/second"]
        assert repository_tags(ecr, name) == {f"{name}/sentiment": {"edgeml:deployment": name}}
        later, later_tasks = play("artifacts_image_packaging.yml", vars_file, check=True)
        assert later["changed"] == 0, changed_tasks(later_tasks)

        image = again_tasks["Show the images"][0]["image_packaging_images"]["sentiment"]
        repository, digest = image.split("@")
        assert repository == f"127.0.0.1:5002/{name}/sentiment"
        source = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                                 "docker://127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0"],
                                capture_output=True, text=True, check=True).stdout.strip()
        assert digest == source
        subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{image}"],
                       capture_output=True, check=True)
        repo = ecr.describe_repositories(repositoryNames=[f"{name}/sentiment"])["repositories"][0]
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"]["scanOnPush"] is True
        assert "countNumber" in ecr.get_lifecycle_policy(repositoryName=f"{name}/sentiment")["lifecyclePolicyText"]
        # No registry secret in the output of the run: the ECR logins live only inside the mirror module.
        mirrored = task_results(real_tasks, "Mirror the inference images into ECR by digest (skopeo, daemonless)")
        assert "sentiment" in str(mirrored) and "auths" not in str(real_tasks) and "password" not in str(real_tasks)

        # Teardown with a model list that names none of them: every repository of the deployment goes (by tag).
        other_file = lab_vars(tmp_path, edge_name=name, edge_artifact_bucket=bucket,
                              edge_models=[{**sentiment, "name": "other"}])
        gone, gone_tasks = play("image_packaging_absent.yml", other_file)
        assert gone["changed"] == 1 and repository_tags(ecr, name) == {}, changed_tasks(gone_tasks)
    finally:
        delete_repositories(name)
        delete_bucket(bucket)

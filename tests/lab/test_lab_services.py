"""Each lab service is up and speaks its protocol; the JumpStart catalog resolves and is seeded."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from edgelab import catalog, catalog_spec, config, kube

pytest.register_assert_rewrite("fixtures_cluster")  # it is also a plugin (see pytest_plugins)
from fixtures_cluster import REPO, run_lab

pytest_plugins = ["fixtures_cluster"]


def test_every_service_is_healthy(lab):
    proc = run_lab("status")
    assert proc.returncode == 0, proc.stdout
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names == ["dockerd", "aws", "registry-source", "registry-ecr", "kube", "agent"]
    assert all(line.split()[1] == "healthy" for line in proc.stdout.splitlines())


def test_env_prints_the_client_environment(lab):
    out = run_lab("env").stdout
    assert f"export AWS_ENDPOINT_URL={config.AWS_URL}\n" in out
    assert f"export AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE={config.JUMPSTART_CONTENT_BUCKET}\n" in out
    admin = kube.admin_server()  # the lab-only admin credential, under lab names: never kubernetes.core's K8S_AUTH_*
    assert f"export EDGELAB_KUBE_URL={config.KUBE_URL}\n" in out and config.KUBE_URL.startswith("https://")
    assert f"export EDGELAB_KUBE_ADMIN_TOKEN={admin.token}\n" in out
    assert f"export EDGELAB_KUBE_CA_CERT={admin.ca_cert}\n" in out
    assert "K8S_AUTH_" not in out


@pytest.mark.parametrize("registry", [config.SOURCE_REGISTRY, config.ECR_REGISTRY])
def test_registries_serve_the_distribution_api(lab, registry):
    resp = requests.get(f"http://{registry}/v2/", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_kubernetes_python_client_against_kmock(lab):
    from kubernetes import client

    api = client.ApiClient(kube.admin_server(config.KUBE_URL).configuration())
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "lab-client-test"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "x"}},
                     "template": {"metadata": {"labels": {"app": "x"}},
                                  "spec": {"containers": [{"name": "c", "image": "none"}]}}}}
    apps.create_namespaced_deployment("default", body)
    try:
        names = [d.metadata.name for d in apps.list_namespaced_deployment("default").items]
        assert "lab-client-test" in names
        assert apps.read_namespaced_deployment("lab-client-test", "default").spec.replicas == 0
        assert core.list_node() is not None
    finally:
        apps.delete_namespaced_deployment("lab-client-test", "default")


def test_kubernetes_core_modules_against_kmock(lab):
    env = {**os.environ, **kube.admin_server(config.KUBE_URL).env(), "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                           "-e", f"ansible_python_interpreter={sys.executable}", "k8s_smoke.yml"],
                          cwd=Path(__file__).parent / "playbooks", env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


SDK_CHECK = """
from sagemaker.core import environment_variables, image_uris, model_uris, script_uris
from sagemaker.core.jumpstart.utils import verify_model_region_and_return_specs
M = "edgeml-tc-minilm-l6-sentiment-int8"
for region in ("us-east-1", "us-west-2"):
    kw = dict(model_id=M, region=region)
    assert image_uris.retrieve(framework=None, image_scope="inference", model_version="*",
                               instance_type="ml.m5.xlarge", **kw) == "127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0"
    assert model_uris.retrieve(model_version="*", model_scope="inference", instance_type="ml.m5.xlarge", **kw) == \\
        "s3://edgelab-jumpstart-content/" + M + "/1.0.0/model.tar.gz"
    env = environment_variables.retrieve_default(model_version="1.0.0", instance_type="ml.m5.xlarge", **kw)
    assert env["MODEL_CACHE_ROOT"] == "/opt/ml/model" and env["SAGEMAKER_PROGRAM"] == "inference.py", env
    spec = verify_model_region_and_return_specs(model_id=M, version="1.0.0", scope="inference", region=region)
    assert not spec.use_inference_script_uri()
    assert spec.predictor_specs.supported_accept_types == ["application/json;verbose", "application/json"]
    assert spec.predictor_specs.supported_content_types == ["application/x-text", "application/json"]
    old = verify_model_region_and_return_specs(model_id=M, version="0.9.0", scope="inference", region=region)
    assert old.use_inference_script_uri()
    assert script_uris.retrieve(model_version="0.9.0", script_scope="inference", **kw) == \\
        "s3://edgelab-jumpstart-content/" + M + "/0.9.0/sourcedir.tar.gz"
print("ok")
"""


def test_catalog_resolves_offline_with_the_sdk():
    """The committed catalog is what the generator writes, and sagemaker-core resolves it for both regions."""
    text = {p: p.read_text() for p in config.CATALOG_DIR.rglob("*.json")}
    catalog_spec.main()
    assert text == {p: p.read_text() for p in config.CATALOG_DIR.rglob("*.json")}, "catalog JSON is stale"
    env = {**os.environ, "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": str(config.CATALOG_DIR),
           "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": str(config.CATALOG_DIR),
           "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE": config.JUMPSTART_CONTENT_BUCKET,
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    proc = subprocess.run([sys.executable, "-c", SDK_CHECK], env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_catalog_content_is_seeded(aws):
    s3 = aws("s3")
    key = f"{catalog_spec.MODEL_ID}/0.9.0/sourcedir.tar.gz"
    assert s3.head_object(Bucket=config.JUMPSTART_CONTENT_BUCKET, Key=key)["ContentLength"] > 0
    model = catalog.build_model_tarball()
    if model is not None:  # the model artifacts exist once model/ has been built
        head = s3.head_object(Bucket=config.JUMPSTART_CONTENT_BUCKET, Key=f"{catalog_spec.MODEL_ID}/1.0.0/model.tar.gz")
        assert head["ETag"].strip('"') == hashlib.md5(model, usedforsecurity=False).hexdigest()
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{catalog_spec.IMAGE}"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (REPO / "lab/catalog/models_manifest.json").exists()

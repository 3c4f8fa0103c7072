"""model_pod_spec: the pod spec of a model's Deployment, as each SageMaker inference container family needs it
(docs/inference-containers.md), the edge runtime's hardened default, additional data sources mounted."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.model_pod_spec import container_family, model_pod_spec

SHA = "a" * 64
SETTINGS = {"drain_seconds": 15, "run_as_user": 10001, "model_root": "/var/lib/edgeml/models", "container_port": 8080,
            "tolerations": [], "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                                             "limits": {"cpu": "2", "memory": "1Gi"}}}
RUNTIME = "127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0"
TFS = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19.0-cpu-py312-ubuntu22.04"
TORCH = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312-ubuntu22.04-sagemaker"
DJL = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124"


def spec(image, model=None, **export):
    return model_pod_spec({"name": "m", **(model or {})},
                          {"image_uri": image, "artifact_sha256": SHA, "environment": {"A": 1}, **export},
                          image="127.0.0.1:5002/edgeml/m@sha256:" + "b" * 64,
                          node_selector={"edgeml.io/zone": "z"}, settings=SETTINGS)


def env(container):
    return {e["name"]: e["value"] for e in container["env"]}


@pytest.mark.parametrize(("image", "family"), [
    (TFS, "tensorflow-inference"), (TORCH, "pytorch-inference"), (DJL, "djl-inference"),
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/huggingface-pytorch-tgi-inference:2.4.0-tgi2.3.1-gpu-py311",
     "huggingface-pytorch-tgi-inference"),
    ("127.0.0.1:5001/edgelab/tensorflow-inference@sha256:" + "c" * 64, "tensorflow-inference"),
    (RUNTIME, ""), ("tensorflow-inference-x:1", ""), (None, ""),
])
def test_family_by_repository(image, family):
    assert container_family(image) == family


def test_edge_runtime_is_non_root_read_only_with_a_startup_budget():
    pod = spec(RUNTIME)
    [c] = pod["containers"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "privileged": False, "capabilities": {"drop": ["ALL"]}}
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] == 120
    assert c["livenessProbe"]["initialDelaySeconds"] == 0  # it starts after the startupProbe
    assert env(c) == {"A": "1", "SAGEMAKER_BIND_TO_PORT": "8080"}  # its image sets HOME
    assert "initContainers" not in pod
    assert [v["name"] for v in pod["volumes"]] == ["model", "tmp"]
    assert pod["volumes"][0]["hostPath"] == {"path": f"/var/lib/edgeml/models/m/{SHA}", "type": "Directory"}
    assert pod["terminationGracePeriodSeconds"] == 45 and c["lifecycle"]["preStop"]["sleep"]["seconds"] == 15


def test_tensorflow_serving_keeps_non_root_with_writable_mounts_seeded_from_the_image():
    pod = spec(TFS)
    [c] = pod["containers"]
    assert pod["securityContext"]["runAsUser"] == 10001 and c["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert {"/sagemaker", "/var/cache/nginx", "/var/lib/nginx", "/tmp", "/opt/ml/model"} <= set(mounts)
    [seed] = pod["initContainers"]
    assert seed["image"] == c["image"] and seed["securityContext"] == c["securityContext"]
    assert seed["command"] == ["sh", "-c", "cp -R /sagemaker/. /seed/0/"]
    assert seed["volumeMounts"] == [{"name": mounts["/sagemaker"], "mountPath": "/seed/0"}]
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] == 360
    assert env(c)["SAGEMAKER_TFS_WAIT_TIME_SECONDS"] == "300" and env(c)["HOME"] == "/tmp"


def test_tensorflow_serving_as_root_gets_nginx_capabilities_and_no_mounts():
    pod = spec(TFS, {"security_profile": "root"})
    [c] = pod["containers"]
    assert pod["securityContext"]["runAsUser"] == 0 and pod["securityContext"]["runAsNonRoot"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "SETGID", "SETUID"]}
    assert c["securityContext"]["readOnlyRootFilesystem"] is False and "initContainers" not in pod
    assert "HOME" not in env(c)


def test_torchserve_runs_as_root_with_every_capability_dropped():
    pod = spec(TORCH)
    [c] = pod["containers"]
    assert pod["securityContext"]["runAsUser"] == 0 and c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] == 600
    # the user's word: non-root, and a longer load
    pod = spec(TORCH, {"security_profile": "nonroot", "startup_seconds": 900})
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["containers"][0]["startupProbe"]["failureThreshold"] == 180


def test_djl_listens_where_told_and_keeps_management_local():
    assert {k: v for k, v in env(spec(DJL, port=8080)["containers"][0]).items() if k.startswith("SERVING_")} == {
        "SERVING_INFERENCE_ADDRESS": "http://0.0.0.0:8080", "SERVING_MANAGEMENT_ADDRESS": "http://127.0.0.1:8081"}


def test_additional_data_sources_are_mounted_read_only_where_sagemaker_mounts_them():
    sources = [{"channel_name": "draft", "container_path": "/opt/ml/additional-model-data-sources/draft",
                "artifact_sha256": "d" * 64},
               {"channel_name": "planned", "container_path": "/x", "artifact_sha256": None}]  # not copied yet
    pod = spec(RUNTIME, additional_data_sources=sources)
    volume = next(v for v in pod["volumes"] if v["name"] == "data-source-0")
    assert volume["hostPath"] == {"path": "/var/lib/edgeml/models/m.draft/" + "d" * 64, "type": "Directory"}
    assert {"name": "data-source-0", "mountPath": "/opt/ml/additional-model-data-sources/draft",
            "readOnly": True} in pod["containers"][0]["volumeMounts"]
    assert not any(v["name"] == "data-source-1" for v in pod["volumes"])


def test_bad_inputs_are_named():
    with pytest.raises(AnsibleFilterError, match="model_pod_spec: the export must be a mapping"):
        model_pod_spec({"name": "m"}, None, image="i", node_selector={}, settings=SETTINGS)
    with pytest.raises(AnsibleFilterError, match="settings lacks drain_seconds"):
        model_pod_spec({"name": "m"}, {}, image="i", node_selector={}, settings={})

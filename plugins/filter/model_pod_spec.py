# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: model_pod_spec
author: edgeml team
version_added: 0.1.0
short_description: The pod spec of a model's Deployment (one zone)
description:
  - Builds the pod template spec that model_deploy renders for a model - its inference container with the export's
    arguments, environment, port, probes and resources, the model artifact mounted read-only from the node, and the
    hardening that holds for every container (no service account token, seccomp RuntimeDefault, no privilege
    escalation, every capability dropped).
  - The artifact is mounted from C(<model_root>/<model name>/<artifact sha256>) at C(/opt/ml/model); each additional
    model data source of the export from C(<model_root>/<model name>.<channel>/<sha256>) (the nodes place them there)
    read-only at its C(container_path).
  - A deleted pod keeps serving for O(settings.drain_seconds) (a preStop sleep; its grace period is 30 s longer).
  - The container runs as the SageMaker inference container family of the export's image needs
    (docs/inference-containers.md has the facts and their sources), named by the image repository - the TensorFlow
    Serving container (C(tensorflow-inference)) as non-root with a read-only root file system and writable
    C(emptyDir) mounts where it writes (C(/sagemaker), seeded from the image by an init container, and nginx's temp
    directories); TorchServe, Hugging Face, TGI and DJL containers as root (they write under C(/), C(/etc) and
    install packages at start), with every capability still dropped; any other image (the edge runtime) as non-root.
  - The model entry's C(security_profile) (V(nonroot) or V(root)) overrides the family's; C(startup_seconds) the
    load time its startupProbe allows (the family's otherwise; liveness and readiness start after it).
positional: _input, export
options:
  _input:
    description: The model entry (model_deploy_models item).
    type: dict
    required: true
  export:
    description: The model's export (jumpstart_export result or the deployment record's entry).
    type: dict
    required: true
  image:
    description: The image reference to run (the mirrored digest).
    type: str
    required: true
  node_selector:
    description: Node labels the pods must land on (zone, generation).
    type: dict
    required: true
  settings:
    description:
      - Role settings - C(drain_seconds), C(run_as_user), C(resources) (defaults, raised by model_resources),
        C(model_root), C(container_port) (when the export names none), C(tolerations).
    type: dict
    required: true
"""

EXAMPLES = r"""
spec: "{{ model | edgeml.wavelength.model_pod_spec(export, image=image, node_selector=selector, settings=settings) }}"
"""

RETURN = r"""
_value:
  description: A Kubernetes PodSpec.
  type: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.model_resources import model_resources

SETTINGS = ("drain_seconds", "run_as_user", "resources", "model_root", "container_port", "tolerations")
MODEL_PATH = "/opt/ml/model"
STARTUP_PERIOD = 5
# What each container family needs, by the image repository's name (docs/inference-containers.md, with sources):
# paths written at start (an emptyDir each when the root file system is read-only; "seed" ones start as a copy of
# the image's directory), the load time the startupProbe allows, whether it runs as non-root, the capabilities a
# root run needs, and settings it reads from the environment.
FAMILIES = {
    # nginx + TensorFlow Serving: serve.py writes its nginx and model configs into /sagemaker; nginx creates its
    # temp directories (/var/cache/nginx on Ubuntu images, /var/lib/nginx on AL2023 ones); TFS waits up to
    # SAGEMAKER_TFS_WAIT_TIME_SECONDS for the model. As root nginx's workers setuid: CHOWN, SETGID, SETUID.
    "tensorflow-inference": {"nonroot": True, "writable": ["/sagemaker", "/var/cache/nginx", "/var/lib/nginx"],
                             "seed": ["/sagemaker"], "startup_seconds": 360,
                             "root_capabilities": ["CHOWN", "SETGID", "SETUID"],
                             "env": {"SAGEMAKER_TFS_WAIT_TIME_SECONDS": "300", "OPT_OUT_TRACKING": "true"}},
    # TorchServe / Multi Model Server: properties files in /etc, state and logs under the working directory /.
    "pytorch-inference": {"nonroot": False, "startup_seconds": 600},
    "huggingface-pytorch-inference": {"nonroot": False, "startup_seconds": 600},
    "huggingface-pytorch-tgi-inference": {"nonroot": False, "startup_seconds": 1800},
    # djl-serving ignores SAGEMAKER_BIND_TO_PORT: its address is SERVING_INFERENCE_ADDRESS; management stays local.
    "djl-inference": {"nonroot": False, "startup_seconds": 1300,
                      "env": {"SERVING_INFERENCE_ADDRESS": "http://0.0.0.0:{port}",
                              "SERVING_MANAGEMENT_ADDRESS": "http://127.0.0.1:8081"}},
}
DEFAULT_FAMILY = {"nonroot": True, "startup_seconds": 120}  # the edge runtime and other images


def container_family(image_uri):
    """The FAMILIES key of an image (its repository's last path component), or "" for other images."""
    repository = str(image_uri or "").split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    return repository if repository in FAMILIES else ""


def _http_probe(path, port, initial, period, timeout, failures):
    return {"httpGet": {"path": path, "port": port}, "initialDelaySeconds": initial, "periodSeconds": period,
            "timeoutSeconds": timeout, "failureThreshold": failures}


def channel_mounts(model_name, export, model_root):
    """(volumes, volumeMounts) of the export's additional model data sources that were copied (sha256 known)."""
    volumes, mounts = [], []
    for index, source in enumerate(export.get("additional_data_sources") or []):
        if not source.get("artifact_sha256"):
            continue
        name = f"data-source-{index}"
        volumes.append({"name": name, "hostPath": {
            "path": f"{model_root}/{model_name}.{source['channel_name']}/{source['artifact_sha256']}",
            "type": "Directory"}})
        mounts.append({"name": name, "mountPath": source["container_path"], "readOnly": True})
    return volumes, mounts


def model_pod_spec(model, export, image, node_selector, settings):
    for value, what in ((model, "the model entry"), (export, "the export"), (node_selector, "node_selector"),
                        (settings, "settings")):
        if not isinstance(value, Mapping):
            raise AnsibleFilterError(f"model_pod_spec: {what} must be a mapping, not {type(value).__name__}")
    missing = [key for key in SETTINGS if key not in settings]
    if missing:
        raise AnsibleFilterError(f"model_pod_spec: settings lacks {', '.join(missing)}")
    port = int(export.get("port") or settings["container_port"])
    drain, user = int(settings["drain_seconds"]), int(settings["run_as_user"])
    ping = export.get("readiness_path") or "/ping"
    family = FAMILIES.get(container_family(export.get("image_uri")), DEFAULT_FAMILY)
    nonroot = {"nonroot": True, "root": False}.get(model.get("security_profile"), family["nonroot"])
    startup = int(model.get("startup_seconds") or family["startup_seconds"])
    env = {**{k: v.format(port=port) for k, v in (family.get("env") or {}).items()},
           **(export.get("environment") or {}), "SAGEMAKER_BIND_TO_PORT": str(port),
           # A SageMaker image run as a UID it has no passwd entry for: its caches go under $HOME.
           **({"HOME": "/tmp"} if nonroot and family is not DEFAULT_FAMILY else {})}
    volumes, mounts = channel_mounts(model["name"], export, settings["model_root"])
    writable = family.get("writable", []) if nonroot else []
    for index, path in enumerate(writable):
        volumes.append({"name": f"writable-{index}", "emptyDir": {}})
        mounts.append({"name": f"writable-{index}", "mountPath": path})
    seeded = [(index, path) for index, path in enumerate(writable) if path in family.get("seed", [])]
    container = {
        "name": "model",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": list(export.get("args") or ["serve"]),
        "env": [{"name": key, "value": str(value)} for key, value in sorted(env.items())],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        # Liveness and readiness start once the startupProbe passed: a model may load for startup_seconds.
        "startupProbe": _http_probe(ping, port, 0, STARTUP_PERIOD, 2, -(-startup // STARTUP_PERIOD)),
        "readinessProbe": _http_probe(ping, port, 0, 5, 2, 3),
        "livenessProbe": _http_probe(ping, port, 0, 10, 5, 6),
        "lifecycle": {"preStop": {"sleep": {"seconds": drain}}},
        "resources": model_resources(model, export, settings["resources"]),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": nonroot, "privileged": False,
                            "capabilities": {"drop": ["ALL"], **({} if nonroot or not family.get("root_capabilities")
                                                                 else {"add": family["root_capabilities"]})}},
        "volumeMounts": [{"name": "model", "mountPath": MODEL_PATH, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}, *mounts],
    }
    pod_security = {"runAsNonRoot": True, "runAsUser": user, "runAsGroup": user} if nonroot else \
        {"runAsNonRoot": False, "runAsUser": 0, "runAsGroup": 0}
    spec = {
        "nodeSelector": dict(node_selector),
        # A deleted pod keeps serving for the drain time (the address may still point at its node), then SIGTERM.
        "terminationGracePeriodSeconds": drain + 30,
        "tolerations": list(settings["tolerations"] or []),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {**pod_security, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "model", "hostPath": {
                        "path": f"{settings['model_root']}/{model['name']}/{export['artifact_sha256']}",
                        "type": "Directory"}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}, *volumes],
    }
    if seeded:  # the image's files in those directories, copied into their emptyDirs before the model starts
        spec["initContainers"] = [{
            "name": "seed", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", " && ".join(f"cp -R {path}/. /seed/{index}/" for index, path in seeded)],
            "securityContext": container["securityContext"],
            "volumeMounts": [{"name": f"writable-{index}", "mountPath": f"/seed/{index}"} for index, _ in seeded]}]
    return spec


class FilterModule:
    def filters(self):
        return {"model_pod_spec": model_pod_spec}

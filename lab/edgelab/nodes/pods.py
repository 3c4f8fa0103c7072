"""Pods as containers (host network) and the Deployment controller logic: scheduling, rolling update, status,
and what the kubelet enforces on a container: its securityContext, memory and CPU limits, and its probes."""

import hashlib
import json
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from edgelab import config
from edgelab.dockerctl import docker
from edgelab.nodes import isolation

NODE_DISK_MOUNT = "/var/lib/edgeml"


@dataclass
class Pod:
    name: str  # container name, also the Pod object name
    namespace: str
    deployment: str
    template_hash: str
    instance_id: str
    port: int  # host port given to the pod through SAGEMAKER_BIND_TO_PORT
    labels: dict
    running: bool = False
    started_at: float = 0.0
    restarts: int = 0
    ready: bool = False
    pre_stop: float = 0.0  # seconds of the preStop sleep (lifecycle.preStop.sleep or exec `sleep N`)
    grace: float = 30.0  # terminationGracePeriodSeconds
    deleted_at: float = 0.0  # wall time the pod began terminating (0: not terminating)
    last_state: dict | None = None  # why the container last stopped: {"reason": OOMKilled|Error|..., "exitCode"}

    @property
    def container(self) -> str:
        return container_name(self.namespace, self.name)


def container_name(namespace: str, pod: str) -> str:
    return f"edgelab-pod.{namespace}.{pod}"


def template_hash(template: dict) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((config.KUBE_HOST, 0))
        return sock.getsockname()[1]


def tolerates(taints: list[dict], tolerations: list[dict]) -> bool:
    """NoSchedule/NoExecute taints must each be tolerated (PreferNoSchedule is a preference only)."""
    def ok(taint: dict) -> bool:
        for tol in tolerations or []:
            if tol.get("effect") and tol["effect"] != taint.get("effect"):
                continue
            if tol.get("operator") == "Exists" and (not tol.get("key") or tol["key"] == taint["key"]):
                return True
            if tol.get("key") == taint["key"] and tol.get("value", "") == taint.get("value", ""):
                return True
        return False
    return all(ok(t) for t in taints if t.get("effect") in ("NoSchedule", "NoExecute"))


def node_matches(node_labels: dict, pod_spec: dict) -> bool:
    """nodeSelector plus required nodeAffinity terms with In/NotIn/Exists operators."""
    if any(node_labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []

    def expr_ok(expr: dict) -> bool:
        value, op = node_labels.get(expr["key"]), expr.get("operator")
        return {"In": value in expr.get("values", []), "NotIn": value not in expr.get("values", []),
                "Exists": value is not None, "DoesNotExist": value is None}.get(op, False)
    return not terms or any(all(expr_ok(e) for e in t.get("matchExpressions") or []) for t in terms)


class PodConfigError(Exception):
    """What the kubelet reports as a waiting container (reason CreateContainerConfigError) instead of starting it."""


def image_user(image: str) -> str:
    return docker("image", "inspect", "-f", "{{.Config.User}}", image).strip()


def security_args(pod_spec: dict, container: dict, image: str) -> list[str]:
    """docker run options for the pod's and container's securityContext, as the kubelet applies them: the user,
    runAsNonRoot (refused when the container would run as root), a read-only root file system, dropped
    capabilities, no privilege escalation. seccomp RuntimeDefault is docker's default profile."""
    pod_ctx, ctx = pod_spec.get("securityContext") or {}, container.get("securityContext") or {}
    user = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
    group = ctx.get("runAsGroup", pod_ctx.get("runAsGroup"))
    args = []
    if user is not None:
        args += ["--user", f"{user}:{group}" if group is not None else str(user)]
    if ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
        effective = str(user) if user is not None else image_user(image).split(":")[0]
        if effective in ("", "0", "root"):
            raise PodConfigError("container has runAsNonRoot and image will run as root")
    if ctx.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    if ctx.get("privileged"):
        raise PodConfigError("privileged containers are not emulated by the lab")
    drop = (ctx.get("capabilities") or {}).get("drop") or []
    args += [arg for cap in drop for arg in ("--cap-drop", cap)]
    if ctx.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    return args


QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$")
FACTOR = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9,
          "T": 10 ** 12, "m": 0.001, None: 1}


def quantity(value) -> float:
    """A Kubernetes quantity (512Mi, 1Gi, 500m, 2) as a number; ValueError when it is not one."""
    match = QUANTITY.match(str(value))
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * FACTOR[match.group(2)]


def resource_args(container: dict) -> list[str]:
    """docker run options for the container's limits, as the kubelet sets its cgroup: memory (no swap; over it the
    kernel's OOM killer stops the container, reason OOMKilled) and CPU (a quota, never a kill)."""
    limits = (container.get("resources") or {}).get("limits") or {}
    args = []
    if "memory" in limits:
        memory = int(quantity(limits["memory"]))
        args += ["--memory", str(memory), "--memory-swap", str(memory)]
    if "cpu" in limits:
        args += ["--cpus", f"{quantity(limits['cpu']):g}"]
    return args


@dataclass
class ProbeState:
    """The kubelet's probe bookkeeping for one run of a container (a restart starts a new one)."""
    started_at: float
    started: bool = False  # the startupProbe succeeded (or there is none)
    failures: dict = field(default_factory=dict)  # probe kind -> consecutive failures
    last: dict = field(default_factory=dict)  # probe kind -> time of its last run

    def run(self, kind: str, pod: "Pod", spec: dict) -> bool | None:
        """Run the probe if it is due (initialDelaySeconds after the start, then every periodSeconds): True or False,
        None when it is not due yet. Counts consecutive failures."""
        now = time.time()
        if now - self.started_at < spec.get("initialDelaySeconds", 0) or \
                now - self.last.get(kind, 0.0) < spec.get("periodSeconds", 10):
            return None
        self.last[kind] = now
        ok = http_get(pod, spec)
        self.failures[kind] = 0 if ok else self.failures.get(kind, 0) + 1
        return ok

    def failed(self, kind: str, spec: dict) -> bool:
        return self.failures.get(kind, 0) >= spec.get("failureThreshold", 3)


def http_get(pod: "Pod", spec: dict) -> bool:
    """An httpGet probe on the pod's host port (other probe kinds are not emulated: they pass)."""
    http = spec.get("httpGet")
    if not http:
        return True
    try:
        resp = requests.get(f"http://{config.KUBE_HOST}:{pod.port}{http.get('path', '/')}",
                            timeout=spec.get("timeoutSeconds", 1))
        return 200 <= resp.status_code < 400
    except requests.RequestException:
        return False


def volume_args(pod_spec: dict, container: dict, node_disk: str, pod_dir: Path) -> list[str]:
    """hostPath volumes under the node disk become bind mounts; emptyDir volumes a directory of the pod on the node
    (pod_dir/<volume>, mode 1777), shared by its init and main containers, gone with the pod (sizeLimit is not
    enforced); other volume types are not emulated."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    args = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"], {})
        path = (volume.get("hostPath") or {}).get("path", "")
        read_only = ":ro" if mount.get("readOnly") else ""
        if path == NODE_DISK_MOUNT or path.startswith(NODE_DISK_MOUNT + "/"):
            args += ["-v", f"{node_disk + path[len(NODE_DISK_MOUNT):]}:{mount['mountPath']}{read_only}"]
        elif "emptyDir" in volume:
            directory = pod_dir / mount["name"]
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o1777)
            args += ["-v", f"{directory}:{mount['mountPath']}{read_only}"]
    return args


def pod_dir(node_disk: str, pod: "Pod") -> Path:
    """The pod's directory on its node (its emptyDir volumes)."""
    return Path(node_disk).parent / "pods" / pod.container


def env_args(container: dict, fields: dict) -> list[str]:
    """-e options: plain values, and fieldRef values from `fields` (fieldPath -> value, e.g. status.hostIP); other
    sources (secrets, config maps, resources) are not emulated."""
    args = []
    for env in container.get("env") or []:
        if "value" in env:
            args += ["-e", f"{env['name']}={env['value']}"]
        else:
            path = ((env.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            if path in fields:
                args += ["-e", f"{env['name']}={fields[path]}"]
    return args


def pull(container: dict) -> str:
    """Pull the container's image as imagePullPolicy says (default: Always for :latest or no tag, else
    IfNotPresent); returns the image."""
    image = container["image"]
    policy = container.get("imagePullPolicy") or (
        "Always" if "@" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"))
        else "IfNotPresent")
    if policy == "Never" or (policy == "IfNotPresent" and docker("image", "inspect", image, check=False).strip()
                             not in ("", "[]")):
        return image
    docker("pull", "-q", image, timeout=600)
    return image


def termination(pod_spec: dict) -> tuple[float, float]:
    """(preStop sleep seconds, terminationGracePeriodSeconds) of a pod spec. The preStop hook counts as a sleep when
    it is the `sleep` action (Kubernetes 1.30+) or an exec of `sleep N`; other hooks are not run by the lab."""
    grace = float(pod_spec.get("terminationGracePeriodSeconds", 30))
    hook = ((pod_spec["containers"][0].get("lifecycle") or {}).get("preStop")) or {}
    seconds = (hook.get("sleep") or {}).get("seconds")
    command = (hook.get("exec") or {}).get("command") or []
    if seconds is None and len(command) == 2 and command[0].rsplit("/", 1)[-1] == "sleep":
        seconds = command[1]
    try:
        return min(float(seconds or 0), grace), grace
    except ValueError:
        return 0.0, grace


def container_args(pod: Pod, pod_spec: dict, container: dict, image: str, node_disk: str, directory: Path,
                   zone: str) -> list[str]:
    """docker run options and the command of one container of the pod (main or init) on a node in `zone`. The pod's
    host port replaces SAGEMAKER_BIND_TO_PORT (pods share the host network), after the container's own env."""
    args = [*env_args(container, {}), "-e", f"SAGEMAKER_BIND_TO_PORT={pod.port}", *isolation.group_args(zone),
            *security_args(pod_spec, container, image), *resource_args(container),
            *volume_args(pod_spec, container, node_disk, directory)]
    if container.get("workingDir"):
        args += ["--workdir", container["workingDir"]]
    command = container.get("command") or []
    if command:
        args += ["--entrypoint", command[0]]
    return [*args, image, *command[1:], *(container.get("args") or [])]


def run_init_containers(pod: Pod, pod_spec: dict, node_disk: str, directory: Path, zone: str) -> None:
    """The pod's initContainers, one after the other, each to completion, before the main container, as the kubelet
    runs them; one that fails stops the pod's start (PodConfigError: the agent tries again with a new pod)."""
    for index, container in enumerate(pod_spec.get("initContainers") or []):
        image = pull(container)
        name = f"{pod.container}.init-{index}"
        docker("rm", "-f", name, check=False)
        out = docker("run", "--name", name, "--network", "host", "--label", "edgelab.role=init",
                     *container_args(pod, pod_spec, container, image, node_disk, directory, zone), check=False,
                     timeout=600)
        code = docker("inspect", "-f", "{{.State.ExitCode}}", name, check=False).strip()
        docker("rm", "-f", name, check=False)
        if code != "0":
            raise PodConfigError(f"init container {container.get('name', index)} exited {code or '?'}: {out[-500:]}")


def run_pod(pod: Pod, pod_spec: dict, node_disk: str, zone: str) -> None:
    """Pull the image, run the init containers and start the container of `pod` (the first container of the pod
    spec) on a node in `zone`."""
    container = pod_spec["containers"][0]
    image = pull(container)
    directory = pod_dir(node_disk, pod)
    run_init_containers(pod, pod_spec, node_disk, directory, zone)
    args = ["run", "-d", "--name", pod.container, "--network", "host", "--label", f"edgelab.pod={pod.name}",
            "--label", "edgelab.role=pod", "--label", f"edgelab.deployment={pod.namespace}/{pod.deployment}",
            "--label", f"edgelab.template={pod.template_hash}", "--label", f"edgelab.instance={pod.instance_id}",
            "--label", f"edgelab.port={pod.port}", "--label", f"edgelab.labels={json.dumps(pod.labels)}",
            "--label", f"edgelab.termination={json.dumps(termination(pod_spec))}"]
    docker(*args, *container_args(pod, pod_spec, container, image, node_disk, directory, zone))


def probe(pod: Pod, container: dict) -> bool:
    """Readiness: the declared httpGet probe on the pod's host port; without a probe, running for 1 s."""
    if not pod.running:
        return False
    spec = container.get("readinessProbe") or {}
    if time.time() - pod.started_at < spec.get("initialDelaySeconds", 0 if spec else 1):
        return False
    return http_get(pod, spec)


def deployment_status(deploy: dict, pods: list[Pod], current_hash: str) -> dict:
    """Status as the Deployment controller would write it (pending pods count in replicas)."""
    want = deploy.get("spec", {}).get("replicas", 1)
    new = [p for p in pods if p.template_hash == current_hash]
    old = [p for p in pods if p.template_hash != current_hash]
    replicas = max(want, len(new)) + len(old)
    ready = sum(p.ready for p in pods)
    available = ready >= want  # old pods count while a rolling update is in progress, as in Kubernetes
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {
        "replicas": replicas, "updatedReplicas": len(new), "readyReplicas": ready, "availableReplicas": ready,
        "unavailableReplicas": replicas - ready,
        "conditions": [
            {"type": "Available", "status": "True" if available else "False",
             "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
             "lastUpdateTime": now, "lastTransitionTime": now},
            {"type": "Progressing", "status": "True",
             "reason": "NewReplicaSetAvailable" if available and not old else "ReplicaSetUpdated",
             "lastUpdateTime": now, "lastTransitionTime": now},
        ],
    }
    generation = deploy.get("metadata", {}).get("generation")
    if generation is not None:  # kmock sets none; then observedGeneration must stay unset for k8s waits
        status["observedGeneration"] = generation
    return status

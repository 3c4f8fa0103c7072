"""Jobs as the Job controller and the kubelet run them, for what the product uses (endpoint_check's probe Jobs).

- One pod per Job (completions 1, parallelism 1, restartPolicy Never; backoffLimit is not retried): pinned by
  spec.nodeName, else scheduled on a Ready node by nodeSelector, required node affinity and taints. A pinned node
  that does not exist or is not Ready leaves the pod Pending.
- The pod runs as a container on the host network of its node, its /etc/resolv.conf naming cluster DNS at the node's
  private address (nodes/dns.py: the zone's CoreDNS replicas answer, no other zone's); env fieldRefs status.hostIP
  and status.podIP give the node's private address (config.VPC_NETWORK in the lab), spec.nodeName the node; the
  securityContext is enforced as the kubelet does (pods.security_args: runAsNonRoot against the image's user is
  refused with CreateContainerConfigError; a failed pull is ErrImagePull, tried again).
- The termination message (/dev/termination-log, at most 4096 bytes, terminationMessagePolicy File) ends up in
  the Pod's status.containerStatuses[].state.terminated.message, with the exit code; the Job gets succeeded/failed,
  completionTime and a Complete or Failed condition.
- activeDeadlineSeconds fails a Job that runs (or waits) longer (reason DeadlineExceeded, the container is killed);
  ttlSecondsAfterFinished deletes a finished Job; a deleted Job's pod and container go (any propagation policy).
State lives in docker labels and the message files, so the agent may restart.
"""

import calendar
import contextlib
import json
import logging
import time
from pathlib import Path

from edgelab import config
from edgelab.dockerctl import docker
from edgelab.nodes import dns, isolation
from edgelab.nodes import pods as podlib

log = logging.getLogger("edgelab.jobs")
JOB_POD_LABEL = "edgelab.lab/job-pod"  # on the Pod objects of Jobs (Deployment pods carry the instance label)
MESSAGE_LIMIT = 4096
MESSAGES_DIR = config.STATE_DIR / "jobs"
PULL_BACKOFF = 10.0  # seconds before a failed image pull is tried again


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _epoch(stamp: str) -> float:
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))


def pod_name(job: dict) -> str:
    return f"{job['metadata']['name']}-{job['metadata'].get('uid', 'nouid').replace('-', '')[:5]}"


def message_file(namespace: str, pod: str) -> Path:
    return MESSAGES_DIR / f"{namespace}.{pod}.termination-log"


def resolv_file(namespace: str, pod: str) -> Path:
    """The pod's /etc/resolv.conf: cluster DNS at its node's private address (dnsPolicy ClusterFirst)."""
    return MESSAGES_DIR / f"{namespace}.{pod}.resolv.conf"


def _finished(job: dict) -> str:
    """'Complete', 'Failed' or ''."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return cond["type"]
    return ""


class JobController:
    """Called by the agent on every step with the lab's nodes; `submit(key, fn, *args)` runs slow work (image pull,
    container start) off the agent loop, `busy` holds the keys in flight, `write`/`write_status` are the agent's
    change-only writers."""

    def __init__(self, kube, submit, busy: dict, write, write_status):
        self.kube, self.submit, self.busy = kube, submit, busy
        self.write, self.write_status = write, write_status
        # pod container -> (reason, message, when): why the kubelet has not started it (retried after PULL_BACKOFF)
        self.waiting: dict[str, tuple[str, str, float]] = {}
        self.finished: list[tuple] = []  # Job status writes held until the step's Pod objects are written

    def reconcile(self, nodes: dict[str, dict], node_addresses: dict[str, str]) -> None:
        """nodes: instance id -> Node object; node_addresses: instance id -> the node's private address."""
        jobs = {(j["metadata"].get("namespace", "default"), j["metadata"]["name"]): j for j in self.kube.list("Job")}
        containers = {}
        for info in _inspect_jobs():
            labels = info["Config"]["Labels"]
            namespace, name = labels["edgelab.job"].split("/", 1)
            job = jobs.get((namespace, name))
            if job is None or job["metadata"].get("uid", "") != labels.get("edgelab.job-uid", ""):
                docker("rm", "-f", info["Name"].lstrip("/"), check=False)
                message_file(namespace, labels["edgelab.pod"]).unlink(missing_ok=True)
                resolv_file(namespace, labels["edgelab.pod"]).unlink(missing_ok=True)
                log.info("job %s/%s deleted: pod %s removed", namespace, name, labels["edgelab.pod"])
                continue
            if info["State"]["Running"] and labels.get("edgelab.instance") not in nodes:
                docker("kill", info["Name"].lstrip("/"), check=False)  # its node is gone: so is the pod
                log.info("job %s/%s: node %s gone, pod %s killed", namespace, name, labels.get("edgelab.instance"),
                         labels["edgelab.pod"])
            containers[(namespace, name)] = info
        ready = {i: n for i, n in nodes.items() if n["status"]["conditions"][0]["status"] == "True"}
        pod_objects = {}
        self.finished = []
        for (namespace, name), job in jobs.items():
            pod = self._reconcile_job(namespace, job, containers.get((namespace, name)), ready, node_addresses)
            if pod:
                pod_objects[(namespace, pod["metadata"]["name"])] = pod
        self._sync_pod_objects(pod_objects)
        # A Job finishes after its pod's terminal status is written, as the Job controller sees it from the kubelet:
        # whoever sees the Job's condition finds the pod's exit code and termination message.
        for args in self.finished:
            self.write_status(*args)

    # ---- one Job ----
    def _reconcile_job(self, namespace: str, job: dict, info: dict | None, ready: dict, addresses: dict) -> dict | None:
        spec, status = job.get("spec") or {}, dict(job.get("status") or {})
        template = spec.get("template") or {}
        pod_spec = template.get("spec") or {}
        name, pod = job["metadata"]["name"], pod_name(job)
        container = podlib.container_name(namespace, pod).replace("edgelab-pod.", "edgelab-job.", 1)
        finished = _finished(job)
        if finished:
            ttl = spec.get("ttlSecondsAfterFinished")
            done_at = status.get("completionTime") or _condition_time(status)
            if ttl is not None and done_at and time.time() - _epoch(done_at) >= ttl:
                self.kube.delete("Job", namespace, name)
                log.info("job %s/%s deleted after its TTL", namespace, name)
                return None
            return self._pod_object(namespace, job, pod, info, addresses)
        status.setdefault("startTime", _now())
        deadline = spec.get("activeDeadlineSeconds")
        overdue = deadline is not None and time.time() - _epoch(status["startTime"]) > deadline
        state = "pending"
        if info is not None:
            state = "running" if info["State"]["Running"] else "exited"
        if overdue and state != "exited":
            if info is not None:
                docker("kill", container, check=False)
            self._finish(namespace, name, status, "Failed", "DeadlineExceeded",
                         "Job was active longer than specified deadline")
            return self._pod_object(namespace, job, pod, info, addresses, deadline_exceeded=True)
        if state == "exited":
            code = info["State"]["ExitCode"]
            if code == 0:
                self._finish(namespace, name, status, "Complete", "", "")
            else:
                self._finish(namespace, name, status, "Failed", "BackoffLimitExceeded",
                             "Job has reached the specified backoff limit")
        elif state == "pending" and container not in self.busy and self._may_start(container):
            target = self._place(pod_spec, ready)
            if target:
                self.submit(container, self._start, namespace, job, pod, container, target, ready[target],
                            addresses.get(target, ""))
            status["active"] = 1
            self.write_status("Job", namespace, name, status)
        else:
            status["active"] = 1
            self.write_status("Job", namespace, name, status)
        return self._pod_object(namespace, job, pod, info, addresses)

    def _may_start(self, container: str) -> bool:
        reason = self.waiting.get(container)
        return reason is None or time.time() - reason[2] > PULL_BACKOFF

    def _finish(self, namespace: str, name: str, status: dict, kind: str, reason: str, message: str) -> None:
        now = _now()
        status.pop("active", None)
        status["succeeded" if kind == "Complete" else "failed"] = 1
        if kind == "Complete":
            status["completionTime"] = now
        cond = {"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
        if reason:
            cond.update(reason=reason, message=message)
        status["conditions"] = [cond]
        self.finished.append(("Job", namespace, name, status))
        log.info("job %s/%s %s%s", namespace, name, kind, f" ({reason})" if reason else "")

    @staticmethod
    def _place(pod_spec: dict, ready: dict) -> str | None:
        pinned = pod_spec.get("nodeName")
        for instance_id, node in sorted(ready.items()):
            if pinned:
                if node["metadata"]["name"] == pinned:
                    return instance_id
            elif podlib.node_matches(node["metadata"]["labels"], pod_spec) and podlib.tolerates(
                    node["spec"]["taints"], pod_spec.get("tolerations")):
                return instance_id
        return None

    def _start(self, namespace: str, job: dict, pod: str, container: str, instance_id: str, node: dict,
               address: str) -> None:
        pod_spec = job["spec"]["template"]["spec"]
        spec = pod_spec["containers"][0]
        try:
            image = podlib.pull(spec)
        except RuntimeError as exc:  # retried after PULL_BACKOFF, as the kubelet does
            self.waiting[container] = ("ErrImagePull", str(exc)[-300:], time.time())
            return
        try:
            security = podlib.security_args(pod_spec, spec, image)
        except podlib.PodConfigError as exc:  # the spec cannot change: not retried
            self.waiting[container] = ("CreateContainerConfigError", str(exc), float("inf"))
            log.info("job %s/%s: pod %s not created: %s", namespace, job["metadata"]["name"], pod, exc)
            return
        self.waiting.pop(container, None)
        message = message_file(namespace, pod)
        message.parent.mkdir(parents=True, exist_ok=True)
        message.write_text("")
        message.chmod(0o666)  # whatever user the container runs as may write its message
        resolv = resolv_file(namespace, pod)
        resolv.write_text(dns.resolv_conf(address, namespace))
        resolv.chmod(0o644)
        fields = {"status.hostIP": address, "status.podIP": address, "spec.nodeName": node["metadata"]["name"],
                  "metadata.name": pod, "metadata.namespace": namespace}
        args = ["run", "-d", "--name", container, "--network", "host", "--label", "edgelab.role=job",
                "--label", f"edgelab.job={namespace}/{job['metadata']['name']}",
                "--label", f"edgelab.job-uid={job['metadata'].get('uid', '')}", "--label", f"edgelab.pod={pod}",
                "--label", f"edgelab.instance={instance_id}", "--label", f"edgelab.node={node['metadata']['name']}",
                "-v", f"{message}:{spec.get('terminationMessagePath', '/dev/termination-log')}",
                "-v", f"{resolv}:/etc/resolv.conf:ro",
                *podlib.env_args(spec, fields), *security,
                *isolation.group_args(node["metadata"]["labels"].get(dns.ZONE_KEY, ""))]
        command = spec.get("command") or []
        if command:
            args += ["--entrypoint", command[0]]
        args += [image, *command[1:], *(spec.get("args") or [])]
        docker(*args)
        log.info("job %s/%s: pod %s started on %s", namespace, job["metadata"]["name"], pod, instance_id)

    # ---- Pod objects ----
    def _pod_object(self, namespace: str, job: dict, pod: str, info: dict | None, addresses: dict,
                    deadline_exceeded: bool = False) -> dict:
        template = (job.get("spec") or {}).get("template") or {}
        name, uid = job["metadata"]["name"], job["metadata"].get("uid", "")
        container = podlib.container_name(namespace, pod).replace("edgelab-pod.", "edgelab-job.", 1)
        labels = {**(template.get("metadata") or {}).get("labels", {}), "job-name": name,
                  "batch.kubernetes.io/job-name": name, "controller-uid": uid,
                  "batch.kubernetes.io/controller-uid": uid, JOB_POD_LABEL: "true"}
        node_name, host_ip, phase = "", "", "Pending"
        state: dict = {"waiting": {"reason": "ContainerCreating"}}
        if container in self.waiting:
            reason, message, _ = self.waiting[container]
            state = {"waiting": {"reason": reason, "message": message}}
        if info is not None:
            node_name = info["Config"]["Labels"].get("edgelab.node", "")
            host_ip = addresses.get(info["Config"]["Labels"].get("edgelab.instance", ""), "")
            if info["State"]["Running"]:
                phase, state = "Running", {"running": {"startedAt": info["State"]["StartedAt"][:19] + "Z"}}
            else:
                code = info["State"]["ExitCode"]
                phase = "Succeeded" if code == 0 else "Failed"
                state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                        "message": _read_message(namespace, pod),
                                        "startedAt": info["State"]["StartedAt"][:19] + "Z",
                                        "finishedAt": info["State"]["FinishedAt"][:19] + "Z"}}
        if deadline_exceeded and phase in ("Pending", "Running"):
            phase = "Failed"
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": namespace, "labels": labels,
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
                                                  "controller": True}]},
                "spec": {**(template.get("spec") or {}), "nodeName": node_name},
                "status": {"phase": phase, "hostIP": host_ip, "podIP": host_ip,
                           "containerStatuses": [{"name": ((template.get("spec") or {}).get("containers") or [{}])[0]
                                                  .get("name", "main"), "ready": phase == "Running",
                                                  "restartCount": 0, "state": state}]}}

    def _sync_pod_objects(self, wanted: dict) -> None:
        current = {(p["metadata"].get("namespace"), p["metadata"]["name"]): p for p in self.kube.list("Pod")
                   if JOB_POD_LABEL in p["metadata"].get("labels", {})}
        for namespace, name in set(current) - set(wanted):
            self.kube.delete("Pod", namespace, name)
        for key, obj in wanted.items():
            self.write(obj, current.get(key))
        for container in list(self.waiting):  # forget pods that are gone
            if not any(container.endswith(f".{ns}.{name}") for ns, name in wanted):
                self.waiting.pop(container, None)


def _inspect_jobs() -> list[dict]:
    ids = docker("ps", "-aq", "--filter", "label=edgelab.role=job").split()
    return json.loads(docker("inspect", *ids)) if ids else []


def _read_message(namespace: str, pod: str) -> str:
    with contextlib.suppress(OSError):
        return message_file(namespace, pod).read_bytes()[:MESSAGE_LIMIT].decode("utf-8", errors="replace")
    return ""


def _condition_time(status: dict) -> str:
    for cond in status.get("conditions") or []:
        if cond.get("lastTransitionTime"):
            return cond["lastTransitionTime"]
    return ""

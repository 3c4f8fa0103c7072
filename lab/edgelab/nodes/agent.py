"""The node agent loop (~1 s): EC2 ASG instances -> node containers + Nodes; Deployments -> pod containers;
Services NodePort -> listeners on the carrier address currently associated with the instance's ENI (auto-assigned
or elastic), reachable only from devices and nodes (see nodes/proxy.py), and on the node's private address
(config.VPC_NETWORK, what pods see as status.hostIP); Jobs -> run-to-completion pods (nodes/jobs.py); the coredns
add-on -> CoreDNS replicas placed per zone and cluster DNS on each node's private address (nodes/dns.py).
Implements the "Node agent contract" of docs/design.md.

All state is recoverable from docker labels, the node disks and the Kubernetes API, so the agent can restart.
Run with `python -m edgelab.nodes.agent`.
"""

import calendar
import hashlib
import ipaddress
import json
import logging
import secrets
import shutil
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from botocore.exceptions import ClientError

from edgelab import config
from edgelab.awsclient import client
from edgelab.dockerctl import docker
from edgelab.images import NODE_IMAGE
from edgelab.nodes import dns, isolation, netpol, userdata
from edgelab.nodes import pods as podlib
from edgelab.nodes.jobs import JobController
from edgelab.nodes.kubeapi import Kube
from edgelab.nodes.proxy import NodePortProxy

log = logging.getLogger("edgelab.agent")
HEARTBEAT = config.STATE_DIR / "run" / "agent.heartbeat"
ENFORCEMENT_TTL = 3.0  # seconds a vpc-cni add-on look-up is reused
INSTANCE_LABEL = "edgelab.lab/instance-id"  # on Nodes and Pods the agent manages
DNS_REPLICA_LABEL = "edgelab.lab/dns-replica"  # on the coredns add-on's Pod objects (value: the cluster)
DNS_NAMESPACE = "kube-system"
# The kube-dns Service as EKS creates it with a cluster (clusterIP: the 10th address of the service CIDR).
KUBE_DNS = {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": DNS_NAMESPACE,
                         "labels": {"k8s-app": "kube-dns", "eks.amazonaws.com/component": "kube-dns"}},
            "spec": {"type": "ClusterIP", "clusterIP": "172.20.0.10", "selector": {"k8s-app": "kube-dns"},
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}}
KUBELET_DROP_INS = "/etc/kubernetes/kubelet/config.json.d"  # kubelet --config-dir (nodeadm, Kubernetes 1.29+)
CLOUD_DIR = "/var/lib/cloud/instance"  # where cloud-init keeps the user-data parts on a real instance
RESTART_BACKOFF = 5.0


@dataclass
class Instance:
    id: str
    region: str
    zone: str
    type: str
    private_dns: str
    private_ip: str
    carrier_ip: str | None
    launch_template: dict | None  # {LaunchTemplateId|LaunchTemplateName, Version}
    instance_profile: dict | None = None  # {Arn, Id} as DescribeInstances shows it


def node_container(instance_id: str) -> str:
    return f"edgelab-node-{instance_id}"


def node_dir(instance_id: str) -> Path:
    return config.NODES_DIR / instance_id


def inspect_role(role: str) -> list[dict]:
    ids = docker("ps", "-aq", "--filter", f"label=edgelab.role={role}").split()
    return json.loads(docker("inspect", *ids)) if ids else []


def started_at(info: dict) -> float:
    return calendar.timegm(time.strptime(info["State"]["StartedAt"][:19], "%Y-%m-%dT%H:%M:%S"))


class Agent:
    def __init__(self):
        self.kube = Kube()
        self.ec2 = {r: client("ec2", r) for r in config.REGIONS}
        self.eks = {r: client("eks", r) for r in config.REGIONS}
        self.iam, self.sts = client("iam"), client("sts")  # instance profiles -> node credentials
        self.enforcing: dict = {}  # (region, cluster) -> (monotonic time, vpc-cni enforces NetworkPolicies)
        self.node_clusters: dict[str, str] = {}  # instance id -> its NodeConfig's cluster name
        self.autoscaling = {r: client("autoscaling", r) for r in config.REGIONS}
        self.proxy = NodePortProxy()
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="work")
        self.busy: dict[str, Future] = {}  # node boots and pod starts in flight, by container name
        self.starting: dict[str, podlib.Pod] = {}  # pods whose container is being pulled/created
        self.restarts: dict[str, tuple[int, float]] = {}  # pod container -> (count, last restart time)
        self.last_states: dict[str, dict] = {}  # pod container -> why it last stopped (OOMKilled, Error, probe)
        self.probes: dict[str, podlib.ProbeState] = {}  # pod container -> its probes' bookkeeping
        self.written: dict[tuple, str] = {}  # last object/status written to Kubernetes, to skip no-op patches
        self.doomed: list[podlib.Pod] = []  # pods to stop once the proxy forgot them
        self.terminating: dict[str, podlib.Pod] = {}  # deleted pods in their grace period, by container name
        self.cordoned: set[str] = set()  # instance ids whose Node is unschedulable
        self.carrier_ips: dict[str, str | None] = {}  # instance id -> carrier address last seen
        self.vpc_ips: dict[str, str] = {}  # instance id -> the node's private address in the lab (VPC_NETWORK)
        self.fence = isolation.Fence()  # drops traffic between nodes of two Wavelength zones
        self.jobs = JobController(self.kube, self.submit, self.busy, self.write, self.write_status)
        self.coredns: dict = {}  # (region, cluster) -> (monotonic time, the coredns add-on's values or None)
        self.dns_placement: dict[tuple[str, str], dict[str, str]] = {}  # (region, cluster) -> replica -> node name
        self.dns_routers: dict[str, dns.DnsRouter] = {}  # node private address -> its cluster's router
        self.dns_names: dict[tuple[str, str], str] = {}  # (service, namespace) -> its address (what lookups answer)
        self.dns = dns.DnsServer(self.route_dns, self.lookup_dns)

    # ---- EC2 ----
    def instances(self) -> dict[str, Instance]:
        """InService instances of every ASG, in every lab region."""
        found: dict[str, Instance] = {}
        for region in config.REGIONS:
            templates, ids = {}, []
            pages = self.autoscaling[region].get_paginator("describe_auto_scaling_groups").paginate()
            for group in (g for page in pages for g in page["AutoScalingGroups"]):
                mixed = (group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}
                default = group.get("LaunchTemplate") or mixed.get("LaunchTemplateSpecification")
                for inst in group.get("Instances", []):
                    if inst.get("LifecycleState") == "InService":
                        ids.append(inst["InstanceId"])
                        templates[inst["InstanceId"]] = inst.get("LaunchTemplate") or default
            if not ids:
                continue
            reservations = self.ec2[region].describe_instances(InstanceIds=ids)["Reservations"]
            for inst in (i for r in reservations for i in r["Instances"]):
                if inst["State"]["Name"] != "running":
                    continue
                eni = (inst.get("NetworkInterfaces") or [{}])[0]
                found[inst["InstanceId"]] = Instance(
                    id=inst["InstanceId"], region=region, zone=inst["Placement"]["AvailabilityZone"],
                    type=inst["InstanceType"], private_dns=inst.get("PrivateDnsName") or inst["InstanceId"],
                    private_ip=inst.get("PrivateIpAddress", ""),
                    carrier_ip=(eni.get("Association") or {}).get("CarrierIp"),
                    launch_template=templates.get(inst["InstanceId"]),
                    instance_profile=inst.get("IamInstanceProfile"))
        # The carrier address is re-read on every step: associating an elastic carrier IP (or disassociating it)
        # moves the node's NodePorts and its ExternalIP within one reconcile period.
        for instance_id, inst in found.items():
            if instance_id in self.carrier_ips and self.carrier_ips[instance_id] != inst.carrier_ip:
                log.info("node %s: carrier address %s -> %s", instance_id, self.carrier_ips[instance_id],
                         inst.carrier_ip)
        self.carrier_ips = {i: inst.carrier_ip for i, inst in found.items()}
        self.assign_vpc_addresses(found)
        # before any container of a new node starts: its address is fenced off from the other Wavelength zones
        self.fence.sync({self.vpc_ips[i]: inst.zone for i, inst in found.items()})
        return found

    def assign_vpc_addresses(self, instances: dict[str, Instance]) -> None:
        """A private address per node, kept while the node lives: the lowest free one of config.VPC_NETWORK."""
        self.vpc_ips = {i: a for i, a in self.vpc_ips.items() if i in instances}
        hosts = (str(h) for h in ipaddress.ip_network(config.VPC_NETWORK).hosts())
        free = [h for h in hosts if h not in self.vpc_ips.values()]
        for instance_id in sorted(set(instances) - set(self.vpc_ips)):
            self.vpc_ips[instance_id] = free.pop(0)

    def template_data(self, inst: Instance) -> dict:
        """LaunchTemplateData of the launch template version the instance was launched from ({} without one)."""
        lt = inst.launch_template
        if not lt:
            return {}
        ref = {k: lt[k] for k in ("LaunchTemplateId", "LaunchTemplateName") if lt.get(k)}
        versions = self.ec2[inst.region].describe_launch_template_versions(
            **ref, Versions=[str(lt.get("Version") or "$Default")])
        return versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]

    def user_data(self, inst: Instance) -> str:
        data = self.template_data(inst).get("UserData")
        if data:
            return data
        attr = self.ec2[inst.region].describe_instance_attribute(InstanceId=inst.id, Attribute="userData")
        return (attr.get("UserData") or {}).get("Value", "")

    def node_credentials(self, inst: Instance) -> dict:
        """What the instance metadata service hands a node: temporary credentials of its instance profile's role
        (an STS session named after the instance, 1 h), none without a profile. Given once, at boot."""
        profile = inst.instance_profile or self.template_data(inst).get("IamInstanceProfile") or {}
        name = profile.get("Name") or profile.get("Arn", "").rsplit("/", 1)[-1]
        if not name:
            log.warning("%s has no instance profile: its user data gets no AWS credentials", inst.id)
            return {}
        try:
            roles = self.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
            session = self.sts.assume_role(RoleArn=roles[0]["Arn"], RoleSessionName=inst.id,
                                           DurationSeconds=3600)["Credentials"]
        except (ClientError, IndexError) as e:
            log.warning("%s: no credentials from instance profile %s: %s", inst.id, name, e)
            return {}
        return {"AWS_ACCESS_KEY_ID": session["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
                "AWS_SESSION_TOKEN": session["SessionToken"]}

    # ---- nodes ----
    def boot(self, inst: Instance) -> None:
        """Start the node container and run the user data's shell parts; record the outcome in boot.json."""
        disk, name = node_dir(inst.id), node_container(inst.id)
        for sub in ("var-lib-edgeml", "etc-edgeml", "cloud/scripts", "kubelet-config.d"):
            (disk / sub).mkdir(parents=True, exist_ok=True)
        (disk / "boot.json").unlink(missing_ok=True)
        docker("rm", "-f", name, check=False)
        creds = {**self.node_credentials(inst), "AWS_ENDPOINT_URL": config.AWS_URL,
                 "AWS_DEFAULT_REGION": inst.region, "AWS_REGION": inst.region, "AWS_EC2_METADATA_DISABLED": "true"}
        docker("run", "-d", "--name", name, "--network", "host", "--hostname", inst.private_dns,
               "--label", "edgelab.role=node", "--label", f"edgelab.instance={inst.id}",
               *isolation.group_args(inst.zone),
               *(arg for k, v in creds.items() for arg in ("-e", f"{k}={v}")),
               "-v", f"{disk / 'var-lib-edgeml'}:/var/lib/edgeml", "-v", f"{disk / 'etc-edgeml'}:/etc/edgeml",
               "-v", f"{disk / 'kubelet-config.d'}:{KUBELET_DROP_INS}",
               "-v", f"{disk / 'cloud'}:{CLOUD_DIR}", NODE_IMAGE, "sleep", "infinity")
        parsed = userdata.parse(self.user_data(inst))
        cluster = (((parsed.nodeconfig or {}).get("spec") or {}).get("cluster") or {}).get("name", "")
        result = {"ok": True, "labels": parsed.labels, "taints": [], "reason": "", "message": "",
                  "user_data_failures": [], "cluster": cluster}
        logfile = disk / "user-data.log"  # the console output (GetConsoleOutput, lab/edgelab/aws/console.py)
        with open(logfile, "wb") as out:
            if parsed.errors:
                result.update(ok=False, reason="NodeConfigInvalid", message="; ".join(parsed.errors))
            # As cloud-init's scripts_user: every part runs, a failed one is logged and the boot goes on; on AL2023
            # nodeadm-run is ordered after cloud-final without requiring it, so the node joins either way.
            for i, script in enumerate(parsed.shell_parts if result["ok"] else []):
                part = f"part-{i + 1:03d}"
                (disk / "cloud/scripts" / part).write_text(script)
                out.write(f"=== {part}\n".encode())
                out.flush()
                rc = subprocess_rc(["docker", "exec", name, "bash", f"{CLOUD_DIR}/scripts/{part}"], out)
                if rc != 0:
                    out.write(f"util.py[WARNING]: Failed running {CLOUD_DIR}/scripts/{part} [{rc}]\n".encode())
                    result["user_data_failures"].append(f"{part} exited {rc}")
            if result["user_data_failures"]:
                out.write(b"cc_scripts_user.py[WARNING]: Failed to run module scripts_user\n")
        if result["ok"]:
            try:
                # nodeadm passes --config-dir only when the NodeConfig has kubelet.config (Kubernetes 1.29+);
                # kubelet refuses a drop-in without apiVersion and kind.
                files = sorted((disk / "kubelet-config.d").glob("*.conf")) if parsed.kubelet_config else []
                drop_ins = [yaml.safe_load(f.read_text()) or {} for f in files]
                for f, doc in zip(files, drop_ins, strict=True):
                    if not isinstance(doc, dict) or doc.get("kind") != "KubeletConfiguration" or \
                            not str(doc.get("apiVersion", "")).startswith("kubelet.config.k8s.io/"):
                        raise ValueError(f"{f.name} is not a KubeletConfiguration with apiVersion and kind")
            except (yaml.YAMLError, ValueError) as e:  # kubelet refuses to start on a bad drop-in
                result.update(ok=False, reason="KubeletConfigInvalid", message=f"{KUBELET_DROP_INS}: {e}")
            else:
                result["taints"] = userdata.register_taints(parsed.kubelet_config, drop_ins, parsed.taints)
        (disk / "boot.json").write_text(json.dumps(result))
        log.info("node %s booted: %s", inst.id, result["reason"] or "ok")

    def reconcile_nodes(self, instances: dict[str, Instance]) -> dict[str, dict]:
        """Returns the Node objects of the lab, by instance id (only nodes whose boot finished)."""
        containers = {c["Config"]["Labels"]["edgelab.instance"]: c for c in inspect_role("node")}
        for instance_id, info in containers.items():  # terminated instances: container, pods and disk go away
            if instance_id not in instances and node_container(instance_id) not in self.busy:
                docker("rm", "-f", info["Name"].lstrip("/"), check=False)
                shutil.rmtree(node_dir(instance_id), ignore_errors=True)
                log.info("node %s terminated", instance_id)
        nodes: dict[str, dict] = {}
        for inst in instances.values():
            name = node_container(inst.id)
            boot_file = node_dir(inst.id) / "boot.json"
            if name in self.busy:
                continue
            if inst.id not in containers or not boot_file.exists():
                self.submit(name, self.boot, inst)
                continue
            result = json.loads(boot_file.read_text())
            if not containers[inst.id]["State"]["Running"]:
                result.update(ok=False, reason="KubeletNotRunning", message="node container stopped")
            nodes[inst.id] = self.node_object(inst, result)
            self.node_clusters[inst.id] = result.get("cluster", "")
        current = {n["metadata"]["name"]: n for n in self.kube.list("Node")
                   if INSTANCE_LABEL in n["metadata"].get("labels", {})}
        # Cordoned (kubectl cordon, spec.unschedulable): no new pods; the pods there keep running.
        self.cordoned = {n["metadata"]["labels"][INSTANCE_LABEL] for n in current.values()
                         if (n.get("spec") or {}).get("unschedulable")}
        wanted = {n["metadata"]["name"] for n in nodes.values()}
        for name in set(current) - wanted:
            self.kube.delete("Node", None, name)
            self.written.pop(("Node", None, name), None)
        for node in nodes.values():
            self.write(node, current.get(node["metadata"]["name"]))
        return nodes

    def node_object(self, inst: Instance, boot: dict) -> dict:
        labels = {**boot["labels"], "topology.kubernetes.io/zone": inst.zone,
                  "topology.kubernetes.io/region": inst.region, "node.kubernetes.io/instance-type": inst.type,
                  "kubernetes.io/hostname": inst.private_dns, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", INSTANCE_LABEL: inst.id}
        addresses = [{"type": "InternalIP", "address": inst.private_ip},
                     {"type": "Hostname", "address": inst.private_dns}]
        if inst.carrier_ip:
            addresses.append({"type": "ExternalIP", "address": inst.carrier_ip})
        ready = {"type": "Ready", "status": "True" if boot["ok"] else "False",
                 "reason": "KubeletReady" if boot["ok"] else boot["reason"],
                 "message": "kubelet is posting ready status" if boot["ok"] else boot["message"]}
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": inst.private_dns, "labels": labels},
                "spec": {"providerID": f"aws:///{inst.zone}/{inst.id}", "taints": boot["taints"]},
                "status": {"conditions": [ready], "addresses": addresses,
                           "nodeInfo": {"kubeletVersion": "v1.33.0-edgelab", "operatingSystem": "linux",
                                        "architecture": "amd64", "containerRuntimeVersion": "docker://lab",
                                        # All required by the Kubernetes python client's V1NodeSystemInfo.
                                        "bootID": inst.id, "machineID": inst.id,
                                        "systemUUID": inst.id, "kernelVersion": "lab",
                                        "kubeProxyVersion": "v1.33.0-edgelab",
                                        "osImage": "Amazon Linux 2023 (edgelab node)"}}}

    # ---- pods and Deployments ----
    def current_pods(self) -> list[podlib.Pod]:
        result = []
        for info in inspect_role("pod"):
            labels = info["Config"]["Labels"]
            namespace, deployment = labels["edgelab.deployment"].split("/", 1)
            running = info["State"]["Running"]
            pre_stop, grace = json.loads(labels.get("edgelab.termination", "[0, 30]"))
            container = podlib.container_name(namespace, labels["edgelab.pod"])
            state = info["State"]
            if not running and not state.get("FinishedAt", "0001").startswith("0001"):  # it ran and stopped
                self.last_states[container] = {
                    "reason": "OOMKilled" if state.get("OOMKilled") else ("Completed" if state.get("ExitCode") == 0
                                                                         else "Error"),
                    "exitCode": state.get("ExitCode")}
            result.append(podlib.Pod(
                name=labels["edgelab.pod"], namespace=namespace, deployment=deployment,
                template_hash=labels["edgelab.template"], instance_id=labels["edgelab.instance"],
                port=int(labels["edgelab.port"]), labels=json.loads(labels["edgelab.labels"]), running=running,
                started_at=started_at(info) if running else 0.0,
                restarts=self.restarts.get(container, (0, 0))[0], pre_stop=pre_stop, grace=grace,
                deleted_at=self.terminating[container].deleted_at if container in self.terminating else 0.0,
                last_state=self.last_states.get(container)))
        return result

    def health(self, pod: podlib.Pod, container: dict) -> bool:
        """The kubelet's probes for a running pod: until the startupProbe succeeds, neither liveness nor readiness
        runs and the pod is not ready; a startup or liveness probe failing failureThreshold times in a row restarts
        the container (restartCount + 1); then readiness decides."""
        if not pod.running:
            return False
        state = self.probes.get(pod.container)
        if state is None or state.started_at != pod.started_at:  # a new run of the container
            state = self.probes[pod.container] = podlib.ProbeState(started_at=pod.started_at)
        startup, liveness = container.get("startupProbe"), container.get("livenessProbe")
        if startup and not state.started:
            state.started = state.run("startup", pod, startup) is True
            if not state.started:
                if state.failed("startup", startup):
                    self.restart(pod, "startup probe failed")
                return False
        if liveness and state.run("liveness", pod, liveness) is False and state.failed("liveness", liveness):
            self.restart(pod, "liveness probe failed")
            return False
        return podlib.probe(pod, container)

    def restart(self, pod: podlib.Pod, why: str) -> None:
        """Kill and start the container again, as the kubelet does when a probe fails (grace period applies)."""
        if pod.container in self.busy:
            return
        count, _ = self.restarts.get(pod.container, (0, 0.0))
        self.restarts[pod.container] = (count + 1, time.time())
        self.last_states[pod.container] = {"reason": "Error", "exitCode": 137, "message": why}
        self.probes.pop(pod.container, None)
        log.info("pod %s/%s: %s, restarting its container", pod.namespace, pod.name, why)
        grace = str(max(1, int(pod.grace)))
        self.submit(pod.container, lambda c=pod.container: docker("restart", "-t", grace, c, check=False))

    def remove_pod(self, pod: podlib.Pod) -> None:
        """Stop a pod at the end of this step, after the NodePort backends no longer list it (as endpoints
        are removed before a pod terminates), so that rolling updates drop no connection. Used when its node is
        gone; the Deployment controller deletes pods gracefully (delete_pod)."""
        self.doomed.append(pod)

    def delete_pod(self, pod: podlib.Pod) -> None:
        """Graceful deletion as the kubelet does it: the pod is Terminating (deletionTimestamp) and leaves the
        Service endpoints as ready, runs its preStop sleep, then gets SIGTERM and, after the rest of its grace period,
        SIGKILL. While terminating it still answers on its node's NodePorts when no ready pod of the Service is
        left on that node (externalTrafficPolicy Local with terminating endpoints, Kubernetes 1.28+)."""
        if not pod.running:
            self.remove_pod(pod)
            return
        pod.deleted_at = time.time()
        self.terminating[pod.container] = pod
        log.info("pod %s/%s terminating (preStop %.0f s, grace %.0f s)", pod.namespace, pod.name, pod.pre_stop,
                 pod.grace)

    def finish_terminating(self, pods: list[podlib.Pod]) -> None:
        """Stop terminating pods whose preStop time is over; forget the ones whose container is gone."""
        present = {p.container for p in pods}
        for container, pod in list(self.terminating.items()):
            if container not in present:
                del self.terminating[container]
                self.forget(container)
                log.info("pod %s/%s removed", pod.namespace, pod.name)
            elif time.time() >= pod.deleted_at + pod.pre_stop and container not in self.busy:
                stop = max(1, int(pod.grace - pod.pre_stop))
                self.submit(container, lambda c=container, t=stop: (docker("stop", "-t", str(t), c, check=False),
                                                                    docker("rm", "-f", c, check=False)))

    def reap(self) -> None:
        for pod in self.doomed:
            docker("rm", "-f", pod.container, check=False)
            self.forget(pod.container)
            log.info("pod %s/%s removed", pod.namespace, pod.name)
        self.doomed.clear()

    def forget(self, container: str) -> None:
        for memory in (self.restarts, self.last_states, self.probes):
            memory.pop(container, None)
        for directory in config.NODES_DIR.glob(f"*/pods/{container}"):  # its emptyDir volumes
            shutil.rmtree(directory, ignore_errors=True)

    def start_pod(self, pod: podlib.Pod, spec: dict, zone: str) -> None:
        try:
            podlib.run_pod(pod, spec, str(node_dir(pod.instance_id) / "var-lib-edgeml"), zone)
            log.info("pod %s/%s started on %s (port %d)", pod.namespace, pod.name, pod.instance_id, pod.port)
        except Exception:
            self.forget(pod.container)  # a pod that never started leaves nothing behind
            raise
        finally:
            self.starting.pop(pod.container, None)

    def reconcile_deployments(self, nodes: dict[str, dict], instances: dict[str, Instance]) -> list[podlib.Pod]:
        ready_nodes = {i: n for i, n in nodes.items() if n["status"]["conditions"][0]["status"] == "True"}
        schedulable = {i for i in ready_nodes if i not in self.cordoned}
        all_pods = self.current_pods()
        self.finish_terminating(all_pods)
        leaving = [p for p in all_pods if p.deleted_at]
        for pod in leaving:
            if pod.instance_id not in ready_nodes:
                self.remove_pod(pod)
        all_pods = [p for p in all_pods if not p.deleted_at]
        for pod in all_pods:  # crash loop: restart exited containers after a back-off
            count, last = self.restarts.get(pod.container, (0, 0.0))
            if not pod.running and time.time() - last > RESTART_BACKOFF:
                docker("start", pod.container, check=False)
                self.restarts[pod.container] = (count + 1, time.time())
        deployments = {(d["metadata"].get("namespace", "default"), d["metadata"]["name"]): d
                       for d in self.kube.list("Deployment")}
        live: list[podlib.Pod] = []
        for pod in all_pods:
            if pod.instance_id not in ready_nodes:
                self.remove_pod(pod)
            elif (pod.namespace, pod.deployment) not in deployments:
                self.delete_pod(pod)
            else:
                live.append(pod)
        for (namespace, name), deploy in deployments.items():
            template = deploy.get("spec", {}).get("template", {})
            spec = template.get("spec", {})
            if not spec.get("containers"):
                continue
            current_hash = podlib.template_hash(template)
            mine = [p for p in live if (p.namespace, p.deployment) == (namespace, name)]
            for pod in mine:
                pod.ready = self.health(pod, spec["containers"][0])
            pending = [p for p in self.starting.values() if (p.namespace, p.deployment) == (namespace, name)]
            new = [p for p in mine + pending if p.template_hash == current_hash]
            old = [p for p in mine if p.template_hash != current_hash]
            want = deploy.get("spec", {}).get("replicas", 1)
            # scale the current template to `want` (surge: new pods start before old ones stop)
            for pod in sorted((p for p in new if p in mine), key=lambda p: p.ready)[:max(0, len(new) - want)]:
                self.delete_pod(pod)
                new.remove(pod)
            candidates = [i for i, n in ready_nodes.items() if i in schedulable
                          and podlib.node_matches(n["metadata"]["labels"], spec)
                          and podlib.tolerates(n["spec"]["taints"], spec.get("tolerations"))]
            for _ in range(want - len(new)):
                if not candidates:
                    break
                # spread: the node (then zone) with the fewest pods of this Deployment
                load = {i: sum(p.instance_id == i for p in new) for i in candidates}
                zone_load = {z: sum(load[i] for i in candidates if instances[i].zone == z)
                             for z in {instances[i].zone for i in candidates}}
                target = min(candidates, key=lambda i: (load[i], zone_load[instances[i].zone], i))
                pod = podlib.Pod(name=f"{name}-{current_hash}-{secrets.token_hex(3)}", namespace=namespace,
                                 deployment=name, template_hash=current_hash, instance_id=target,
                                 port=podlib.free_port(),
                                 labels={**template.get("metadata", {}).get("labels", {}),
                                         "pod-template-hash": current_hash})
                self.starting[pod.container] = pod
                new.append(pod)
                self.submit(pod.container, self.start_pod, pod, spec, instances[target].zone)
            # rolling update: an old pod stops only when a new one is ready to replace it
            keep_old = max(0, want - sum(p.ready for p in new))
            for pod in sorted(old, key=lambda p: p.ready)[:max(0, len(old) - keep_old)]:
                self.delete_pod(pod)
                old.remove(pod)
            status = podlib.deployment_status(deploy, new + old, current_hash)
            self.write_status("Deployment", namespace, name, status)
            live = [p for p in live if (p.namespace, p.deployment) != (namespace, name)] + new + old
        for pod in leaving:  # serving while terminating: the readiness probe still runs
            pod.ready = pod.instance_id in ready_nodes and podlib.probe(
                pod, ((deployments.get((pod.namespace, pod.deployment)) or {}).get("spec", {}).get("template", {})
                      .get("spec", {}).get("containers") or [{}])[0])
        terminating = list(({p.container: p for p in self.terminating.values()}
                            | {p.container: p for p in leaving}).values())
        terminating = [p for p in terminating if p.instance_id in ready_nodes]
        self.sync_pod_objects([p for p in live if p.container not in self.starting] + list(self.starting.values())
                              + terminating, nodes)
        return live + terminating

    def sync_pod_objects(self, pods: list[podlib.Pod], nodes: dict[str, dict]) -> None:
        """Mirror pods as Pod objects (read-only view for k8s_info users)."""
        current = {(p["metadata"].get("namespace"), p["metadata"]["name"]): p for p in self.kube.list("Pod")
                   if INSTANCE_LABEL in p["metadata"].get("labels", {})}
        wanted = {(p.namespace, p.name): p for p in pods}
        for namespace, name in set(current) - set(wanted):
            self.kube.delete("Pod", namespace, name)
            self.written.pop(("Pod", namespace, name), None)
        for key, pod in wanted.items():
            node = nodes.get(pod.instance_id, {}).get("metadata", {}).get("name", "")
            phase = "Running" if pod.running else "Pending"
            ready = "True" if pod.ready else "False"
            meta = {"name": pod.name, "namespace": pod.namespace,
                    "labels": {**pod.labels, INSTANCE_LABEL: pod.instance_id}}
            if pod.deleted_at:
                meta |= {"deletionTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(pod.deleted_at)),
                         "deletionGracePeriodSeconds": int(pod.grace)}
            self.write({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                        "spec": {"nodeName": node},
                        "status": {"phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
                                   "conditions": [{"type": "Ready", "status": ready}],
                                   "containerStatuses": [{"name": "main", "ready": pod.ready,
                                                          "restartCount": pod.restarts,
                                                          **({"lastState": {"terminated": pod.last_state}}
                                                             if pod.last_state else {})}]}}, current.get(key))

    # ---- Services ----
    def reconcile_services(self, nodes: dict[str, dict], instances: dict[str, Instance],
                           pods: list[podlib.Pod]) -> None:
        desired: dict[tuple[str, int], list[tuple]] = {}
        policies = None  # NetworkPolicies, read once per pass when some node enforces them
        named = None  # (namespace, deployment, port name) -> container port, read once when a Service names one
        for svc in self.kube.list("Service"):
            spec = svc.get("spec", {})
            if spec.get("type") != "NodePort" or not spec.get("selector"):
                continue
            namespace = svc["metadata"].get("namespace", "default")
            for instance_id in nodes:
                inst = instances[instance_id]
                enforce = self.network_policy_enforced(inst.region, self.node_clusters.get(instance_id, ""))
                if enforce and policies is None:
                    policies = self.kube.list("NetworkPolicy")
                selected = [p for p in pods if p.ready and p.instance_id == instance_id and p.namespace == namespace
                            and all(p.labels.get(k) == v for k, v in spec["selector"].items())]
                # Ready pods; only when the node has none, its terminating pods that still serve.
                node_pods = [p for p in selected if not p.deleted_at] or selected
                for port in spec.get("ports", []):
                    if not port.get("nodePort"):
                        continue
                    target = port.get("targetPort", port.get("port"))
                    if enforce and isinstance(target, str) and named is None:
                        named = self.named_container_ports()
                    backends = [(config.KUBE_HOST, p.port, netpol.ingress_for(
                        policies, namespace, p.labels,
                        target if isinstance(target, int) else named.get((namespace, p.deployment, target), 0),
                        None if isinstance(target, int) else target) if enforce else netpol.ANY)
                        for p in node_pods]
                    # The carrier address (devices and the VPC only; NetworkPolicies enforced there) and the private
                    # address (inside the cluster: the lab cannot tell pods by address, so no policy applies).
                    if inst.carrier_ip:
                        desired[(inst.carrier_ip, int(port["nodePort"]))] = backends
                    if self.vpc_ips.get(instance_id):
                        desired[(self.vpc_ips[instance_id], int(port["nodePort"]))] = [
                            (host, hostport, netpol.ANY) for host, hostport, _ in backends]
        self.proxy.sync(desired)

    def named_container_ports(self) -> dict:
        """(namespace, deployment, port name) -> containerPort of the Deployments' first container."""
        out = {}
        for dep in self.kube.list("Deployment"):
            meta = dep.get("metadata", {})
            containers = (((dep.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
            for port in containers[0].get("ports") or []:
                if port.get("name"):
                    out[(meta.get("namespace", "default"), meta.get("name"), port["name"])] = port["containerPort"]
        return out

    def network_policy_enforced(self, region: str, cluster: str) -> bool:
        """Whether the node's cluster has the vpc-cni add-on with enableNetworkPolicy "true" (cached a few seconds)."""
        if not cluster:
            return False
        cached = self.enforcing.get((region, cluster))
        if cached and time.monotonic() - cached[0] < ENFORCEMENT_TTL:
            return cached[1]
        try:
            addon = self.eks[region].describe_addon(clusterName=cluster, addonName="vpc-cni")["addon"]
            values = yaml.safe_load(addon.get("configurationValues") or "") or {}
            enforced = addon.get("status") == "ACTIVE" and str(values.get("enableNetworkPolicy")) == "true"
        except Exception:  # no add-on (ResourceNotFound), no cluster, endpoint busy: not enforced
            enforced = False
        self.enforcing[(region, cluster)] = (time.monotonic(), enforced)
        return enforced

    # ---- cluster DNS (the coredns add-on) ----
    def coredns_values(self, region: str, cluster: str) -> dict | None:
        """The coredns add-on's configuration values when it is ACTIVE on the cluster, else None (cached)."""
        cached = self.coredns.get((region, cluster))
        if cached and time.monotonic() - cached[0] < ENFORCEMENT_TTL:
            return cached[1]
        try:
            addon = self.eks[region].describe_addon(clusterName=cluster, addonName="coredns")["addon"]
            values = (yaml.safe_load(addon.get("configurationValues") or "") or {}) \
                if addon.get("status") in ("ACTIVE", "UPDATING", "DEGRADED") else None
        except Exception:  # no add-on (ResourceNotFound), no cluster, endpoint busy: no CoreDNS
            values = None
        self.coredns[(region, cluster)] = (time.monotonic(), values)
        return values

    def reconcile_dns(self, nodes: dict[str, dict], instances: dict[str, Instance]) -> None:
        """Place each cluster's CoreDNS replicas (no containers: the agent answers for them), mirror them as Pods
        in kube-system, and serve cluster DNS on every node's private address through its cluster's router."""
        services = self.kube.list("Service")
        kube_dns = next((s for s in services if s["metadata"].get("namespace") == DNS_NAMESPACE
                         and s["metadata"]["name"] == "kube-dns"), None)
        if kube_dns is None:  # EKS creates it with the cluster; the lab has one Kubernetes API for all clusters
            self.kube.apply(KUBE_DNS, None)
            kube_dns = KUBE_DNS
        distribution = (kube_dns.get("spec") or {}).get("trafficDistribution")
        self.dns_names = {(s["metadata"]["name"], s["metadata"].get("namespace", "default")):
                          (s.get("spec") or {}).get("clusterIP") or _service_address(s) for s in services}
        clusters: dict[tuple[str, str], list[str]] = {}
        for instance_id in nodes:
            clusters.setdefault((instances[instance_id].region, self.node_clusters.get(instance_id, "")),
                                []).append(instance_id)
        routers, pods = {}, {}
        for (region, cluster), members in clusters.items():
            values = self.coredns_values(region, cluster) if cluster else None
            infos = {nodes[i]["metadata"]["name"]: dns.NodeInfo.from_node(nodes[i]) for i in members}
            for i in members:
                infos[nodes[i]["metadata"]["name"]].schedulable = i not in self.cordoned
            placement = {} if values is None else dns.place_replicas(
                int(values.get("replicaCount", 2)), list(infos.values()), self.dns_placement.get((region, cluster), {}),
                values.get("topologySpreadConstraints") or [], values.get("tolerations") or [],
                prefix=f"coredns-{cluster}")
            self.dns_placement[(region, cluster)] = placement
            router = dns.DnsRouter()
            router.update({self.vpc_ips[i]: instances[i].zone for i in members if i in self.vpc_ips},
                          [(pod, infos[node].zone) for pod, node in placement.items()], distribution)
            routers |= {self.vpc_ips[i]: router for i in members if i in self.vpc_ips}
            for pod, node in placement.items():
                pods[pod] = {"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": pod, "namespace": DNS_NAMESPACE,
                                          "labels": {"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns",
                                                     DNS_REPLICA_LABEL: cluster}},
                             "spec": {"nodeName": node},
                             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
        self.dns_routers = routers
        self.dns.sync(routers)
        current = {p["metadata"]["name"]: p for p in self.kube.list("Pod")
                   if DNS_REPLICA_LABEL in p["metadata"].get("labels", {})}
        for name in set(current) - set(pods):
            self.kube.delete("Pod", DNS_NAMESPACE, name)
            self.written.pop(("Pod", DNS_NAMESPACE, name), None)
        for name, pod in pods.items():
            self.write(pod, current.get(name))

    def route_dns(self, address: str) -> tuple[bool, str]:
        router = self.dns_routers.get(address)
        return router(address) if router else (False, f"no node at {address}")

    def lookup_dns(self, name: str) -> list[str] | None:
        if name.rstrip(".").lower() == "kubernetes.default.svc.cluster.local":
            return ["172.20.0.1"]
        service = dns.service_name(name)
        address = self.dns_names.get(service) if service else None
        return [address] if address else None

    # ---- plumbing ----
    def submit(self, key: str, fn, *args) -> None:
        def done(fut: Future) -> None:
            self.busy.pop(key, None)
            if fut.exception():
                log.error("%s failed: %s", key, fut.exception())
        self.busy[key] = fut = self.pool.submit(fn, *args)
        fut.add_done_callback(done)

    def write(self, obj: dict, current: dict | None) -> None:
        key = (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        text = json.dumps(obj, sort_keys=True)
        if current is None or self.written.get(key) != text:
            self.kube.apply(obj, current)
            self.written[key] = text

    def write_status(self, kind: str, namespace: str, name: str, status: dict) -> None:
        key = (kind, namespace, name, "status")
        # compare without timestamps so that an unchanged status is not re-patched every second
        text = json.dumps([{k: v for k, v in c.items() if not k.endswith("Time")} for c in status.get("conditions", [])]
                          + [{k: v for k, v in status.items() if k != "conditions"}], sort_keys=True)
        if self.written.get(key) != text:
            self.kube.patch_status(kind, namespace, name, status)
            self.written[key] = text

    def step(self) -> None:
        instances = self.instances()
        nodes = self.reconcile_nodes(instances)
        try:
            pods = self.reconcile_deployments(nodes, instances)
            self.reconcile_services(nodes, instances, pods)
            self.jobs.reconcile(nodes, {i: self.vpc_ips[i] for i in nodes if i in self.vpc_ips})
            self.reconcile_dns(nodes, instances)
        finally:
            self.reap()

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        HEARTBEAT.parent.mkdir(parents=True, exist_ok=True)
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.step()
                HEARTBEAT.touch()
            except Exception as exc:  # a lab service restarting must not kill the agent
                log.warning("step failed: %s", exc, exc_info=log.isEnabledFor(logging.DEBUG))
                self.written.clear()  # the Kubernetes API may have restarted empty: rewrite everything
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
        self.proxy.close()
        self.dns.close()
        self.fence.clear()


def _service_address(service: dict) -> str:
    """A stable service-CIDR address for a Service the lab gave no clusterIP (names must resolve to something)."""
    key = f"{service['metadata'].get('namespace')}/{service['metadata']['name']}".encode()
    digest = int.from_bytes(hashlib.sha256(key).digest()[:4], "big")
    return str(ipaddress.ip_network("172.20.0.0/16")[16 + digest % 65000])  # above kube-dns's .10


def subprocess_rc(cmd: list[str], out) -> int:
    import subprocess

    from edgelab.dockerctl import env

    return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env(), check=False).returncode


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Agent().run(stop)


if __name__ == "__main__":
    main()

"""The node agent against the running lab: user data, Nodes, pods, Deployment status, NodePort, cleanup."""

import json
import time

import pytest
from edgelab import config, device
from edgelab.dockerctl import containers

pytest.register_assert_rewrite("fixtures_cluster")  # it is also a plugin (see pytest_plugins)
from fixtures_cluster import NODECONFIG, WL_ZONE, deployment, mime_user_data, node_port_service, ready_status, wait_for

pytest_plugins = ["fixtures_cluster"]  # fixtures: lab, aws, kube, node_group, test_image

BOOT_SCRIPT = """#!/bin/bash
set -euo pipefail
sleep 1
mkdir -p /var/lib/edgeml/models/m
echo "ran as $(id -un)" > /var/lib/edgeml/boot-marker
aws s3 cp s3://lab-test-userdata/model.txt /var/lib/edgeml/models/m/model.txt
aws sts get-caller-identity --query Arn --output text > /var/lib/edgeml/identity
"""


@pytest.fixture(scope="module")
def s3_object(aws):
    s3 = aws("s3")
    s3.create_bucket(Bucket="lab-test-userdata")
    s3.put_object(Bucket="lab-test-userdata", Key="model.txt", Body=b"weights-v1")


def instance(aws, instance_id: str) -> dict:
    return aws("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def test_user_data_runs_before_node_is_ready(aws, kube, node_group, s3_object):
    _, (instance_id,) = node_group(mime_user_data(BOOT_SCRIPT, nodeconfig=NODECONFIG.format(pool="boot")))
    node = wait_for(lambda: kube.node(instance_id), 60, what="Node registered")
    disk = config.NODES_DIR / instance_id / "var-lib-edgeml"
    # the Node appears only once the user data finished: its side effects are already on the node disk
    assert (disk / "boot-marker").read_text() == "ran as root\n"
    assert (disk / "models/m/model.txt").read_text() == "weights-v1"
    # with its instance profile's role, as IMDS hands it out, not the lab's administrator key
    assert (disk / "identity").read_text().strip() == \
        f"arn:aws:sts::{config.ACCOUNT_ID}:assumed-role/lab-test-node/{instance_id}"
    assert ready_status(node) == "True"
    inst = instance(aws, instance_id)
    labels = node["metadata"]["labels"]
    assert node["metadata"]["name"] == inst["PrivateDnsName"]
    assert labels["topology.kubernetes.io/zone"] == WL_ZONE
    assert labels["node.kubernetes.io/instance-type"] == "t3.xlarge"
    assert labels["kubernetes.io/hostname"] == inst["PrivateDnsName"]
    assert labels["edgeml/pool"] == "boot"  # from --node-labels
    assert node["spec"]["taints"] == [{"key": "edgeml/dedicated", "value": "boot", "effect": "NoSchedule"}]
    assert node["spec"]["providerID"] == f"aws:///{WL_ZONE}/{instance_id}"
    carrier_ip = inst["NetworkInterfaces"][0]["Association"]["CarrierIp"]
    assert carrier_ip.startswith(config.CARRIER_IP_PREFIX)
    assert {"type": "ExternalIP", "address": carrier_ip} in node["status"]["addresses"]
    assert containers(f"edgelab.instance={instance_id}") == [f"edgelab-node-{instance_id}"]


PENDING_NODECONFIG = NODECONFIG.format(pool="fail").replace(
    "      - --register-with-taints=edgeml/dedicated=fail:NoSchedule\n", "") + """    config:
      registerWithTaints: [{key: edgeml.io/models-pending, value: "true", effect: NoSchedule}]
"""


def test_failed_user_data_still_joins_with_its_taints(kube, aws, node_group):
    # As on AL2023: nodeadm-run does not require cloud-final, so a failed shell part does not stop the join; the later
    # parts still run (cloud-init's scripts_user), and the taints are the NodeConfig's kubelet.config unless a
    # drop-in in /etc/kubernetes/kubelet/config.json.d replaces them (the second part writes one without taints).
    # The console output (GetConsoleOutput) says what failed.
    script = "#!/bin/bash\necho fetching model\necho 'no such object' >&2\nexit 7\n"
    other = ("#!/bin/bash\nmkdir -p /etc/kubernetes/kubelet/config.json.d\n"
             "echo '{\"apiVersion\": \"kubelet.config.k8s.io/v1beta1\", \"kind\": \"KubeletConfiguration\", "
             "\"maxPods\": 20}' "
             "> /etc/kubernetes/kubelet/config.json.d/50-other.conf\necho second part ran\n")
    _, (instance_id,) = node_group(mime_user_data(script, other, nodeconfig=PENDING_NODECONFIG))
    node = wait_for(lambda: kube.node(instance_id), 60, what="Node registered")
    assert ready_status(node) == "True"
    assert node["spec"]["taints"] == [{"key": "edgeml.io/models-pending", "value": "true", "effect": "NoSchedule"}]
    console = aws("ec2").get_console_output(InstanceId=instance_id)["Output"]
    assert "no such object" in console and "second part ran" in console
    assert "Failed running /var/lib/cloud/instance/scripts/part-001 [7]" in console


def test_invalid_nodeconfig_gives_a_not_ready_node(kube, node_group):
    bad = NODECONFIG.format(pool="bad").replace("    cidr: 10.100.0.0/16\n", "")
    _, (instance_id,) = node_group(mime_user_data("#!/bin/bash\ntrue\n", nodeconfig=bad))
    node = wait_for(lambda: kube.node(instance_id), 60, what="Node registered")
    assert node["status"]["conditions"][0]["reason"] == "NodeConfigInvalid"
    assert "spec.cluster.cidr is required" in node["status"]["conditions"][0]["message"]


def deploy_status(kube, name: str) -> dict:
    return (kube.get(f"/apis/apps/v1/namespaces/default/deployments/{name}") or {}).get("status") or {}


def k8s_wait_ready(kube, name: str) -> bool:
    """What `kubernetes.core.k8s wait: true` checks for a Deployment, on the stored object."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter import deployment_ready
    from kubernetes.dynamic.resource import ResourceInstance

    return deployment_ready(ResourceInstance(None, kube.get(f"/apis/apps/v1/namespaces/default/deployments/{name}")))


def fetch(url: str) -> dict | None:
    """GET from a phone on the carrier network (carrier addresses answer nothing else)."""
    try:
        status, _, body = device.request(url, timeout=2)
        return json.loads(body) if status == 200 else None
    except (OSError, ValueError):
        return None


def network_policies_enforced_with_vpc_cni(aws, kube, name: str, url: str) -> None:
    """A NetworkPolicy admitting 127.0.2.0/28 only: stored, not enforced, until the node's cluster (NodeConfig: lab)
    has the vpc-cni add-on with enableNetworkPolicy; then a device outside the block gets no answer."""
    def answers(source: str) -> bool:
        try:
            return device.request(url, source=source, timeout=1.5)[0] == 200
        except (OSError, TimeoutError):
            return False

    eks, ec2 = aws("eks"), aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.43.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
        "Subnet"]["SubnetId"] for i, z in enumerate("ab")]
    eks.create_cluster(name="lab", roleArn="arn:aws:iam::123456789012:role/lab", version="1.33",
                       resourcesVpcConfig={"subnetIds": subnets})
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": name, "namespace": "default"},
              "spec": {"podSelector": {"matchLabels": {"app": name}}, "policyTypes": ["Ingress"],
                       "ingress": [{"from": [{"ipBlock": {"cidr": "127.0.2.0/28"}}],
                                    "ports": [{"protocol": "TCP", "port": 8080}]}]}}
    kube.create("/apis/networking.k8s.io/v1/namespaces/default/networkpolicies", policy)
    try:
        assert answers("127.0.2.100") and answers("127.0.2.10")  # no add-on: not enforced
        eks.create_addon(clusterName="lab", addonName="vpc-cni", configurationValues='{"enableNetworkPolicy":"true"}')
        wait_for(lambda: not answers("127.0.2.100"), 20, what="NetworkPolicy enforced")
        assert answers("127.0.2.10")
    finally:
        kube.delete(f"/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/{name}")
        eks.delete_cluster(name="lab")  # its add-ons go with it


def test_deployment_pod_nodeport_rolling_update_and_cleanup(aws, kube, node_group, s3_object, test_image):
    name, node_port = "lab-web", 30123
    asg_name, (instance_id,) = node_group(mime_user_data(BOOT_SCRIPT, nodeconfig=NODECONFIG.format(pool="web")))
    wait_for(lambda: ready_status(kube.node(instance_id)) == "True", 60, what="Node Ready")
    carrier_ip = instance(aws, instance_id)["NetworkInterfaces"][0]["Association"]["CarrierIp"]
    url = f"http://{carrier_ip}:{node_port}/"

    kube.delete(f"/api/v1/namespaces/default/services/{name}")  # leftovers of an interrupted run
    kube.create("/api/v1/namespaces/default/services", node_port_service(name, node_port))
    kube.create("/apis/apps/v1/namespaces/default/deployments",
                deployment(name, test_image, "web", env={"VERSION": "1"}))
    try:
        status = wait_for(lambda: (s := deploy_status(kube, name)).get("availableReplicas") == 1 and s, 120,
                          what="Deployment available")
        assert status["replicas"] == status["readyReplicas"] == status["updatedReplicas"] == 1
        assert status["unavailableReplicas"] == 0
        assert {"type": "Available", "status": "True"}.items() <= status["conditions"][0].items()
        generation = kube.get(f"/apis/apps/v1/namespaces/default/deployments/{name}")["metadata"]["generation"]
        assert status["observedGeneration"] == generation
        assert k8s_wait_ready(kube, name)

        body = wait_for(lambda: fetch(url), 10, what="NodePort answers")
        assert body["args"] == ["serve", "--flag"]
        assert body["version"] == "1"
        assert body["files"] == {"model.txt": "weights-v1"}  # hostPath /var/lib/edgeml/... from the node disk
        assert int(body["env"]["SAGEMAKER_BIND_TO_PORT"]) > 0
        pod = kube.get("/api/v1/namespaces/default/pods")["items"]
        assert [p["status"]["phase"] for p in pod if p["metadata"]["labels"].get("app") == name] == ["Running"]

        # rolling update: the new pod is ready before the old one stops, so the NodePort never fails
        kube.patch(f"/apis/apps/v1/namespaces/default/deployments/{name}",
                   {"spec": {"template": deployment(name, test_image, "web", env={"VERSION": "2"})
                             ["spec"]["template"]}})
        failures, deadline = 0, time.monotonic() + 90
        while time.monotonic() < deadline:
            body = fetch(url)
            failures += body is None
            if body and body["version"] == "2" and deploy_status(kube, name).get("replicas") == 1:
                break
            time.sleep(0.2)
        assert body and body["version"] == "2", "rolling update did not complete"
        assert failures == 0
        network_policies_enforced_with_vpc_cni(aws, kube, name, url)
        # the old pod stops right after it left the NodePort backends
        wait_for(lambda: len(containers(f"edgelab.deployment=default/{name}")) == 1, 10, what="old pod stopped")
        kube.delete(f"/apis/apps/v1/namespaces/default/deployments/{name}")
        wait_for(lambda: not containers(f"edgelab.deployment=default/{name}"), 30, what="pod containers removed")
        wait_for(lambda: fetch(url) is None, 10, what="NodePort closed")  # no ready pod: the node refuses
    finally:
        kube.delete(f"/apis/apps/v1/namespaces/default/deployments/{name}")
        kube.delete(f"/api/v1/namespaces/default/services/{name}")

    # terminating the instances removes node container and Node object
    aws("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=asg_name, ForceDelete=True)
    wait_for(lambda: kube.node(instance_id) is None, 60, what="Node deleted")
    wait_for(lambda: not containers(f"edgelab.instance={instance_id}"), 30, what="node container removed")


def test_crashing_pod_keeps_the_deployment_unavailable(kube, node_group, s3_object, test_image):
    name = "lab-crash"
    _, (instance_id,) = node_group(mime_user_data(BOOT_SCRIPT, nodeconfig=NODECONFIG.format(pool="crash")))
    wait_for(lambda: ready_status(kube.node(instance_id)) == "True", 60, what="Node Ready")
    kube.create("/apis/apps/v1/namespaces/default/deployments",
                deployment(name, test_image, "crash", env={"CRASH": "1"}))
    try:
        wait_for(lambda: deploy_status(kube, name).get("replicas") == 1, 60, what="status written")
        pods = wait_for(lambda: [p for p in kube.get("/api/v1/namespaces/default/pods")["items"]
                                 if p["metadata"]["labels"].get("app") == name
                                 and p["status"]["containerStatuses"][0]["restartCount"] >= 1], 60,
                        what="pod restarted")
        assert pods[0]["status"]["conditions"][0]["status"] == "False"
        status = deploy_status(kube, name)
        assert status.get("availableReplicas") == 0 and status["unavailableReplicas"] == 1
        assert status["conditions"][0]["status"] == "False"
        assert not k8s_wait_ready(kube, name)
    finally:
        kube.delete(f"/apis/apps/v1/namespaces/default/deployments/{name}")


def test_memory_limit_and_probes_are_enforced_as_the_kubelet_does(kube, node_group, s3_object, test_image):
    """Three Deployments on one node: a container over its memory limit is OOMKilled and restarted; a slow loader is
    not ready (nor liveness-probed) until its startupProbe passes, and then serves without a restart; a container
    whose /ping fails is restarted by its livenessProbe."""
    _, (instance_id,) = node_group(mime_user_data(BOOT_SCRIPT, nodeconfig=NODECONFIG.format(pool="probes")))
    wait_for(lambda: ready_status(kube.node(instance_id)) == "True", 60, what="Node Ready")
    probe = {"httpGet": {"path": "/ping", "port": 8080}, "periodSeconds": 1, "failureThreshold": 2}
    specs = {
        "lab-oom": ({"HOG_MB": "96"}, {"resources": {"limits": {"memory": "64Mi"}}}),
        "lab-slow": ({"START_DELAY": "6"}, {"startupProbe": probe | {"failureThreshold": 20},
                                            "livenessProbe": probe}),
        "lab-hang": ({"PING_OK_FOR": "3"}, {"livenessProbe": probe}),
    }
    for name, (env, extra) in specs.items():
        body = deployment(name, test_image, "probes", env=env)
        body["spec"]["template"]["spec"]["containers"][0] |= extra
        kube.create("/apis/apps/v1/namespaces/default/deployments", body)

    def pod(name: str) -> dict | None:
        return next((p for p in kube.get("/api/v1/namespaces/default/pods")["items"]
                     if p["metadata"]["labels"].get("app") == name), None)

    def status(name: str) -> dict:
        return ((pod(name) or {}).get("status") or {}).get("containerStatuses", [{}])[0]

    try:
        # The slow loader: no liveness restart while it loads (its livenessProbe would fail twice in 2 s).
        wait_for(lambda: pod("lab-slow"), 60, what="slow pod created")
        time.sleep(3)
        assert status("lab-slow").get("ready") is False
        wait_for(lambda: status("lab-slow").get("ready"), 60, what="slow pod ready after its startupProbe")
        assert status("lab-slow")["restartCount"] == 0
        oom = wait_for(lambda: status("lab-oom").get("restartCount", 0) >= 1 and status("lab-oom"), 60,
                       what="OOMKilled container restarted")
        assert oom["lastState"]["terminated"]["reason"] == "OOMKilled" and not oom["ready"]
        hang = wait_for(lambda: status("lab-hang").get("restartCount", 0) >= 1 and status("lab-hang"), 60,
                        what="hanging container restarted by its livenessProbe")
        assert hang["lastState"]["terminated"]["message"] == "liveness probe failed"
    finally:
        for name in specs:
            kube.delete(f"/apis/apps/v1/namespaces/default/deployments/{name}")


def test_pods_are_not_scheduled_on_untolerated_nodes(kube, node_group, s3_object, test_image):
    """A pod whose nodeSelector matches no Ready node stays pending: Deployment unavailable, no container."""
    name = "lab-nowhere"
    kube.create("/apis/apps/v1/namespaces/default/deployments", deployment(name, test_image, "no-such-pool"))
    try:
        status = wait_for(lambda: deploy_status(kube, name).get("replicas") == 1 and deploy_status(kube, name),
                          30, what="status written")
        assert status["availableReplicas"] == 0
        assert not containers(f"edgelab.deployment=default/{name}")
    finally:
        kube.delete(f"/apis/apps/v1/namespaces/default/deployments/{name}")


def test_deleted_pod_serves_while_terminating_and_cordon_keeps_pods_off(aws, kube, node_group, s3_object, test_image):
    """A pod the controller deletes is Terminating (deletionTimestamp): during its preStop sleep it still answers on
    its node's NodePort, where no ready pod is left (externalTrafficPolicy Local, terminating endpoints), then it
    stops. A cordoned node gets no new pod."""
    name, node_port, pre_stop = "lab-move", 30124, 6
    _, ids = node_group(mime_user_data(BOOT_SCRIPT, nodeconfig=NODECONFIG.format(pool="move")), size=2)
    nodes = {i: wait_for(lambda i=i: ready_status(kube.node(i)) == "True" and kube.node(i), 60, what="Node Ready")
             for i in ids}
    host = {i: n["metadata"]["labels"]["kubernetes.io/hostname"] for i, n in nodes.items()}
    url = {i: f"http://{instance(aws, i)['NetworkInterfaces'][0]['Association']['CarrierIp']}:{node_port}/"
           for i in ids}
    first, second = ids

    def on(node: str, version: str) -> dict:
        body = deployment(name, test_image, "move", env={"VERSION": version})
        spec = body["spec"]["template"]["spec"]
        spec["nodeSelector"]["kubernetes.io/hostname"] = host[node] if node else None
        spec["nodeSelector"] = {k: v for k, v in spec["nodeSelector"].items() if v}
        spec["terminationGracePeriodSeconds"] = pre_stop + 4
        spec["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": pre_stop}}}
        return body

    def pods() -> list[dict]:
        return [p for p in kube.get("/api/v1/namespaces/default/pods")["items"]
                if p["metadata"]["labels"].get("app") == name]

    kube.delete(f"/api/v1/namespaces/default/services/{name}")
    kube.create("/api/v1/namespaces/default/services", node_port_service(name, node_port))
    kube.create("/apis/apps/v1/namespaces/default/deployments", on(first, "1"))
    try:
        wait_for(lambda: (fetch(url[first]) or {}).get("version") == "1", 90, what="pod on the first node")
        assert fetch(url[second]) is None  # no pod there: Local policy, the node does not answer
        kube.patch(f"/apis/apps/v1/namespaces/default/deployments/{name}", {"spec": {"template": on(second, "2")[
            "spec"]["template"]}})
        wait_for(lambda: (fetch(url[second]) or {}).get("version") == "2", 90, what="pod on the second node")
        moved = time.monotonic()
        leaving = wait_for(lambda: [p for p in pods() if p["metadata"].get("deletionTimestamp")], 5,
                           what="old pod Terminating")
        assert leaving[0]["metadata"]["deletionGracePeriodSeconds"] == pre_stop + 4
        assert (fetch(url[first]) or {}).get("version") == "1"  # still served during the preStop sleep
        wait_for(lambda: fetch(url[first]) is None, pre_stop + 15, what="terminated pod gone")
        assert time.monotonic() - moved >= pre_stop - 2
        wait_for(lambda: len(pods()) == 1, 15, what="Pod object removed")

        # cordon the first node: the next pod (any node of the pool) can only go to the second
        kube.patch(f"/api/v1/nodes/{nodes[first]['metadata']['name']}", {"spec": {"unschedulable": True}})
        kube.patch(f"/apis/apps/v1/namespaces/default/deployments/{name}", {"spec": {"template": on(None, "3")[
            "spec"]["template"]}})
        wait_for(lambda: (fetch(url[second]) or {}).get("version") == "3", 90, what="new pod on the uncordoned node")
        assert all(p["spec"]["nodeName"] == nodes[second]["metadata"]["name"] for p in pods()
                   if not p["metadata"].get("deletionTimestamp"))
    finally:
        kube.delete(f"/apis/apps/v1/namespaces/default/deployments/{name}")
        kube.delete(f"/api/v1/namespaces/default/services/{name}")

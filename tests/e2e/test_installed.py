"""The collection as a user gets it: built into a tarball, installed into a temporary path, used from an empty
directory with a minimal inventory (only the required inputs and the lab endpoints), playbooks by FQCN.

One lab deployment serves every check: site converges in three zones while the lab throttles and fails some AWS
calls, and every zone gets its stable address, probed from the inventory's phone; then the node, deploy and endpoint
stages each run alone on it and change nothing (the endpoint stage probing from inside the cluster, with Jobs);
check mode of the whole job changes nothing; nodes newer than the cluster are refused; removing a zone removes its
resources while a phone keeps calling another zone and the other zones' nodes stay; a second model in a SageMaker
inference container (the lab's TensorFlow Serving stand-in) is added while the phone calls the first; a purge
teardown leaves nothing behind (addresses, both models' repositories included) and a second one changes nothing.

Least privilege: the lab evaluates IAM (as it does by default), and every playbook runs as an IAM user that has only the
two operator policies the collection's own `operator_policy` playbook wrote for this deployment (the Kubernetes API
gets that user's tokens too); taking out any one of several sampled statements makes a stage fail, naming the
action AWS would deny; a node, with its instance profile's credentials (what the lab hands its user data), reads
its model and nothing else. E2E_IAM_MODE=audit (a debugging aid) lets every call through and lists each one the policies
lack in .lab/logs/aws.log ("IAM audit:"), instead of stopping at the first."""

import fnmatch
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import yaml
from e2e_lib import REPO, lab_api, leftovers

sys.path.insert(0, str(REPO / "lab"))
from edgelab import device  # a phone on the lab's carrier network
from edgelab import kube as labkube
from edgelab.dockerctl import docker

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
ZONES3 = ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"]
PYTHON = f"python{sys.version_info.major}.{sys.version_info.minor}"
BUNDLED = BIN.parent / "lib" / PYTHON / "site-packages" / "ansible_collections"  # amazon.aws etc. (ansible bundle)
IAM_MODE = os.environ.get("E2E_IAM_MODE", "enforce")
ADMIN_KEYS = {"access_key": "testing", "secret_key": "testing"}  # the lab's administrator


def recap(out: str) -> dict:
    """{'ok': .., 'changed': .., 'failed': ..} of localhost's PLAY RECAP line."""
    line = re.search(r"^localhost\s+:(.*)$", out, re.M)
    assert line, out[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(env, workdir): the collection installed from its tarball, an empty working directory with an inventory."""
    tmp = tmp_path_factory.mktemp("installed")
    # As a user outside the clone: no ANSIBLE_* settings, no ansible.cfg, only the ansible bundle's collections.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_"))}
    env |= {"ANSIBLE_COLLECTIONS_PATH": f"{tmp / 'collections'}:{BUNDLED}", "ANSIBLE_NOCOLOR": "1",
            "PATH": f"{BIN}:{env.get('PATH', '')}"}
    galaxy = {"cwd": tmp, "env": env, "check": True, "capture_output": True}
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp / "dist", REPO], **galaxy)
    tarball = next((tmp / "dist").glob("edgeml-wavelength-*.tar.gz"))
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", tmp / "collections", tarball],
                   **galaxy)
    installed_root = tmp / "collections" / "ansible_collections" / "edgeml" / "wavelength"
    assert (installed_root / "playbooks" / "site.yml").is_file() and not (installed_root / "lab").exists()

    name = f"inst{uuid.uuid4().hex[:6]}"
    work = tmp / "work"
    work.mkdir()
    catalog = str(REPO / "lab" / "catalog")  # the lab's JumpStart catalog (the lab is not part of the collection)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {"localhost": local},
                         # A phone on the carrier network: the endpoint check sends its requests from there.
                         "children": {"phones": {"hosts": {"phone-1": local}}},
                         "vars": {
                             "edge_name": name,
                             "edge_artifact_bucket": f"{name}-artifacts",
                             "edge_zones": ZONES3,
                             "edge_nodeport_allowed_cidrs": ["127.0.2.0/24"],
                             "edge_api_allowed_cidrs": ["127.0.0.0/8"],
                             "edge_models": [{"name": "sentiment", "model_id": "edgeml-tc-minilm-l6-sentiment-int8",
                                              "model_version": "*"}],
                             "endpoint_check_probe_from": "host",
                             "endpoint_check_probe_host": "phone-1",
                             "endpoint_check_source_address": "127.0.2.10",
                             # The lab's endpoints and fixed, non-secret credentials.
                             "edge_aws_endpoint_url": "http://127.0.0.1:4566",
                             "edge_aws_credentials": ADMIN_KEYS,
                             "edge_registry_tls_verify": False,
                             "edge_jumpstart_environment": {
                                 "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": catalog,
                                 "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": catalog,
                                 "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE": "edgelab-jumpstart-content"}}}}
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    # An administrator writes the operator policies for this deployment; the operator runs everything else with them.
    rc, out = run(env, work, "operator_policy")
    assert rc == 0, out[-5000:]
    operator = create_operator(f"{name}-operator", sorted((work / "artifacts").glob(f"{name}-operator-*.json")))
    inventory["all"]["vars"]["edge_aws_credentials"] = operator["credentials"]
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    before = lab_api("resources")
    iam_before = lab_api("config")["iam"]  # the lab enforces IAM by default; E2E_IAM_MODE may ask for audit
    lab_api("config", {"iam": IAM_MODE})
    try:
        yield env, work, before
        run(env, work, "teardown", "-e", "edge_teardown_purge_artifacts=true")
    finally:
        lab_api("config", {"iam": iam_before})
        delete_operator(operator)


def create_operator(user: str, policy_files: list[Path]) -> dict:
    """An IAM user with only these customer managed policies attached, and its access key."""
    iam = aws("iam")
    iam.create_user(UserName=user)
    policies = {}
    for path in policy_files:
        arn = iam.create_policy(PolicyName=path.stem, PolicyDocument=path.read_text())["Policy"]["Arn"]
        iam.attach_user_policy(UserName=user, PolicyArn=arn)
        policies[arn] = json.loads(path.read_text())
    assert len(policies) == 2, policy_files
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"user": user, "policies": policies, "key_id": key["AccessKeyId"],
            "credentials": {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}}


def delete_operator(operator: dict) -> None:
    iam = aws("iam")
    iam.delete_access_key(UserName=operator["user"], AccessKeyId=operator["key_id"])
    for arn in operator["policies"]:
        iam.detach_user_policy(UserName=operator["user"], PolicyArn=arn)
        iam.delete_policy(PolicyArn=arn)
    iam.delete_user(UserName=operator["user"])


def changed_tasks(out: str) -> list[str]:
    """Names of the tasks that reported a change (for the assertion messages)."""
    return re.findall(r"^TASK \[(.+?)\].*\n(?:.*\n)?changed:", out, re.M)


def run(env, work, playbook, *args, timeout=900):
    proc = subprocess.run([BIN / "ansible-playbook", "-i", "inventory.yml", f"edgeml.wavelength.{playbook}", *args],
                          cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_site_then_each_stage_alone_changes_nothing(installed):
    env, work, _ = installed
    faults = lab_api("config")["faults"]
    lab_api("config", {"faults": {"throttle_rate": 0.1, "error_rate": 0.02, "seed": 7}})
    try:
        rc, out = run(env, work, "site")
    finally:
        lab_api("config", {"faults": faults})
    assert rc == 0, out[-5000:]
    report = json.loads((work / "artifacts" / "endpoints.json").read_text())  # in the working directory
    assert sorted(z["zone"] for z in report["zones"]) == sorted(ZONES3)
    assert len({z["address"] for z in report["zones"]}) == 3
    assert all(z["checks_passed"] and z["probed_from"] == "host phone-1 (127.0.2.10)" for z in report["zones"])
    assert sorted(e["zone"] for e in report["endpoints"]) == sorted(ZONES3)
    assert all(e["checks_passed"] for e in report["endpoints"])
    # The endpoint stage alone probes from inside the cluster (the inventory/aws default): a probe Job per node and
    # model, on every zone, leaves nothing behind and reports the same zones.
    for stage, extra in (("nodes", ()), ("deploy", ()), ("retire", ()),
                         ("endpoints", ("-e", "endpoint_check_probe_from=cluster"))):
        rc, out = run(env, work, stage, *extra)
        assert rc == 0, f"{stage}: {out[-5000:]}"
        assert recap(out)["changed"] == 0, f"{stage}: {changed_tasks(out)}"
    report = json.loads((work / "artifacts" / "endpoints.json").read_text())
    assert sorted(z["zone"] for z in report["zones"]) == sorted(ZONES3)
    assert all(z["checks_passed"] and z["probed_from"].startswith("cluster (probe Job") for z in report["zones"])
    assert all(e["checks_passed"] for e in report["endpoints"]) and len(report["endpoints"]) == 3
    rc, out = run(env, work, "site", "--check")
    assert rc == 0, out[-5000:]
    assert recap(out)["changed"] == 0, changed_tasks(out)


def test_a_node_can_read_its_models_and_nothing_else(installed):
    """On a node, with the credentials of its instance profile's role (what the user data gets): its model artifact
    can be read; listing the bucket, reading another deployment's prefix and writing anywhere are denied."""
    _, work, _ = installed
    inventory = yaml.safe_load((work / "inventory.yml").read_text())["all"]["vars"]
    name, bucket = inventory["edge_name"], inventory["edge_artifact_bucket"]
    s3 = aws("s3")
    artifact = next(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{name}/")["Contents"]
                    if o["Key"].endswith(".tar.gz"))
    instance = zone_resources(name)[ZONES3[0]]["instances"][0]
    node = f"edgelab-node-{instance}"

    def on_node(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", node, *command], capture_output=True, text=True, check=False)
    s3.put_object(Bucket=bucket, Key="another-deployment/model.tar.gz", Body=b"not yours")
    try:
        identity = on_node("aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text")
        assert identity.stdout.strip() == f"arn:aws:sts::123456789012:assumed-role/{name}-node/{instance}", identity
        assert on_node("aws", "s3", "cp", "--no-progress", f"s3://{bucket}/{artifact}", "/tmp/a").returncode == 0
        for command in (("aws", "s3", "ls", f"s3://{bucket}/"),
                        ("aws", "s3", "cp", f"s3://{bucket}/another-deployment/model.tar.gz", "/tmp/b"),
                        ("aws", "s3", "cp", "/etc/hostname", f"s3://{bucket}/{name}/written-by-a-node"),
                        ("aws", "s3", "cp", "/etc/hostname", f"s3://{bucket}/another-deployment/x")):
            out = on_node(*command)
            assert out.returncode != 0 and ("AccessDenied" in out.stderr or "Forbidden" in out.stderr), (command, out)
    finally:  # every version (the bucket is versioned): the operator may not delete another deployment's objects
        for version in s3.list_object_versions(Bucket=bucket, Prefix="another-deployment/").get("Versions", []):
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


# Statement -> a stage that needs it even when it changes nothing.
SAMPLED_STATEMENTS = {"Roles": "nodes", "Cluster": "endpoints", "Artifacts": "deploy", "ImageRepositories": "image"}
DENIED = re.compile(r"is not authorized to perform: (\S+) on resource: (\S+)")


def test_each_sampled_operator_statement_is_needed(installed):
    """Without one statement of the operator policies, a stage that needs it fails on an action only that statement
    allows, on one of the deployment's resources, and changes nothing; the full policies are back afterwards."""
    assert IAM_MODE == "enforce", "E2E_IAM_MODE=audit refuses nothing: this test needs enforcement"
    env, work, _ = installed
    iam, name = aws("iam"), yaml.safe_load((work / "inventory.yml").read_text())["all"]["vars"]["edge_name"]
    user = f"{name}-operator"
    attached = {p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]}
    for sid, stage in SAMPLED_STATEMENTS.items():
        [arn] = [a for a in attached if any(st["Sid"] == sid for st in policy_document(iam, a)["Statement"])]
        doc = policy_document(iam, arn)
        [removed] = [st for st in doc["Statement"] if st["Sid"] == sid]
        full = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        reduced = {**doc, "Statement": [st for st in doc["Statement"] if st["Sid"] != sid]}
        version = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(reduced), SetAsDefault=True)
        try:
            rc, out = run(env, work, stage)
        finally:
            iam.set_default_policy_version(PolicyArn=arn, VersionId=full)
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["PolicyVersion"]["VersionId"])
        denied = DENIED.search(out)
        assert rc != 0 and denied, f"without {sid}: {out[-4000:]}"
        action, resource = denied.groups()
        assert any(fnmatch.fnmatch(action.lower(), a.lower()) for a in removed["Action"]), (sid, action, resource)
        assert name in resource, (sid, action, resource)  # one of the deployment's own resources
        assert recap(out)["changed"] == 0, f"without {sid}: {changed_tasks(out)}"


def policy_document(iam, arn: str) -> dict:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else document


def test_nodes_newer_than_the_cluster_are_refused(installed):
    """The node stage alone with a Kubernetes version the control plane does not run yet: refused before any change."""
    env, work, _ = installed
    rc, out = run(env, work, "nodes", "-e", "edge_kubernetes_version=1.37")
    assert rc != 0 and "is 1.37, newer than the control plane" in out, out[-5000:]
    assert recap(out)["changed"] == 0, changed_tasks(out)


CONTRACT = {"Content-Type": "application/x-text", "Accept": "application/json;verbose"}


def kube_deployments(name: str) -> list[dict]:
    """The deployment's Deployments (the lab's Kubernetes API, as its admin)."""
    with labkube.admin_urlopen(f"{labkube.config.KUBE_URL}/apis/apps/v1/namespaces/edgeml/deployments"
                               f"?labelSelector=edgeml.io/deployment%3D{name}") as reply:
        return json.loads(reply.read())["items"]


def aws(service):
    return boto3.client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:4566",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def zone_resources(name: str) -> dict:
    """{zone: {instances, template, subnet, address}} of the deployment, found by tag (lab EC2 and Auto Scaling)."""
    ec2, out = aws("ec2"), {}
    tagged = [{"Name": "tag:edgeml:deployment", "Values": [name]}]
    for group in aws("autoscaling").describe_auto_scaling_groups(
            Filters=[{"Name": "tag:edgeml:deployment", "Values": [name]}])["AutoScalingGroups"]:
        zone = group["AutoScalingGroupName"].removeprefix(f"{name}-")
        out.setdefault(zone, {})["instances"] = sorted(i["InstanceId"] for i in group["Instances"])
    for template in ec2.describe_launch_templates(Filters=tagged)["LaunchTemplates"]:
        out.setdefault(template["LaunchTemplateName"].removeprefix(f"{name}-"), {})["template"] = True
    for subnet in ec2.describe_subnets(Filters=[*tagged, {"Name": "tag:edgeml:tier", "Values": ["wavelength"]}])[
            "Subnets"]:
        out.setdefault(subnet["AvailabilityZone"], {})["subnet"] = subnet["SubnetId"]
    for address in ec2.describe_addresses(Filters=tagged)["Addresses"]:
        zone = {t["Key"]: t["Value"] for t in address["Tags"]}["edgeml:zone"]
        out.setdefault(zone, {})["address"] = address["CarrierIp"]
    return out


SENTIMENT = {"name": "sentiment", "model_id": "edgeml-tc-minilm-l6-sentiment-int8", "model_version": "*"}
# Served by the lab's stand-in for the SageMaker TensorFlow Serving container: root by default, writes /sagemaker and
# nginx's temp directories at start, loads for 20 s (lab/images/tensorflow-inference).
SAGEMAKER_TFS = {"name": "tfs", "model_id": "edgeml-tc-sagemaker-tfs", "model_version": "*", "node_port": 30008}


def test_removing_a_zone_removes_its_resources_only(installed):
    env, work, _ = installed
    name = yaml.safe_load((work / "inventory.yml").read_text())["all"]["vars"]["edge_name"]
    before = zone_resources(name)
    assert sorted(before) == sorted(ZONES3) and all(len(z) == 4 for z in before.values()), before
    phone = device.Phone(f"http://{before[ZONES3[0]]['address']}:30007/invocations", headers=CONTRACT)
    phone.start()
    rc, out = run(env, work, "site", "-e", json.dumps({"edge_zones": ZONES3[:2]}))
    phone.finish()
    assert rc == 0, out[-5000:]
    calls = device.summary(phone.results)
    assert calls["requests"] > 50 and calls["failed"] == 0, calls
    after = zone_resources(name)
    assert after == {zone: before[zone] for zone in ZONES3[:2]}, (before, after)  # the others' nodes untouched
    report = json.loads((work / "artifacts" / "endpoints.json").read_text())
    assert sorted(z["zone"] for z in report["zones"]) == sorted(ZONES3[:2])


def test_adding_a_model_in_the_sagemaker_container_while_a_phone_calls_the_first(installed):
    """(On the two zones left.) A second model whose image is a SageMaker TensorFlow Serving container: the nodes
    roll (they fetch it too)
    while a phone keeps calling the first model, which fails no request; the new one serves in every zone, in the
    pod spec its container family needs (non-root, read-only root file system, /sagemaker seeded), with its
    additional data source (a draft model) read-only where SageMaker mounts it."""
    env, work, _ = installed
    name = yaml.safe_load((work / "inventory.yml").read_text())["all"]["vars"]["edge_name"]
    address = zone_resources(name)[ZONES3[0]]["address"]
    phone = device.Phone(f"http://{address}:30007/invocations", headers=CONTRACT)
    phone.start()
    rc, out = run(env, work, "site", "-e", json.dumps({"edge_zones": ZONES3[:2],
                                                       "edge_models": [SENTIMENT, SAGEMAKER_TFS]}))
    phone.finish()
    assert rc == 0, out[-5000:]
    calls = device.summary(phone.results)
    assert calls["requests"] > 100 and calls["failed"] == 0, calls
    report = json.loads((work / "artifacts" / "endpoints.json").read_text())
    served = {(z["zone"], z["model"]) for z in report["zones"] if z["checks_passed"]}
    assert served == {(zone, model) for zone in ZONES3[:2] for model in ("sentiment", "tfs")}, report["zones"]
    [deployment] = [d for d in kube_deployments(name) if d["metadata"]["name"].startswith(f"tfs-{ZONES3[0]}")]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["initContainers"][0]["command"] == ["sh", "-c", "cp -R /sagemaker/. /seed/0/"]
    # Inside the running container (a lab pod is a docker container): the draft model's files, read-only.
    [container] = docker("ps", "-q", "--filter", f"label=edgelab.deployment=edgeml/{deployment['metadata']['name']}",
                         "--filter", "label=edgelab.role=pod").split()
    channel = "/opt/ml/additional-model-data-sources/draft_model"
    assert docker("exec", container, "ls", channel).split() == ["config.json", "model.onnx"]
    assert "Read-only file system" in docker("exec", container, "sh", "-c", f"touch {channel}/x 2>&1 || true")
    assert "listen" in docker("exec", container, "cat", "/sagemaker/nginx.conf")  # written at start, as serve.py does


def test_teardown_leaves_nothing(installed):
    env, work, before = installed
    rc, out = run(env, work, "teardown", "-e", "edge_teardown_purge_artifacts=true")
    assert rc == 0, out[-5000:]
    assert leftovers(before, lab_api("resources")) == []
    rc, out = run(env, work, "teardown", "-e", "edge_teardown_purge_artifacts=true")
    assert rc == 0 and recap(out)["changed"] == 0, changed_tasks(out)

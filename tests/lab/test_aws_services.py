"""Lab AWS endpoint: ECR (control plane over the lab registry), S3 bucket policies, IAM managed policies,
SSM EKS AMI parameters."""

import base64
import hashlib
import json
import socket
import subprocess
import time

import pytest
import requests
from aws_helpers import client, lab_api
from botocore.exceptions import ClientError
from edgelab.aws.state import LAB


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory, monkeypatch_module):
    """A real distribution registry (Debian docker-registry) on a free loopback port, made the lab's ECR."""
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    cfg = root / "config.yml"
    cfg.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {root}/data}}\n"
                   f"  delete: {{enabled: true}}\nhttp: {{addr: '127.0.0.1:{port}'}}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"http://{host}/v2/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    monkeypatch_module.setattr(LAB, "ecr_registry", host)
    yield {"host": host, "root": root}
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def oci_image(path, content: bytes):
    """A one-layer OCI image layout (enough for skopeo) at path:latest."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    import gzip
    import io
    import tarfile
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    layer_tar = raw.getvalue()
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(gzip.compress(layer_tar, mtime=0))}
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]}}
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
    m = {"mediaType": manifest["mediaType"], **blob(json.dumps(manifest).encode()),
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [m]}))
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return layer["size"] + cfg["size"]


def test_ecr_repository_settings_and_auth(lab_aws, registry):
    ecr = client(lab_aws, "ecr")
    repo = ecr.create_repository(repositoryName="edgeml/sentiment", imageTagMutability="IMMUTABLE",
                                 imageScanningConfiguration={"scanOnPush": True},
                                 encryptionConfiguration={"encryptionType": "KMS"})["repository"]
    assert repo["repositoryUri"] == f"{registry['host']}/edgeml/sentiment"
    got = ecr.describe_repositories(repositoryNames=["edgeml/sentiment"])["repositories"][0]
    assert got["imageTagMutability"] == "IMMUTABLE" and got["imageScanningConfiguration"]["scanOnPush"] is True
    assert got["encryptionConfiguration"]["encryptionType"] == "KMS"
    ecr.put_image_tag_mutability(repositoryName="edgeml/sentiment", imageTagMutability="MUTABLE")
    ecr.put_image_scanning_configuration(repositoryName="edgeml/sentiment",
                                         imageScanningConfiguration={"scanOnPush": False})
    policy = json.dumps({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType":
                         "sinceImagePushed", "countUnit": "days", "countNumber": 7}, "action": {"type": "expire"}}]})
    ecr.put_lifecycle_policy(repositoryName="edgeml/sentiment", lifecyclePolicyText=policy)
    assert json.loads(ecr.get_lifecycle_policy(repositoryName="edgeml/sentiment")["lifecyclePolicyText"]) == \
        json.loads(policy)
    got = ecr.describe_repositories(repositoryNames=["edgeml/sentiment"])["repositories"][0]
    assert got["imageTagMutability"] == "MUTABLE" and got["imageScanningConfiguration"]["scanOnPush"] is False
    auth = ecr.get_authorization_token()["authorizationData"][0]
    assert base64.b64decode(auth["authorizationToken"]).decode().startswith("AWS:")
    assert auth["proxyEndpoint"] == f"http://{registry['host']}"


def test_ecr_images_come_from_the_lab_registry(lab_aws, registry, tmp_path):
    ecr = client(lab_aws, "ecr")
    size = oci_image(tmp_path / "img", b"hello edge\n")
    assert ecr.describe_images(repositoryName="edgeml/sentiment")["imageDetails"] == []
    password = base64.b64decode(ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"])
    user, pw = password.decode().split(":", 1)
    for tag in ("1.0.0", "latest"):
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"--dest-creds={user}:{pw}",
                        f"oci:{tmp_path / 'img'}:latest", f"docker://{registry['host']}/edgeml/sentiment:{tag}"],
                       check=True, timeout=60)
    images = ecr.describe_images(repositoryName="edgeml/sentiment")["imageDetails"]
    assert len(images) == 1
    img = images[0]
    assert sorted(img["imageTags"]) == ["1.0.0", "latest"] and img["imageDigest"].startswith("sha256:")
    assert img["imageSizeInBytes"] == size
    head = requests.head(f"http://{registry['host']}/v2/edgeml/sentiment/manifests/1.0.0", timeout=5, headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert head.headers["Docker-Content-Digest"] == img["imageDigest"]
    got = ecr.batch_get_image(repositoryName="edgeml/sentiment", imageIds=[{"imageTag": "1.0.0"}])["images"]
    assert got[0]["imageId"]["imageDigest"] == img["imageDigest"] and json.loads(got[0]["imageManifest"])["layers"]
    with pytest.raises(ecr.exceptions.RepositoryNotEmptyException):
        ecr.delete_repository(repositoryName="edgeml/sentiment")
    ecr.delete_repository(repositoryName="edgeml/sentiment", force=True)
    assert lab_api(lab_aws, "GET", "resources")["ecr_repositories"] == {}


def test_s3_deny_insecure_transport_policy_does_not_lock_out_the_owner(lab_aws):
    s3 = client(lab_aws, "s3")
    s3.create_bucket(Bucket="edge-artifacts")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::edge-artifacts", "arn:aws:s3:::edge-artifacts/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "DenyDeleteModel", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": "arn:aws:s3:::edge-artifacts/locked/*"}]}
    s3.put_bucket_policy(Bucket="edge-artifacts", Policy=json.dumps(policy))
    s3.put_object(Bucket="edge-artifacts", Key="m/model.tar.gz", Body=b"x")
    assert s3.get_object(Bucket="edge-artifacts", Key="m/model.tar.gz")["Body"].read() == b"x"
    s3.put_object(Bucket="edge-artifacts", Key="locked/a", Body=b"y")
    with pytest.raises(ClientError) as e:  # an unconditional Deny still denies
        s3.delete_object(Bucket="edge-artifacts", Key="locked/a")
    assert e.value.response["Error"]["Code"] in ("AccessDenied", "403")
    s3.delete_bucket_policy(Bucket="edge-artifacts")
    for key in ("m/model.tar.gz", "locked/a"):
        s3.delete_object(Bucket="edge-artifacts", Key=key)
    s3.delete_bucket(Bucket="edge-artifacts")


def test_iam_aws_managed_policies_exist(lab_aws):
    iam = client(lab_aws, "iam")
    for name in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly",
                 "AmazonEKSClusterPolicy", "AmazonSSMManagedInstanceCore"):
        arn = f"arn:aws:iam::aws:policy/{name}"
        assert iam.get_policy(PolicyArn=arn)["Policy"]["PolicyName"] == name


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2"])
def test_ssm_eks_optimized_ami_parameters(lab_aws, region):
    ssm, ec2 = client(lab_aws, "ssm", region=region), client(lab_aws, "ec2", region=region)
    def name(version):
        return f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard/recommended/image_id"

    for version in ("1.32", "1.34", "1.36", "1.37"):  # extended and standard support on the lab's day
        ami = ssm.get_parameter(Name=name(version))["Parameter"]["Value"]
        image = ec2.describe_images(ImageIds=[ami])["Images"][0]
        assert f"-{version}-" in image["Name"] and image["Architecture"] == "x86_64"
    for version in ("1.20", "1.31", "1.38"):  # past its end of extended support (1.31: 2026-11-26), not released
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name=name(version))
    # The variants AWS publishes beside x86_64 standard: GPU (nvidia), Neuron, Graviton (arm64).
    for variant, arch in (("x86_64/nvidia", "x86_64"), ("x86_64/neuron", "x86_64"), ("arm64/standard", "arm64"),
                          ("arm64/nvidia", "arm64")):
        ami = ssm.get_parameter(Name=name("1.36").replace("x86_64/standard", variant))["Parameter"]["Value"]
        image = ec2.describe_images(ImageIds=[ami])["Images"][0]
        assert image["Name"].startswith(f"amazon-eks-node-al2023-{variant.replace('/', '-')}-1.36-")
        assert image["Architecture"] == arch and ami != ssm.get_parameter(Name=name("1.36"))["Parameter"]["Value"]

"""edgeml.wavelength.eks_kubeconfig: token made in Python like `aws eks get-token`, and a kubeconfig file whose
user is an exec credential plugin (plugins/module_utils/eks_token.py run as a script)."""

import base64
import calendar
import contextlib
import io
import json
import os
import stat
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]

ACCOUNT = "123456789012"  # moto's / the lab's account
TOKEN_SOURCE = REPO / "plugins" / "module_utils" / "eks_token.py"


def decode(token):
    """The presigned URL's query of a k8s-aws-v1 token."""
    assert token.startswith("k8s-aws-v1.") and "=" not in token
    encoded = token[len("k8s-aws-v1."):]
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)


def assert_eks_token(token):
    query = decode(token)
    assert query["Action"] == ["GetCallerIdentity"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Expires"] == ["60"] and "X-Amz-Signature" in query
    return query


def epoch(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def backend_cluster(aws_server, name):
    """The in-process moto model of cluster name (to give it what the lab does not have yet, or take it away)."""
    if aws_server[1] == "external":
        pytest.skip("changes the EKS cluster model in-process; the AWS endpoint is external (EDGELAB_AWS_URL)")
    from moto.eks.models import eks_backends

    return eks_backends[ACCOUNT]["us-east-1"].clusters[name]


@pytest.fixture(scope="module")
def cluster(subnets, aws_server):
    """An ACTIVE cluster with an https endpoint and CA data, as EKS has. One for the module: the tests only read it."""
    eks = boto3.client("eks", endpoint_url=aws_server[0], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    name = f"c-{uuid.uuid4().hex[:8]}"
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/r", resourcesVpcConfig={"subnetIds": subnets})
    deadline = time.monotonic() + 60  # the lab creates with a delay
    while (described := eks.describe_cluster(name=name)["cluster"])["status"] != "ACTIVE":
        assert time.monotonic() < deadline, f"{name} not ACTIVE: {described['status']}"
        time.sleep(0.2)
    if not described["endpoint"].startswith("https://"):
        # The lab still reports its plain-http Kubernetes API (edgelab.config.KUBE_URL) until it serves TLS.
        backend_cluster(aws_server, name).endpoint = "https://127.0.0.1:6443"
        described = eks.describe_cluster(name=name)["cluster"]
        assert described["endpoint"] == "https://127.0.0.1:6443"
    assert described["certificateAuthority"]["data"]  # moto: random data; the lab: a (fake) base64 PEM
    return name


@pytest.fixture
def no_botocore(tmp_path):
    """PYTHONPATH entry whose botocore cannot be imported: a process run with it cannot mint a token."""
    blocked = tmp_path / "no-botocore"
    (blocked / "botocore").mkdir(parents=True)
    (blocked / "botocore" / "__init__.py").write_text("raise ImportError('botocore blocked by the test')\n")
    return str(blocked)


def run_exec(user, extra_env=None):
    """Run a kubeconfig user's exec command as a Kubernetes client would: (returncode, ExecCredential|None, err)."""
    exec_config = user["exec"]
    env = dict(os.environ, **{e["name"]: e["value"] for e in exec_config.get("env") or []}, **(extra_env or {}))
    out = subprocess.run([exec_config["command"], *exec_config["args"]], capture_output=True, text=True, env=env,
                         check=False, timeout=60)
    return out.returncode, json.loads(out.stdout) if out.returncode == 0 else None, out.stderr


def test_token_and_kubeconfig(run, client, cluster):
    r = run("eks_kubeconfig", cluster_name=cluster)
    assert r["changed"] is False
    assert_eks_token(r["token"])
    signed = calendar.timegm(time.strptime(decode(r["token"])["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
    assert epoch(r["expiration"]) == signed + 14 * 60
    described = client("eks").describe_cluster(name=cluster)["cluster"]
    assert r["host"] == described["endpoint"] and r["host"].startswith("https://")
    assert r["certificate_authority_data"] == described["certificateAuthority"]["data"]
    assert r["cluster"] == {
        "name": cluster, "arn": described["arn"], "status": "ACTIVE", "version": described["version"],
        "endpoint": described["endpoint"],
        "service_ipv4_cidr": described["kubernetesNetworkConfig"]["serviceIpv4Cidr"],
        "certificate_authority_data": described["certificateAuthority"]["data"]}
    kc = r["kubeconfig"]
    assert kc["clusters"][0]["cluster"] == {"server": described["endpoint"],
                                            "certificate-authority-data": described["certificateAuthority"]["data"]}
    assert kc["users"] == [{"name": "eks", "user": {"token": r["token"]}}]
    assert kc["current-context"] == cluster
    assert "path" not in r and "directory" not in r


def test_exec_kubeconfig_file(run, cluster, tmp_path, aws_url):
    path = tmp_path / "kube" / "config"  # the parent does not exist
    r = run("eks_kubeconfig", cluster_name=cluster, path=str(path), user_name="deployer")
    assert r["changed"] is False
    assert r["path"] == str(path) and r["directory"] == str(path.parent)
    assert mode(path.parent) == 0o700 and mode(path) == 0o600
    script = path.parent / "eks-token.py"
    assert mode(script) == 0o700 and script.read_bytes() == TOKEN_SOURCE.read_bytes()
    kc = json.loads(path.read_text())
    assert kc["current-context"] == cluster
    ca = r["certificate_authority_data"]
    assert kc["clusters"] == [{"name": cluster, "cluster": {"server": r["host"], "certificate-authority-data": ca}}]
    assert kc["contexts"] == [{"name": cluster, "context": {"cluster": cluster, "user": "deployer"}}]
    [user] = kc["users"]
    assert user["name"] == "deployer" and set(user["user"]) == {"exec"}
    assert user["user"]["exec"] == {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": [str(script), "--cluster-name", cluster, "--region", "us-east-1", "--endpoint-url", aws_url,
                 "--cache", str(path.parent / "eks-token.cache.json")],
        # The run fixture gives access_key/secret_key as parameters: they go into the file.
        "env": [{"name": "AWS_ACCESS_KEY_ID", "value": "testing"},
                {"name": "AWS_SECRET_ACCESS_KEY", "value": "testing"}],
        "interactiveMode": "Never",
        "provideClusterInfo": False,
    }
    # The static-token dictionary is returned as before.
    assert r["kubeconfig"]["users"][0]["user"] == {"token": r["token"]}


def test_exec_plugin_mints_then_uses_its_cache(run, cluster, tmp_path, no_botocore):
    r = run("eks_kubeconfig", cluster_name=cluster, path=str(tmp_path / "config"))
    user = json.loads(Path(r["path"]).read_text())["users"][0]["user"]
    cache = tmp_path / "eks-token.cache.json"
    assert not cache.exists()

    rc, cred, err = run_exec(user)
    assert rc == 0, err
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1beta1" and cred["kind"] == "ExecCredential"
    token, expiration = cred["status"]["token"], cred["status"]["expirationTimestamp"]
    assert_eks_token(token)
    assert decode(token)["X-Amz-Credential"][0].startswith("testing/")  # the env of the kubeconfig
    assert 13 * 60 < epoch(expiration) - time.time() <= 14 * 60 + 1
    assert mode(cache) == 0o600 and json.loads(cache.read_text())["token"] == token
    written = cache.stat().st_mtime_ns

    # Second call: the cached token, without importing botocore and without rewriting the cache.
    rc, again, err = run_exec(user, {"PYTHONPATH": no_botocore})
    assert rc == 0, err
    assert again["status"] == {"token": token, "expirationTimestamp": expiration}
    assert cache.stat().st_mtime_ns == written

    # Less than a minute left: a new token must be minted (botocore blocked -> the plugin fails saying so).
    data = json.loads(cache.read_text())
    cache.write_text(json.dumps(dict(data, expires=time.time() + 30)))
    rc, _, err = run_exec(user, {"PYTHONPATH": no_botocore})
    assert rc == 1 and "botocore is needed" in err
    rc, renewed, err = run_exec(user)
    assert rc == 0, err
    assert_eks_token(renewed["status"]["token"])
    assert epoch(renewed["status"]["expirationTimestamp"]) - time.time() > 13 * 60
    assert json.loads(cache.read_text())["token"] == renewed["status"]["token"]
    assert mode(cache) == 0o600 and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_exec_plugin_ignores_a_cache_of_another_cluster(run, cluster, tmp_path, no_botocore):
    r = run("eks_kubeconfig", cluster_name=cluster, path=str(tmp_path / "config"))
    user = json.loads(Path(r["path"]).read_text())["users"][0]["user"]
    assert run_exec(user)[0] == 0
    cache = tmp_path / "eks-token.cache.json"
    data = json.loads(cache.read_text())
    cache.write_text(json.dumps(dict(data, key=dict(data["key"], cluster="other"))))
    rc, _, err = run_exec(user, {"PYTHONPATH": no_botocore})
    assert rc == 1 and "botocore is needed" in err


def test_rerun_clears_the_old_cache(run, cluster, tmp_path):
    r = run("eks_kubeconfig", cluster_name=cluster, path=str(tmp_path / "config"))
    assert run_exec(json.loads(Path(r["path"]).read_text())["users"][0]["user"])[0] == 0
    assert (tmp_path / "eks-token.cache.json").exists()
    run("eks_kubeconfig", cluster_name=cluster, path=str(tmp_path / "config"))
    assert not (tmp_path / "eks-token.cache.json").exists()


def test_tempdir_in_check_mode(run, cluster):
    r = run("eks_kubeconfig", check=True, cluster_name=cluster, tempdir=True)
    try:
        assert r["changed"] is False
        directory = Path(r["directory"])
        assert directory.name.startswith("edgeml-kube-") and mode(directory) == 0o700
        assert r["path"] == str(directory / "config") and mode(r["path"]) == 0o600
        assert sorted(p.name for p in directory.iterdir()) == ["config", "eks-token.py"]
        rc, cred, err = run_exec(json.loads(Path(r["path"]).read_text())["users"][0]["user"])
        assert rc == 0, err
        assert_eks_token(cred["status"]["token"])
    finally:
        import shutil

        shutil.rmtree(r["directory"], ignore_errors=True)


def test_no_token_in_the_result_when_only_the_file_is_used(run, cluster, tmp_path):
    r = run("eks_kubeconfig", cluster_name=cluster, path=str(tmp_path / "config"), return_token=False)
    assert not {"token", "expiration", "kubeconfig"} & set(r) and r["cluster"]["name"] == cluster
    assert "k8s-aws-v1." not in json.dumps(r)  # no credential to show with -v
    rc, cred, err = run_exec(json.loads(Path(r["path"]).read_text())["users"][0]["user"])
    assert rc == 0, err
    assert_eks_token(cred["status"]["token"])


def test_path_and_tempdir_are_exclusive(run, cluster, tmp_path):
    r = run("eks_kubeconfig", cluster_name=cluster, path=str(tmp_path / "config"), tempdir=True)
    assert r["failed"] and "mutually exclusive" in r["msg"]


def test_kubernetes_client_uses_the_exec_plugin(run, cluster, tmp_path):
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    r = run("eks_kubeconfig", cluster_name=cluster, path=str(tmp_path / "config"))
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=r["path"], client_configuration=configuration)
    assert configuration.host == r["host"]
    assert Path(configuration.ssl_ca_cert).read_bytes() == base64.b64decode(r["certificate_authority_data"])
    bearer = configuration.api_key["authorization"]
    assert bearer.startswith("Bearer ")
    token = bearer[len("Bearer "):]
    assert_eks_token(token)
    assert token == json.loads((tmp_path / "eks-token.cache.json").read_text())["token"]  # the plugin's token


def test_credentials_from_the_environment_are_not_written(aws_url, cluster, tmp_path):
    """Keys the module only found in its environment (AWS_ACCESS_KEY_ID, ...) stay out of the file."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.edgeml.wavelength.plugins.modules import eks_kubeconfig

    assert os.environ.get("AWS_ACCESS_KEY_ID")  # set by the aws_server fixture
    params = {"region": "us-east-1", "endpoint_url": aws_url, "cluster_name": cluster,
              "path": str(tmp_path / "config")}
    out = io.StringIO()
    with patch_module_args(params), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        eks_kubeconfig.main()
    r = json.loads(out.getvalue())
    exec_config = json.loads(Path(r["path"]).read_text())["users"][0]["user"]["exec"]
    assert "env" not in exec_config
    assert "testing" not in Path(r["path"]).read_text()


def test_unknown_cluster_fails(run, uid):
    r = run("eks_kubeconfig", cluster_name=f"nope-{uid}", tempdir=True)
    assert r["failed"] and f"EKS cluster nope-{uid} does not exist" in r["msg"]
    assert r["error"]["code"] == "ResourceNotFoundException"  # roles/model_deploy absent.yml keys on it
    assert "path" not in r


def test_cluster_not_active_fails(run, client, uid, subnets, lab_delays):
    with lab_delays({"eks_create": 30}):  # CREATING for longer than a module run takes on a loaded machine
        client("eks").create_cluster(name=f"c-{uid}", roleArn="arn:aws:iam::123456789012:role/r",
                                     resourcesVpcConfig={"subnetIds": subnets})
    r = run("eks_kubeconfig", cluster_name=f"c-{uid}")
    assert r["failed"] and r["msg"] == f"EKS cluster c-{uid} is CREATING, not ACTIVE"


def test_cluster_without_https_endpoint_or_ca_fails(run, cluster, aws_server, monkeypatch):
    # Class-level properties win over the model's attributes (moto) and the lab's own properties alike.
    model_class = type(backend_cluster(aws_server, cluster))
    with monkeypatch.context() as m:
        m.setattr(model_class, "endpoint", property(lambda self: "http://127.0.0.1:6443"), raising=False)
        r = run("eks_kubeconfig", cluster_name=cluster)
    assert r["failed"]
    assert r["msg"] == f"EKS cluster {cluster} has no https API endpoint (endpoint: http://127.0.0.1:6443)"
    with monkeypatch.context() as m:
        m.setattr(model_class, "certificate_authority", property(lambda self: {}), raising=False)
        r = run("eks_kubeconfig", cluster_name=cluster)
    assert r["failed"] and f"EKS cluster {cluster} reports no certificate authority data" in r["msg"]


def test_token_script_standalone(tmp_path):
    """The module_utils file is a plain script: usage errors, and a token with credentials from the env only."""
    out = subprocess.run([sys.executable, str(TOKEN_SOURCE), "--region", "us-east-1"], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 2 and "--cluster-name is required" in out.stderr
    exec_info = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                 "spec": {"interactive": False}}
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               KUBERNETES_EXEC_INFO=json.dumps(exec_info))
    env.pop("AWS_SESSION_TOKEN", None)
    out = subprocess.run([sys.executable, str(TOKEN_SOURCE), "--cluster-name", "demo", "--region", "eu-west-1"],
                         capture_output=True, text=True, check=True, env=env, cwd=tmp_path)
    cred = json.loads(out.stdout)
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1"  # answers in the version asked for
    url = base64.urlsafe_b64decode(cred["status"]["token"][len("k8s-aws-v1."):] + "==").decode()
    assert url.startswith("https://sts.eu-west-1.amazonaws.com/?")  # the regional STS endpoint, as aws eks get-token
    assert decode(cred["status"]["token"])["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert list(tmp_path.iterdir()) == []  # no --cache: nothing written


def test_exec_plugin_gets_the_session_token_and_the_profile(run, cluster, tmp_path, monkeypatch):
    """Module parameters reach the tokens: keys with a session token (env of the exec entry, over a stale token of
    the client's environment), and a named profile (over access keys in the client's environment)."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "stale-token-of-the-client")  # the client's (and this process's)
    r = run("eks_kubeconfig", cluster_name=cluster, path=str(tmp_path / "keys" / "config"),
            access_key="AKIDEKSKEYS", secret_key="secret", session_token="token-eks-keys")
    assert decode(r["token"])["X-Amz-Security-Token"] == ["token-eks-keys"]
    exec_config = json.loads(Path(r["path"]).read_text())["users"][0]["user"]["exec"]
    assert exec_config["env"] == [{"name": "AWS_ACCESS_KEY_ID", "value": "AKIDEKSKEYS"},
                                  {"name": "AWS_SECRET_ACCESS_KEY", "value": "secret"},
                                  {"name": "AWS_SESSION_TOKEN", "value": "token-eks-keys"}]
    assert mode(r["path"]) == 0o600  # it holds secrets: the owner's only
    rc, cred, err = run_exec({"exec": exec_config})
    assert rc == 0, err
    query = assert_eks_token(cred["status"]["token"])
    assert query["X-Amz-Credential"][0].startswith("AKIDEKSKEYS/")
    assert query["X-Amz-Security-Token"] == ["token-eks-keys"]

    # A profile of the shared files; the client (and this process) has other keys in its environment.
    credentials = tmp_path / "credentials"
    credentials.write_text("[edgeml-eks]\naws_access_key_id = AKIDEKSPROFILE\naws_secret_access_key = secret\n"
                           "aws_session_token = token-eks-profile\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"  # set by the aws_server fixture
    # Empty keys: amazon.aws's way of using a profile while the environment has keys.
    r = run("eks_kubeconfig", cluster_name=cluster, path=str(tmp_path / "profile" / "config"),
            access_key="", secret_key="", session_token="", profile="edgeml-eks")
    assert not r.get("failed"), r
    assert decode(r["token"])["X-Amz-Credential"][0].startswith("AKIDEKSPROFILE/")
    exec_config = json.loads(Path(r["path"]).read_text())["users"][0]["user"]["exec"]
    assert "env" not in exec_config
    assert exec_config["args"][exec_config["args"].index("--profile") + 1] == "edgeml-eks"
    rc, cred, err = run_exec({"exec": exec_config})
    assert rc == 0, err
    query = assert_eks_token(cred["status"]["token"])
    assert query["X-Amz-Credential"][0].startswith("AKIDEKSPROFILE/")
    assert query["X-Amz-Security-Token"] == ["token-eks-profile"]

"""Lab: the Kubernetes API verifies an EKS token with the own secret of the key that signed it, as STS would
(edgelab.kubeauth.LabKeys, the lab AWS endpoint's POST /_lab/credentials): the lab key `testing`, an IAM user's
active access key, an unexpired AssumeRole session with its session token; and names the caller as STS does
(edgelab.kubeauthz: a user's key -> the user, a session -> its role), with IAM enforcement off or on.
Runs against the in-process lab AWS; tokens are made by the collection's own token code (module_utils/eks_token.py,
botocore's presigner)."""

import datetime
import json
import socket
import uuid

import boto3
import pytest
import requests
from ansible_collections.edgeml.wavelength.plugins.module_utils.eks_token import get_token
from edgelab import kubeauth, kubeauthz

ACCOUNT = "123456789012"
REGION = "us-east-1"
POLICY = "arn:aws:eks::aws:cluster-access-policy/"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})


def in_process(aws_server):
    if aws_server[1] != "lab":
        pytest.skip("changes the lab config or moto's state in-process: in-process lab AWS only")


@pytest.fixture(params=["off", "enforce"])
def iam_mode(request, aws_server):
    """The test runs with the lab's IAM enforcement off (the default), then on; the mode is put back after."""
    url = aws_server[0]
    if request.param == "off":
        yield "off"
        return
    in_process(aws_server)
    before = requests.get(f"{url}/_lab/config", timeout=5).json()
    requests.post(f"{url}/_lab/config", json={"iam": "enforce", "delays": {"iam_propagation": 0}},
                  timeout=5).raise_for_status()
    assert requests.get(f"{url}/_lab/config", timeout=5).json()["iam"] == "enforce"
    try:
        yield "enforce"
    finally:
        requests.post(f"{url}/_lab/config", json={"iam": before["iam"], "delays": before["delays"]}, timeout=5)


@pytest.fixture(scope="module")
def cluster(aws_server, subnets):
    """A cluster without the creator's admin entry (as the product creates them): access is what the test grants."""
    eks = boto3.client("eks", endpoint_url=aws_server[0], region_name=REGION, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    name = f"kauth-{uuid.uuid4().hex[:8]}"
    eks.create_cluster(name=name, roleArn=f"arn:aws:iam::{ACCOUNT}:role/r", resourcesVpcConfig={"subnetIds": subnets},
                       accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False})
    return name


def token(aws_url: str, cluster: str, key: str, secret: str, session_token: str | None = None) -> str:
    """An EKS token made as the collection makes it (eks_kubeconfig, the exec credential plugin)."""
    sts = boto3.client("sts", endpoint_url=aws_url, region_name=REGION, aws_access_key_id=key,
                       aws_secret_access_key=secret, aws_session_token=session_token)
    return get_token(sts, cluster)[0]


def authenticate(aws_url: str, bearer: str, **kwargs) -> kubeauth.Identity:
    """A fresh authenticator (no token cache; key answers not cached) verifies the token."""
    auth = kubeauth.Authenticator(None, aws_url, keys=kubeauth.LabKeys(aws_url, ttl=0.0), **kwargs)
    return auth.authenticate(f"Bearer {bearer}")


def iam_user(client, uid: str, path: str = "/") -> tuple[str, str, dict]:
    iam = client("iam")
    name = f"kube-{uid}"
    arn = iam.create_user(UserName=name, Path=path)["User"]["Arn"]
    return name, arn, iam.create_access_key(UserName=name)["AccessKey"]


def describe(aws_url: str, **body) -> requests.Response:
    return requests.post(f"{aws_url}/_lab/credentials", json=body, timeout=5)


# -- the control route ---------------------------------------------------------------------------------------------
def test_credentials_route(lab_only, aws_url, client, uid):
    lab = describe(aws_url, access_key_id="testing").json()
    assert lab == {"access_key_id": "testing", "type": "lab", "arn": f"arn:aws:sts::{ACCOUNT}:user/moto",
                   "principal_arn": f"arn:aws:sts::{ACCOUNT}:user/moto", "status": "Active", "expiration": None,
                   "secret_access_key": "testing"}

    name, arn, key = iam_user(client, uid, path="/dev/")
    assert arn == f"arn:aws:iam::{ACCOUNT}:user/dev/{name}"
    user = describe(aws_url, access_key_id=key["AccessKeyId"]).json()
    assert user == {"access_key_id": key["AccessKeyId"], "type": "user", "arn": arn, "principal_arn": arn,
                    "status": "Active", "expiration": None, "secret_access_key": key["SecretAccessKey"]}
    with_token = describe(aws_url, access_key_id=key["AccessKeyId"], session_token="x").json()
    assert with_token["status"] == "InvalidToken" and "secret_access_key" not in with_token
    client("iam").update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert describe(aws_url, access_key_id=key["AccessKeyId"]).json()["status"] == "Inactive"

    role = client("iam").create_role(RoleName=f"kube-{uid}", Path="/teams/", AssumeRolePolicyDocument=TRUST)["Role"]
    creds = client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="ci-1")["Credentials"]
    session = describe(aws_url, access_key_id=creds["AccessKeyId"], session_token=creds["SessionToken"]).json()
    assert session == {"access_key_id": creds["AccessKeyId"], "type": "session",
                       "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/kube-{uid}/ci-1", "principal_arn": role["Arn"],
                       "status": "Active", "expiration": creds["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "secret_access_key": creds["SecretAccessKey"]}
    for wrong in (None, "not-the-token"):
        answer = describe(aws_url, access_key_id=creds["AccessKeyId"], session_token=wrong).json()
        assert answer["status"] == "InvalidToken" and "secret_access_key" not in answer

    client("iam").delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    for unknown in (key["AccessKeyId"], "AKIAIOSFODNN7EXAMPLE"):
        resp = describe(aws_url, access_key_id=unknown)
        assert resp.status_code == 404 and resp.json()["error"] == "unknown access key id"
    assert requests.post(f"{aws_url}/_lab/credentials", json=["x"], timeout=5).status_code == 400


# -- tokens of IAM users' keys -------------------------------------------------------------------------------------
def test_token_of_an_iam_users_key_maps_to_the_users_access_entry(iam_mode, lab_only, aws_url, client, uid, cluster):
    _, arn, key = iam_user(client, uid)
    assert arn == f"arn:aws:iam::{ACCOUNT}:user/kube-{uid}"
    bearer = token(aws_url, cluster, key["AccessKeyId"], key["SecretAccessKey"])
    identity = authenticate(aws_url, bearer)
    assert (identity.access_key_id, identity.arn, identity.cluster, identity.region) == \
        (key["AccessKeyId"], arn, cluster, REGION)

    authz = kubeauthz.Authorizer(aws_url, ttl=0.0)
    with pytest.raises(kubeauth.Refused, match="no access entry"):
        authz.check(identity, "GET", "/api/v1/namespaces/edgeml/pods")
    eks = client("eks")
    eks.create_access_entry(clusterName=cluster, principalArn=arn)
    eks.associate_access_policy(clusterName=cluster, principalArn=arn, policyArn=POLICY + "AmazonEKSViewPolicy",
                                accessScope={"type": "namespace", "namespaces": ["edgeml"]})
    subject = authz.subject(identity)
    assert (subject.username, subject.principal_arn) == (arn, arn)
    assert authz.check(identity, "GET", "/api/v1/namespaces/edgeml/pods") is None
    denied = authz.check(identity, "POST", "/api/v1/namespaces/edgeml/pods")
    assert denied["code"] == 403 and f'User "{arn}"' in denied["message"]
    # the key id alone (no ARN from the authenticator) names the same user
    bare = kubeauth.Identity(username="eks:x", access_key_id=key["AccessKeyId"], cluster=cluster, region=REGION)
    assert authz.caller(bare).arn == arn and authz.subject(bare).principal_arn == arn


def test_a_token_signed_with_another_secret_is_refused(iam_mode, lab_only, aws_url, client, uid, cluster):
    _, _, key = iam_user(client, uid)
    real = key["SecretAccessKey"]
    for secret in ("testing", "x" * 40, real[:-1] + ("A" if real[-1] != "A" else "B")):  # `testing` is not the secret
        with pytest.raises(kubeauth.Refused, match="signature matches no EKS cluster"):
            authenticate(aws_url, token(aws_url, cluster, key["AccessKeyId"], secret))
    with pytest.raises(kubeauth.Refused, match="signature matches no EKS cluster"):
        authenticate(aws_url, token(aws_url, cluster, "testing", "not-testing"))
    # a session token with a user's key: STS refuses it, whatever the signature
    with pytest.raises(kubeauth.Refused, match="session token"):
        authenticate(aws_url, token(aws_url, cluster, key["AccessKeyId"], key["SecretAccessKey"], "token"))


def test_inactive_and_deleted_keys_are_refused(iam_mode, lab_only, aws_url, client, uid, cluster):
    name, _, key = iam_user(client, uid)
    iam, key_id = client("iam"), key["AccessKeyId"]
    bearer = token(aws_url, cluster, key_id, key["SecretAccessKey"])
    assert authenticate(aws_url, bearer).access_key_id == key_id
    iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
    with pytest.raises(kubeauth.Refused, match="Inactive"):
        authenticate(aws_url, bearer)
    with pytest.raises(kubeauth.Refused, match="Inactive"):  # nor does the authorizer name its caller
        kubeauthz.Authorizer(aws_url).caller(kubeauth.Identity(username="eks:x", access_key_id=key_id))
    iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Active")
    assert authenticate(aws_url, bearer).access_key_id == key_id
    iam.delete_access_key(UserName=name, AccessKeyId=key_id)
    with pytest.raises(kubeauth.Refused, match="unknown access key id"):
        authenticate(aws_url, bearer)
    with pytest.raises(kubeauth.Refused, match="unknown access key id"):  # nor with the lab's secret
        authenticate(aws_url, token(aws_url, cluster, key_id, "testing"))


def test_key_answers_are_cached_for_a_few_seconds(lab_only, aws_url, client, uid):
    name, _, key = iam_user(client, uid)
    keys = kubeauth.LabKeys(aws_url, ttl=60.0)
    assert keys.lookup(key["AccessKeyId"]).secret == key["SecretAccessKey"]
    client("iam").update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert keys.lookup(key["AccessKeyId"]).arn.endswith(f"user/{name}")  # still the cached answer
    with pytest.raises(kubeauth.Refused, match="Inactive"):
        kubeauth.LabKeys(aws_url, ttl=60.0).lookup(key["AccessKeyId"])
    assert "secret" not in repr(keys.lookup(key["AccessKeyId"]))


def test_an_endpoint_that_does_not_answer_refuses(lab_only):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(kubeauth.Refused, match="cannot look up access key"):
        kubeauth.LabKeys(f"http://127.0.0.1:{port}").lookup("testing")


# -- tokens of AssumeRole sessions ---------------------------------------------------------------------------------
def test_token_of_an_assumed_role_session_maps_to_the_role(iam_mode, lab_only, aws_url, client, uid, cluster):
    role = client("iam").create_role(RoleName=f"kube-{uid}", Path="/teams/", AssumeRolePolicyDocument=TRUST)["Role"]
    creds = client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="ci-42")["Credentials"]
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/kube-{uid}/ci-42"
    bearer = token(aws_url, cluster, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    identity = authenticate(aws_url, bearer)
    assert (identity.arn, identity.session_token, identity.cluster) == (session_arn, creds["SessionToken"], cluster)

    eks = client("eks")
    eks.create_access_entry(clusterName=cluster, principalArn=role["Arn"])  # the role (with its path), not the session
    eks.associate_access_policy(clusterName=cluster, principalArn=role["Arn"],
                                policyArn=POLICY + "AmazonEKSClusterAdminPolicy", accessScope={"type": "cluster"})
    authz = kubeauthz.Authorizer(aws_url, ttl=0.0)
    subject = authz.subject(identity)
    assert (subject.username, subject.principal_arn) == (session_arn, role["Arn"])
    assert authz.check(identity, "POST", "/api/v1/namespaces") is None

    # the session's secret, with its own token only
    for secret, session_token, why in (("testing", creds["SessionToken"], "signature matches no EKS cluster"),
                                       (creds["SecretAccessKey"], None, "session token"),
                                       (creds["SecretAccessKey"], "another-token", "session token")):
        with pytest.raises(kubeauth.Refused, match=why):
            authenticate(aws_url, token(aws_url, cluster, creds["AccessKeyId"], secret, session_token))
    # past the session's expiration (the authenticator's clock), refused
    later = creds["Expiration"].astimezone(datetime.UTC) + datetime.timedelta(seconds=1)
    with pytest.raises(kubeauth.Refused, match="expired"):
        authenticate(aws_url, token(aws_url, cluster, creds["AccessKeyId"], creds["SecretAccessKey"],
                                    creds["SessionToken"]), clock=lambda: later)


def test_an_expired_session_is_refused(iam_mode, lab_only, aws_server, aws_url, client, uid, cluster):
    in_process(aws_server)
    from moto.core.utils import utcnow
    from moto.sts.models import sts_backends
    role = client("iam").create_role(RoleName=f"kube-{uid}", AssumeRolePolicyDocument=TRUST)["Role"]
    creds = client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="old")["Credentials"]
    bearer = token(aws_url, cluster, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert authenticate(aws_url, bearer).arn.endswith(f"assumed-role/kube-{uid}/old")
    session = next(s for s in sts_backends[ACCOUNT]["aws"].assumed_roles if s.access_key_id == creds["AccessKeyId"])
    session.expiration = utcnow() - datetime.timedelta(seconds=1)  # moto keeps it; STS refuses it
    with pytest.raises(kubeauth.Refused, match="expired"):
        authenticate(aws_url, bearer)


# -- the lab's key -------------------------------------------------------------------------------------------------
def test_the_lab_key_signs_with_testing_as_before(iam_mode, lab_only, aws_url, client, uid, subnets):
    eks = client("eks")
    eks.create_cluster(name=f"kboot-{uid}", roleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
                       resourcesVpcConfig={"subnetIds": subnets})  # the creator (moto's user/moto) gets an entry
    identity = authenticate(aws_url, token(aws_url, f"kboot-{uid}", "testing", "testing"))
    assert (identity.access_key_id, identity.arn) == ("testing", f"arn:aws:sts::{ACCOUNT}:user/moto")
    assert kubeauthz.Authorizer(aws_url).check(identity, "POST", "/api/v1/namespaces") is None
    # a session token with the lab key is ignored, as the lab AWS endpoint ignores it
    assert authenticate(aws_url, token(aws_url, f"kboot-{uid}", "testing", "testing", "x")).arn == identity.arn

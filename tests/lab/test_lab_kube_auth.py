"""The lab Kubernetes API refuses what EKS refuses: TLS only (lab CA), EKS bearer tokens (presigned STS
GetCallerIdentity, <= 15 minutes old, signed for an existing EKS cluster) or the lab-only admin token; anything else
-> 401 with a Kubernetes Status. The token's IAM principal needs an access entry on the cluster (else 401) whose
access policies allow the request (else 403 Forbidden).

A private API server (edgelab.kube.subprocess_server) checks tokens against the lab AWS endpoint running in-process
(the session's lab_aws): no running lab needed.
"""

import base64
import datetime
import json
import ssl
import urllib.error
import urllib.request
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import requests
from aws_helpers import client, wait_for
from edgelab import config, kube, kubeauth, kubetls

CLUSTER = "auth-edge"
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}


@pytest.fixture(scope="module")
def cluster(lab_aws):
    eks = client(lab_aws, "eks")
    if CLUSTER not in eks.list_clusters()["clusters"]:
        eks.create_cluster(name=CLUSTER, roleArn="arn:aws:iam::123456789012:role/edge-cluster",
                           resourcesVpcConfig={})
    wait_for(lambda: eks.describe_cluster(name=CLUSTER)["cluster"]["status"] == "ACTIVE", 10)
    return eks.describe_cluster(name=CLUSTER)["cluster"]


@pytest.fixture(scope="module")
def server(lab_aws, cluster):
    with kube.subprocess_server(aws_url=lab_aws.url) as server:
        yield server


def eks_token(cluster: str, endpoint: str | None, region: str = "us-east-1", when: datetime.datetime | None = None,
              operation: str = "get_caller_identity", secret: str = "testing", key: str = "testing",
              session_token: str | None = None) -> str:
    """A token made as EKS clients make it (aws eks get-token, aws-iam-authenticator), signed with the key's own
    secret (the lab key's is `testing`)."""
    sts = boto3.client("sts", region_name=region, endpoint_url=endpoint, aws_access_key_id=key,
                       aws_secret_access_key=secret, aws_session_token=session_token)
    event = "GetCallerIdentity" if operation == "get_caller_identity" else "GetSessionToken"
    sts.meta.events.register(f"before-sign.sts.{event}",
                             lambda request, **_: request.headers.__setitem__("x-k8s-aws-id", cluster))
    if when is None:
        url = sts.generate_presigned_url(operation, Params={}, ExpiresIn=60, HttpMethod="GET")
    else:  # botocore's signing clock, frozen
        with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            url = sts.generate_presigned_url(operation, Params={}, ExpiresIn=60, HttpMethod="GET")
    return kubeauth.TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def decoded(token: str) -> str:
    body = token.removeprefix(kubeauth.TOKEN_PREFIX)
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def encoded(url: str) -> str:
    return kubeauth.TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def edit_query(token: str, **changes) -> str:
    parts = urlsplit(decoded(token))
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return encoded(urlunsplit((*parts[:3], urlencode(query), "")))


def get(server, token: str | None, path: str = "/api/v1/namespaces") -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would replace verify=
    return http.get(server.url + path, headers=headers, verify=str(server.ca_cert), timeout=10)


def assert_refused(resp: requests.Response) -> None:
    assert resp.status_code == 401, resp.text
    assert UNAUTHORIZED.items() <= resp.json().items()


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# -- EKS tokens ------------------------------------------------------------------------------------------------
def test_valid_eks_token(server, lab_aws):
    resp = get(server, eks_token(CLUSTER, lab_aws.url))
    assert resp.status_code == 200, resp.text
    assert resp.json()["kind"] == "NamespaceList"


def test_token_of_the_global_sts_endpoint_and_another_region(server):
    """aws eks get-token without an endpoint (https://sts.us-west-2.amazonaws.com) for a us-east-1 cluster: EKS
    does not tie a token to a region."""
    token = eks_token(CLUSTER, None, region="us-west-2")
    assert decoded(token).startswith("https://sts.us-west-2.amazonaws.com/")
    assert get(server, token).status_code == 200


def test_token_age_limits(server, lab_aws):
    assert get(server, eks_token(CLUSTER, lab_aws.url, when=now() - datetime.timedelta(minutes=14))).status_code == 200
    assert_refused(get(server, eks_token(CLUSTER, lab_aws.url, when=now() - datetime.timedelta(minutes=16))))
    assert_refused(get(server, eks_token(CLUSTER, lab_aws.url, when=now() + datetime.timedelta(minutes=6))))


def test_no_or_malformed_tokens(server, lab_aws):
    token = eks_token(CLUSTER, lab_aws.url)
    body = token.removeprefix(kubeauth.TOKEN_PREFIX)
    assert_refused(get(server, None))
    assert_refused(get(server, ""))
    assert_refused(get(server, body))  # no prefix
    assert_refused(get(server, "k8s-aws-v1.!!not-base64!!"))
    assert_refused(get(server, token + "=="))  # padding: EKS decodes RawURLEncoding
    assert_refused(get(server, "k8s-aws-v1." + base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("=")))
    assert_refused(get(server, encoded("https://example.com/?Action=GetCallerIdentity")))
    resp = requests.get(server.url + "/api/v1/namespaces", headers={"Authorization": f"Basic {token}"},
                        verify=str(server.ca_cert), timeout=10)
    assert_refused(resp)


def test_other_action_or_unsigned_cluster_header(server, lab_aws):
    # validly signed, with x-k8s-aws-id, but another STS action
    assert_refused(get(server, eks_token(CLUSTER, lab_aws.url, operation="get_session_token")))
    assert_refused(get(server, edit_query(eks_token(CLUSTER, lab_aws.url), Action="GetSessionToken")))
    assert_refused(get(server, edit_query(eks_token(CLUSTER, lab_aws.url), **{"X-Amz-SignedHeaders": "host"})))
    assert_refused(get(server, edit_query(eks_token(CLUSTER, lab_aws.url), **{"X-Amz-Algorithm": "AWS4-HMAC-SHA1"})))
    assert_refused(get(server, edit_query(eks_token(CLUSTER, lab_aws.url), Extra="1")))


def test_tampered_tokens(server, lab_aws):
    token = eks_token(CLUSTER, lab_aws.url)
    signature = dict(parse_qsl(urlsplit(decoded(token)).query))["X-Amz-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert_refused(get(server, edit_query(token, **{"X-Amz-Signature": flipped})))
    # an old token made to look fresh: the date is signed
    old = eks_token(CLUSTER, lab_aws.url, when=now() - datetime.timedelta(minutes=20))
    assert_refused(get(server, edit_query(old, **{"X-Amz-Date": now().strftime("%Y%m%dT%H%M%SZ")})))
    # signed with a secret the lab does not have for this key id
    assert_refused(get(server, eks_token(CLUSTER, lab_aws.url, secret="not-the-secret")))


def test_token_for_a_cluster_that_does_not_exist(server, lab_aws):
    assert_refused(get(server, eks_token("no-such-cluster", lab_aws.url)))


def test_the_signed_cluster_header_is_what_counts(lab_aws, cluster):
    """The cluster a token is for is the x-k8s-aws-id it was signed with: verifying it for any other name fails."""
    presigned = kubeauth.decode_token(eks_token(CLUSTER, lab_aws.url), {urlsplit(lab_aws.url).netloc})
    assert kubeauth.signature_matches(presigned, CLUSTER, "testing")
    assert not kubeauth.signature_matches(presigned, CLUSTER + "-other", "testing")
    assert not kubeauth.signature_matches(presigned, CLUSTER, "other-secret")
    auth = kubeauth.Authenticator(None, lab_aws.url)
    identity = auth.authenticate(f"Bearer {eks_token(CLUSTER, lab_aws.url)}")
    assert (identity.cluster, identity.region, identity.access_key_id) == (CLUSTER, "us-east-1", "testing")
    with pytest.raises(kubeauth.Refused, match="matches no EKS cluster"):
        auth.authenticate(f"Bearer {eks_token('ghost', lab_aws.url)}")


# -- authorization: access entries and access policies ---------------------------------------------------------
POLICY = "arn:aws:eks::aws:cluster-access-policy/"
LOCKED = "authz-edge"  # created without bootstrapClusterCreatorAdminPermissions, as the product creates clusters


@pytest.fixture(scope="module")
def locked(lab_aws):
    eks = client(lab_aws, "eks")
    if LOCKED not in eks.list_clusters()["clusters"]:
        eks.create_cluster(name=LOCKED, roleArn="arn:aws:iam::123456789012:role/edge-cluster", resourcesVpcConfig={},
                           accessConfig={"authenticationMode": "API",
                                         "bootstrapClusterCreatorAdminPermissions": False})
    wait_for(lambda: eks.describe_cluster(name=LOCKED)["cluster"]["status"] == "ACTIVE", 10)
    return eks


def iam_user(lab_aws, name: str) -> tuple[str, str, str]:
    """(user ARN, access key id, secret) of a new IAM user: the lab's STS names the key's user."""
    iam = client(lab_aws, "iam")
    user = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return user, key["AccessKeyId"], key["SecretAccessKey"]


def send(server, token: str, method: str, path: str, body: dict | None = None) -> requests.Response:
    http = requests.Session()
    http.trust_env = False
    return http.request(method, server.url + path, json=body, headers={"Authorization": f"Bearer {token}"},
                        verify=str(server.ca_cert), timeout=10)


def test_a_valid_token_without_access_entry_is_unauthorized(server, lab_aws, locked):
    """The first Kubernetes call of whoever created the cluster without an access entry for themselves: 401."""
    _, key, secret = iam_user(lab_aws, "kube-auth-no-entry")
    token = eks_token(LOCKED, lab_aws.url, key=key, secret=secret)
    assert_refused(get(server, token))
    assert_refused(get(server, token, "/version"))  # no user at all, not even for the public paths
    assert_refused(get(server, eks_token(LOCKED, lab_aws.url)))  # the lab's default credentials: no entry either
    assert get(server, eks_token(CLUSTER, lab_aws.url)).status_code == 200  # the creator of a bootstrapped cluster


def test_view_policy_reads_and_may_not_write(server, lab_aws, locked):
    user, key, secret = iam_user(lab_aws, "kube-auth-viewer")
    locked.create_access_entry(clusterName=LOCKED, principalArn=user)
    locked.associate_access_policy(clusterName=LOCKED, principalArn=user, policyArn=POLICY + "AmazonEKSViewPolicy",
                                   accessScope={"type": "cluster"})
    token = eks_token(LOCKED, lab_aws.url, key=key, secret=secret)
    assert get(server, token).json()["kind"] == "NamespaceList"
    resp = send(server, token, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                              "metadata": {"name": "viewer-ns"}})
    assert resp.status_code == 403, resp.text
    assert resp.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "reason": "Forbidden", "code": 403, "details": {"kind": "namespaces"},
                           "message": f'namespaces is forbidden: User "{user}" cannot create resource "namespaces" '
                                      f'in API group "" at the cluster scope'}
    resp = get(server, token, "/api/v1/nodes")
    assert resp.status_code == 403 and 'cannot list resource "nodes"' in resp.json()["message"]

    # Removing the entry locks the user out again (within seconds, as EKS)
    locked.delete_access_entry(clusterName=LOCKED, principalArn=user)
    wait_for(lambda: get(server, token).status_code == 401, 10, step=0.5)


def test_cluster_admin_may_write_and_an_assumed_role_maps_to_its_role(server, lab_aws, locked):
    iam = client(lab_aws, "iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]})
    role = iam.create_role(RoleName="kube-auth-deployer", Path="/teams/", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    creds = client(lab_aws, "sts").assume_role(RoleArn=role, RoleSessionName="ci-7")["Credentials"]
    token = eks_token(LOCKED, lab_aws.url, key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                      session_token=creds["SessionToken"])
    locked.create_access_entry(clusterName=LOCKED, principalArn=role)  # the role, with its path
    locked.associate_access_policy(clusterName=LOCKED, principalArn=role,
                                   policyArn=POLICY + "AmazonEKSClusterAdminPolicy", accessScope={"type": "cluster"})
    resp = send(server, token, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                              "metadata": {"name": "deployer-ns"}})
    assert resp.status_code == 200, resp.text
    assert send(server, token, "DELETE", "/api/v1/namespaces/deployer-ns").status_code == 200


# -- the admin token, public paths ----------------------------------------------------------------------------
def test_admin_token(server):
    assert get(server, server.token).status_code == 200
    assert_refused(get(server, server.token + "x"))
    auth = kube.admin_auth(server)
    assert auth == {"host": server.url, "api_key": server.token, "ca_cert": str(server.ca_cert),
                    "validate_certs": True}
    assert (server.ca_cert.parent / "admin-token").stat().st_mode & 0o777 == 0o600


def test_public_paths_need_no_credential(server):
    assert get(server, None, "/version").json()["major"]
    for path in ("/healthz", "/readyz", "/livez"):
        resp = get(server, None, path)
        assert resp.status_code == 200 and resp.text == "ok"
    assert_refused(get(server, "wrong", "/version"))  # a credential that is given must be valid


# -- TLS -------------------------------------------------------------------------------------------------------
def test_tls_only_and_verified_with_the_lab_ca(server):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url.replace("https://", "http://") + "/version", timeout=5)
    with pytest.raises(urllib.error.URLError) as e:  # the system trust store does not know the lab CA
        urllib.request.urlopen(server.url + "/version", timeout=5, context=ssl.create_default_context())
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
    with server.urlopen(server.url + "/version") as resp:
        assert resp.status == 200
    # the certificate names localhost too
    with server.urlopen(server.url.replace("127.0.0.1", "localhost") + "/api/v1/nodes") as resp:
        assert json.load(resp)["kind"] == "NodeList"


def test_eks_returns_the_https_endpoint_and_the_ca(cluster, server, tmp_path):
    ca = base64.b64decode(cluster["certificateAuthority"]["data"])
    assert ca == server.ca_cert.read_bytes() == (config.KUBE_STATE_DIR / "ca.crt").read_bytes()
    assert cluster["endpoint"].startswith("https://")
    (tmp_path / "ca.crt").write_bytes(ca)  # what a kubeconfig made from DescribeCluster holds
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    with urllib.request.urlopen(server.url + "/version", timeout=5, context=context) as resp:
        assert resp.status == 200


def test_state_files_are_kept(tmp_path):
    first = kubetls.ensure(tmp_path)
    ca, token, cert = first.ca_cert.read_bytes(), first.admin_token, first.server_cert.read_bytes()
    assert first.ca_key.stat().st_mode & 0o777 == 0o600 and first.server_key.stat().st_mode & 0o777 == 0o600
    again = kubetls.ensure(tmp_path)
    assert (again.ca_cert.read_bytes(), again.admin_token, again.server_cert.read_bytes()) == (ca, token, cert)
    first.server_cert.unlink()  # a missing server certificate is re-issued by the same CA
    assert kubetls.ensure(tmp_path).ca_cert.read_bytes() == ca and first.server_cert.exists()

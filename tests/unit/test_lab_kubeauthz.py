"""Lab: authorization of the Kubernetes API as EKS does it (edgelab.kubeauthz): request attributes, the access
policies' rules and scopes, the node group, the 403 Status, the IAM principal of a key (STS) and its access entry.
The lookups run against the in-process lab AWS."""

import json

import pytest
from edgelab import kubeauth, kubeauthz
from edgelab.kubeauthz import Association, Subject, allowed, forbidden, principal, request_info

ACCOUNT = "123456789012"
POLICY = "arn:aws:eks::aws:cluster-access-policy/"


def subject(*associations, groups=()) -> Subject:
    return Subject(username="arn:aws:iam::123456789012:user/dev", groups=(*groups, kubeauthz.AUTHENTICATED),
                   associations=tuple(Association(*a) for a in associations))


def can(subj: Subject, method: str, path: str, query: str = "") -> bool:
    return allowed(subj, request_info(method, path, query))


# -- request attributes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/api/v1/namespaces/edgeml/pods", "", ("list", "", "pods", "", "edgeml", "")),
    ("GET", "/api/v1/namespaces/edgeml/pods", "watch=true", ("watch", "", "pods", "", "edgeml", "")),
    ("GET", "/api/v1/namespaces/edgeml/pods/p1/log", "", ("get", "", "pods", "log", "edgeml", "p1")),
    ("GET", "/api/v1/nodes", "labelSelector=a", ("list", "", "nodes", "", "", "")),
    ("POST", "/api/v1/namespaces", "", ("create", "", "namespaces", "", "", "")),
    ("DELETE", "/api/v1/namespaces/edgeml", "", ("delete", "", "namespaces", "", "edgeml", "edgeml")),
    ("PUT", "/api/v1/namespaces/edgeml/finalize", "", ("update", "", "namespaces", "finalize", "edgeml", "edgeml")),
    ("PATCH", "/apis/apps/v1/namespaces/edgeml/deployments/d/status", "",
     ("patch", "apps", "deployments", "status", "edgeml", "d")),
    ("DELETE", "/apis/batch/v1/namespaces/edgeml/jobs", "", ("deletecollection", "batch", "jobs", "", "edgeml", "")),
    ("GET", "/api/v1/watch/namespaces/edgeml/pods", "", ("watch", "", "pods", "", "edgeml", "")),
])
def test_request_attributes(method, path, query, expected):
    info = request_info(method, path, query)
    assert info.resource_request
    assert (info.verb, info.group, info.resource, info.subresource, info.namespace, info.name) == expected


@pytest.mark.parametrize("path", ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/version", "/metrics"])
def test_non_resource_paths(path):
    info = request_info("GET", path)
    assert not info.resource_request and info.verb == "get" and info.path == path


# -- access policies -------------------------------------------------------------------------------------------
def test_no_policy_allows_only_discovery():
    nobody = subject()
    assert can(nobody, "GET", "/api") and can(nobody, "GET", "/apis/apps/v1") and can(nobody, "GET", "/version")
    assert can(nobody, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert not can(nobody, "GET", "/api/v1/namespaces")
    assert not can(nobody, "GET", "/metrics")


def test_cluster_admin_may_do_anything():
    admin = subject(("AmazonEKSClusterAdminPolicy",))
    for method, path in [("POST", "/api/v1/namespaces"), ("DELETE", "/api/v1/nodes/n1"), ("GET", "/metrics"),
                         ("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x")]:
        assert can(admin, method, path)


def test_view_policy_reads_but_does_not_write():
    view = subject(("AmazonEKSViewPolicy",))
    assert can(view, "GET", "/api/v1/namespaces/edgeml/pods")
    assert can(view, "GET", "/apis/apps/v1/deployments", "watch=1")
    assert can(view, "GET", "/api/v1/namespaces")
    assert not can(view, "POST", "/api/v1/namespaces/edgeml/pods")
    assert not can(view, "DELETE", "/apis/apps/v1/namespaces/edgeml/deployments/d")
    assert not can(view, "GET", "/api/v1/namespaces/edgeml/secrets")  # view does not read secrets
    assert not can(view, "GET", "/api/v1/nodes")  # nor cluster-scoped resources beyond namespaces


def test_edit_and_admin_policies():
    edit = subject(("AmazonEKSEditPolicy",))
    assert can(edit, "POST", "/apis/apps/v1/namespaces/edgeml/deployments")
    assert can(edit, "PATCH", "/api/v1/namespaces/edgeml/services/s")
    assert can(edit, "DELETE", "/apis/networking.k8s.io/v1/namespaces/edgeml/networkpolicies/n")
    assert can(edit, "GET", "/api/v1/namespaces/edgeml/secrets/s")
    assert not can(edit, "POST", "/api/v1/namespaces")  # no namespaces
    assert not can(edit, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/edgeml/rolebindings")  # no RBAC
    admin = subject(("AmazonEKSAdminPolicy",))
    assert can(admin, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/edgeml/rolebindings")
    assert not can(admin, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
    assert not can(admin, "POST", "/api/v1/namespaces") and not can(admin, "GET", "/api/v1/nodes")
    admin_view = subject(("AmazonEKSAdminViewPolicy",))
    assert can(admin_view, "GET", "/api/v1/nodes") and can(admin_view, "GET", "/api/v1/namespaces/x/secrets")
    assert not can(admin_view, "PATCH", "/api/v1/nodes/n1")


def test_namespace_scope():
    scoped = subject(("AmazonEKSEditPolicy", "namespace", ("edgeml", "team-*")))
    assert can(scoped, "POST", "/apis/apps/v1/namespaces/edgeml/deployments")
    assert can(scoped, "POST", "/apis/apps/v1/namespaces/team-a/deployments")  # wildcard
    assert can(scoped, "GET", "/api/v1/namespaces/edgeml")  # a Namespace object is in itself
    assert not can(scoped, "POST", "/apis/apps/v1/namespaces/other/deployments")
    assert not can(scoped, "GET", "/apis/apps/v1/deployments")  # all namespaces: cluster scope
    assert not can(scoped, "GET", "/api/v1/namespaces")
    assert not can(subject(("AmazonEKSClusterAdminPolicy", "namespace", ("edgeml",))), "GET", "/api/v1/nodes")
    # several associations add up, each in its own scope
    both = subject(("AmazonEKSViewPolicy",), ("AmazonEKSEditPolicy", "namespace", ("edgeml",)))
    assert can(both, "GET", "/api/v1/namespaces/other/pods") and not can(both, "POST", "/api/v1/namespaces/other/pods")
    assert can(both, "POST", "/api/v1/namespaces/edgeml/pods")


def test_node_group():
    node = subject(groups=("system:nodes",))
    assert can(node, "POST", "/api/v1/nodes") and can(node, "PATCH", "/api/v1/nodes/n1/status")
    assert can(node, "PATCH", "/api/v1/namespaces/edgeml/pods/p/status")
    assert can(node, "GET", "/api/v1/pods", "fieldSelector=spec.nodeName%3Dn1")
    assert can(node, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1")
    assert not can(node, "POST", "/apis/apps/v1/namespaces/edgeml/deployments")
    assert not can(node, "PATCH", "/apis/apps/v1/namespaces/edgeml/deployments/d/status")
    assert not can(node, "DELETE", "/api/v1/namespaces/edgeml")


def test_lab_admin_is_superuser():
    assert can(kubeauthz.ADMIN, "DELETE", "/api/v1/namespaces/kube-system")


def test_forbidden_status_as_kube_apiserver_sends_it():
    user = "arn:aws:sts::123456789012:assumed-role/dev/alice"
    body = forbidden(user, request_info("POST", "/apis/apps/v1/namespaces/edgeml/deployments"))
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Forbidden",
                    "code": 403, "details": {"group": "apps", "kind": "deployments"},
                    "message": f'deployments.apps is forbidden: User "{user}" cannot create resource "deployments" '
                               f'in API group "apps" in the namespace "edgeml"'}
    body = forbidden(user, request_info("DELETE", "/api/v1/namespaces/edgeml"))
    assert body["message"] == (f'namespaces "edgeml" is forbidden: User "{user}" cannot delete resource "namespaces" '
                               f'in API group "" in the namespace "edgeml"')
    assert body["details"] == {"name": "edgeml", "kind": "namespaces"}
    assert forbidden(user, request_info("GET", "/api/v1/nodes"))["message"].endswith(
        'cannot list resource "nodes" in API group "" at the cluster scope')
    assert forbidden(user, request_info("GET", "/metrics"))["message"] == \
        f'forbidden: User "{user}" cannot get path "/metrics"'


# -- principals ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("arn", "kind", "name", "session", "entry_arn"), [
    ("arn:aws:sts::123456789012:assumed-role/deployer/ci-42", "role", "deployer", "ci-42",
     "arn:aws:iam::123456789012:role/deployer"),
    ("arn:aws:iam::123456789012:role/teams/ops/deployer", "role", "deployer", "",
     "arn:aws:iam::123456789012:role/deployer"),
    ("arn:aws:iam::123456789012:user/dev/alice", "user", "alice", "", "arn:aws:iam::123456789012:user/dev/alice"),
    ("arn:aws:iam::123456789012:root", "root", "", "", "arn:aws:iam::123456789012:root"),
    ("arn:aws:sts::123456789012:federated-user/bob", "federated-user", "bob", "bob",
     "arn:aws:sts::123456789012:federated-user/bob"),
    ("arn:aws:sts::123456789012:user/moto", "user", "moto", "", "arn:aws:sts::123456789012:user/moto"),  # moto's
    ("arn:aws-cn:sts::123456789012:assumed-role/r/s", "role", "r", "s", "arn:aws-cn:iam::123456789012:role/r"),
])
def test_principal_of_an_arn(arn, kind, name, session, entry_arn):
    p = principal(arn)
    assert (p.kind, p.name, p.session, p.entry_arn) == (kind, name, session, entry_arn)


def test_a_session_matches_its_role_with_or_without_path_but_no_other():
    session = principal("arn:aws:sts::123456789012:assumed-role/deployer/ci-42")
    assert session.key == principal("arn:aws:iam::123456789012:role/teams/deployer").key
    assert session.key == principal("arn:aws:iam::123456789012:role/deployer").key
    assert session.key != principal("arn:aws:iam::123456789012:user/deployer").key
    assert session.key != principal("arn:aws:iam::210987654321:role/deployer").key
    assert principal("not an arn").key == ("not an arn",)


def test_subject_of_an_access_entry():
    caller = principal("arn:aws:sts::123456789012:assumed-role/deployer/ci-42")
    entry = {"principalArn": "arn:aws:iam::123456789012:role/deployer", "type": "STANDARD",
             "username": "arn:aws:sts::123456789012:assumed-role/deployer/{{SessionName}}",
             "kubernetesGroups": ["team"]}
    policies = [{"policyArn": POLICY + "AmazonEKSViewPolicy", "accessScope": {"type": "namespace",
                                                                             "namespaces": ["edgeml"]}}]
    subj = kubeauthz.subject_of(caller, entry, policies)
    assert subj.username == "arn:aws:sts::123456789012:assumed-role/deployer/ci-42"
    assert subj.groups == ("team", "system:authenticated")
    assert subj.associations == (Association("AmazonEKSViewPolicy", "namespace", ("edgeml",)),)


# -- lookups: STS and the access entries of the lab AWS --------------------------------------------------------
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})


def test_authorizer_maps_the_key_to_its_access_entry(lab_only, aws_url, client, uid, subnets):
    eks, iam = client("eks"), client("iam")
    cluster = f"authz-{uid}"
    eks.create_cluster(name=cluster, roleArn=f"arn:aws:iam::{ACCOUNT}:role/r", resourcesVpcConfig={
        "subnetIds": subnets}, accessConfig={"authenticationMode": "API",
                                             "bootstrapClusterCreatorAdminPermissions": False})
    role = iam.create_role(RoleName=f"deployer-{uid}", Path="/teams/", AssumeRolePolicyDocument=TRUST)["Role"]
    creds = client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="ci-42")["Credentials"]
    identity = kubeauth.Identity(username="eks:x", access_key_id=creds["AccessKeyId"], cluster=cluster,
                                 region="us-east-1", session_token=creds["SessionToken"])
    authz = kubeauthz.Authorizer(aws_url, ttl=0.0)
    caller = authz.caller(identity)
    assert caller.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-{uid}/ci-42"
    with pytest.raises(kubeauth.Refused, match="no access entry"):
        authz.check(identity, "GET", "/api/v1/namespaces")

    # EKS refuses the session itself as a principal; the entry names the role (here with its path)
    with pytest.raises(eks.exceptions.InvalidParameterException, match="invalid principal"):
        eks.create_access_entry(clusterName=cluster, principalArn=caller.arn)
    entry = eks.create_access_entry(clusterName=cluster, principalArn=role["Arn"])["accessEntry"]
    assert entry["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-{uid}/{{{{SessionName}}}}"
    assert authz.subject(identity).username == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-{uid}/ci-42"
    assert authz.check(identity, "GET", "/api") is None  # discovery only
    denied = authz.check(identity, "GET", "/api/v1/namespaces")
    assert denied["code"] == 403 and f'User "arn:aws:sts::{ACCOUNT}:assumed-role/deployer-{uid}/ci-42"' in \
        denied["message"]

    eks.associate_access_policy(clusterName=cluster, principalArn=role["Arn"], policyArn=POLICY + "AmazonEKSViewPolicy",
                                accessScope={"type": "namespace", "namespaces": ["edgeml"]})
    assert authz.check(identity, "GET", "/api/v1/namespaces/edgeml/pods") is None
    assert authz.check(identity, "POST", "/api/v1/namespaces/edgeml/pods")["code"] == 403
    assert authz.check(identity, "GET", "/api/v1/namespaces/other/pods")["code"] == 403

    # the lab admin token is never looked up
    assert authz.check(kubeauth.ADMIN, "DELETE", "/api/v1/namespaces/kube-system") is None


def test_the_cluster_creator_gets_cluster_admin(lab_only, aws_url, client, uid, subnets):
    """bootstrapClusterCreatorAdminPermissions (the default): the entry names the caller's principal as STS does."""
    eks = client("eks")
    eks.create_cluster(name=f"boot-{uid}", roleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
                       resourcesVpcConfig={"subnetIds": subnets})
    me = client("sts").get_caller_identity()["Arn"]
    assert eks.list_access_entries(clusterName=f"boot-{uid}")["accessEntries"] == [me]
    identity = kubeauth.Identity(username="eks:testing", access_key_id="testing", cluster=f"boot-{uid}",
                                 region="us-east-1")
    assert kubeauthz.Authorizer(aws_url).check(identity, "POST", "/api/v1/namespaces") is None

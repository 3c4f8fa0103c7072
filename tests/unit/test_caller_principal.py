"""edgeml.wavelength.caller_principal: the IAM principal an EKS access entry names for the caller (an assumed-role
session -> its role, with the role's path; users and root as they are; federated users refused)."""

import json
from unittest import mock

import botocore.client
import pytest
from ansible_collections.edgeml.wavelength.plugins.modules.caller_principal import NoAccessEntry, principal_of
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})


@pytest.mark.parametrize(("arn", "principal", "kind", "session"), [
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci-42", f"arn:aws:iam::{ACCOUNT}:role/deployer", "role", "ci-42"),
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com",
     f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Admin_0a1b", "role", "alice@example.com"),
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/node/i-0123/extra", f"arn:aws:iam::{ACCOUNT}:role/node", "role",
     "i-0123/extra"),
    (f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/r/s", f"arn:aws-us-gov:iam::{ACCOUNT}:role/r", "role", "s"),
    (f"arn:aws:iam::{ACCOUNT}:user/ops/alice", f"arn:aws:iam::{ACCOUNT}:user/ops/alice", "user", None),
    (f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:root", "root", None),
    (f"arn:aws:sts::{ACCOUNT}:user/moto", f"arn:aws:sts::{ACCOUNT}:user/moto", "other", None),  # not an AWS form
    ("something else", "something else", "other", None),
])
def test_principal_of(arn, principal, kind, session):
    found = principal_of(arn)
    assert (found["principal_arn"], found["principal_type"], found["session_name"]) == (principal, kind, session)


def test_federated_users_have_no_access_entry():
    with pytest.raises(NoAccessEntry, match="federated user session"):
        principal_of(f"arn:aws:sts::{ACCOUNT}:federated-user/bob")


@pytest.fixture
def role(client, uid):
    """A role with a path and a session of it."""
    arn = client("iam").create_role(RoleName=f"deployer-{uid}", Path="/teams/ops/",
                                    AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    creds = client("sts").assume_role(RoleArn=arn, RoleSessionName="ci-42")["Credentials"]
    return arn, {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                 "session_token": creds["SessionToken"]}


def test_assumed_role_maps_to_the_role_with_its_path(run, role, uid):
    arn, creds = role
    assert arn == f"arn:aws:iam::{ACCOUNT}:role/teams/ops/deployer-{uid}"
    r = run("caller_principal", check=True, **creds)
    assert not r["changed"] and not r.get("failed"), r
    assert r["caller_arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-{uid}/ci-42"
    assert (r["principal_arn"], r["principal_type"], r["session_name"], r["account"]) == (arn, "role", "ci-42",
                                                                                          ACCOUNT)
    plain = run("caller_principal", resolve_role_path=False, **creds)
    assert plain["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:role/deployer-{uid}"


def test_role_path_unreadable_falls_back_with_a_warning(run, role, uid):
    _, creds = role
    real = botocore.client.BaseClient._make_api_call

    def deny_get_role(self, operation, params):
        if operation == "GetRole":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, operation)
        return real(self, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", deny_get_role):
        r = run("caller_principal", **creds)
    assert r["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:role/deployer-{uid}"
    assert "iam:GetRole" in json.dumps(r["warnings"])


def test_iam_user(run, client, uid):
    iam = client("iam")
    user = iam.create_user(UserName=f"ops-{uid}", Path="/people/")["User"]["Arn"]
    key = iam.create_access_key(UserName=f"ops-{uid}")["AccessKey"]
    r = run("caller_principal", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert (r["caller_arn"], r["principal_arn"], r["principal_type"]) == (user, user, "user")
    assert "session_name" not in r

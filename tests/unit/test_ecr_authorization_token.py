"""edgeml.wavelength.ecr_authorization_token: one GetAuthorizationToken call per region, without the deprecated
registryIds, and login entries named from the registry hosts of the images (in-process AWS endpoint; the requests
are recorded at botocore's transport)."""

import base64
import json

import pytest
from ansible_collections.edgeml.wavelength.plugins.module_utils.ecr_auth import plan, registry_host
from aws_recorder import record_requests

JUMPSTART = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
OWN = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def token_calls(sent):
    """(region of the endpoint's credential scope, request body) of every GetAuthorizationToken request."""
    calls = []
    for s in sent:
        if s.headers.get("x-amz-target", "").endswith(".GetAuthorizationToken"):
            scope = s.headers["authorization"].split("Credential=")[1].split("/")
            calls.append((scope[2], json.loads(s.body or "{}")))
    return calls


@pytest.fixture()
def sent(monkeypatch):
    return record_requests(monkeypatch)


def own_host(client):
    endpoint = client("ecr").get_authorization_token()["authorizationData"][0]["proxyEndpoint"]
    return endpoint.split("://")[-1]


def test_entries_named_from_the_image_hosts_one_token(run, client, sent):
    own = own_host(client)  # the endpoint's registry (moto: the account's ECR host; the lab: its registry)
    sent.clear()
    r = run("ecr_authorization_token", registries=[
        f"{JUMPSTART}/huggingface-pytorch-inference:2.1.0-cpu",  # an image reference: its host
        f"{own}/edgeml/sentiment",  # a repository URI
        JUMPSTART,  # the same host again: one entry
    ])
    assert r["changed"] is False and r["skipped"] == []
    assert list(r["auths"]) == [JUMPSTART, own]
    assert [e["registry"] for e in r["registries"]] == [JUMPSTART, own]
    # One token for both (the JumpStart registry's token is the caller's own: registryIds is deprecated).
    assert len({e["auth"] for e in r["auths"].values()}) == 1
    user, _, password = base64.b64decode(r["auths"][own]["auth"]).decode().partition(":")
    assert r["registries"][1]["username"] == user == "AWS" and r["registries"][1]["password"] == password
    assert token_calls(sent) == [("us-east-1", {})]


def test_default_is_the_own_registry(run, client):
    own = own_host(client)
    r = run("ecr_authorization_token")
    assert list(r["auths"]) == [own] and r["skipped"] == []


def test_other_registries_fail_or_are_skipped(run, client, sent):
    own = own_host(client)
    images = ["public.ecr.aws/docker/library/busybox:1", "ubuntu:24.04", "docker.io/library/alpine",
              f"{own}/edgeml/sentiment"]
    r = run("ecr_authorization_token", registries=images)
    assert r["failed"] and r["msg"].startswith("public.ecr.aws is not an Amazon ECR registry")
    r = run("ecr_authorization_token", registries=images, other_registries="skip")
    assert list(r["auths"]) == [own]
    # "ubuntu:24.04" has no slash: it is taken as a host name, not an ECR one either.
    assert r["skipped"] == ["public.ecr.aws", "ubuntu:24.04", "docker.io"]


def test_one_token_per_region(run, sent):
    west = "763104351884.dkr.ecr.us-west-2.amazonaws.com"
    r = run("ecr_authorization_token", registries=[JUMPSTART, f"{west}/pytorch-inference:2.3"])
    assert list(r["auths"]) == [JUMPSTART, west]
    assert sorted(token_calls(sent)) == [("us-east-1", {}), ("us-west-2", {})]


def test_deprecated_registry_ids_name_entries_without_sending_them(run, sent, monkeypatch):
    from ansible.module_utils.common import arg_spec

    # Recorded where the argument spec validation reports it (the module result only carries it when no controller
    # code was imported into this process before).
    deprecated = []
    monkeypatch.setattr(arg_spec, "deprecate", lambda msg, **kw: deprecated.append((msg, kw.get("version"))))
    r = run("ecr_authorization_token", registry_ids=["763104351884"])
    assert list(r["auths"]) == [JUMPSTART]
    assert token_calls(sent) == [("us-east-1", {})]
    assert [(m, v) for m, v in deprecated if "registry_ids" in m] == [
        ("Param 'registry_ids' is deprecated. See the module docs for more information", "1.0.0")]
    r = run("ecr_authorization_token", registry_ids=["763104351884"], region="cn-north-1")
    assert list(r["auths"]) == ["763104351884.dkr.ecr.cn-north-1.amazonaws.com.cn"]


@pytest.mark.parametrize(("reference", "host"), [
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/a/b:1", "763104351884.dkr.ecr.us-east-1.amazonaws.com"),
    ("https://123456789012.dkr.ecr.eu-west-3.amazonaws.com", "123456789012.dkr.ecr.eu-west-3.amazonaws.com"),
    ("127.0.0.1:5002/edgeml/sentiment@sha256:ab", "127.0.0.1:5002"),
    ("localhost/x", "localhost"),
    ("library/alpine:3", "docker.io"),
    ("127.0.0.1:5002", "127.0.0.1:5002"),
])
def test_registry_host(reference, host):
    assert registry_host(reference) == host


def test_plan_regions():
    hosts = ["123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
             "123456789012.dkr-ecr.eu-west-3.on.aws", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
             "127.0.0.1:5002", "evil.example.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example"]
    named, skipped, error = plan(hosts, "127.0.0.1:5002", "us-east-1", skip_others=True)
    assert error is None
    assert named == {hosts[0]: "us-east-1", hosts[1]: "us-gov-west-1", hosts[2]: "eu-west-3",
                     hosts[3]: "cn-north-1", "127.0.0.1:5002": "us-east-1"}
    assert skipped == hosts[5:]

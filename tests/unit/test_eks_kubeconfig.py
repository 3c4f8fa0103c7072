"""edgeml.wavelength.eks_kubeconfig: token made in Python like `aws eks get-token`."""

import base64
import urllib.parse


def test_token_and_kubeconfig(run, client, uid, subnets):
    eks = client("eks")
    eks.create_cluster(name=f"c-{uid}", roleArn="arn:aws:iam::123456789012:role/r",
                       resourcesVpcConfig={"subnetIds": subnets})
    run("eks_cluster", name=f"c-{uid}", wait=True, wait_timeout=60)  # the lab creates with a delay
    r = run("eks_kubeconfig", cluster_name=f"c-{uid}")
    assert r["changed"] is False
    assert r["token"].startswith("k8s-aws-v1.") and "=" not in r["token"]
    encoded = r["token"][len("k8s-aws-v1."):]
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["Action"] == ["GetCallerIdentity"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Expires"] == ["60"] and "X-Amz-Signature" in query
    cluster = eks.describe_cluster(name=f"c-{uid}")["cluster"]
    assert r["host"] == cluster["endpoint"]
    kc = r["kubeconfig"]
    assert kc["clusters"][0]["cluster"]["server"] == cluster["endpoint"]
    assert kc["users"][0]["user"]["token"] == r["token"]
    assert kc["current-context"] == f"c-{uid}"


def test_unknown_cluster_fails(run, uid):
    r = run("eks_kubeconfig", cluster_name=f"nope-{uid}")
    assert r["failed"] and f"nope-{uid}" in r["msg"]

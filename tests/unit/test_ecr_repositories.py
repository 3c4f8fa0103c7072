"""edgeml.wavelength.ecr_repositories: the deployment's ECR repositories are created with their settings and carry
its tag, their settings are converged (never their encryption, which ECR cannot change: refused before any write),
and they are found by the tag to be pruned or deleted (never an untagged one it was not given, never one of another
deployment).

Runs against the lab AWS in-process (moto's ECR plus the lab's: DescribeRepositories pages, tag limits)."""

import json

import pytest

TAG = "edgeml:deployment"
POLICY = {"rules": [
    {"rulePriority": 1, "description": "keep the newest 10 images",
     "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
     "action": {"type": "expire"}},
    {"rulePriority": 2, "description": "untagged after a day",
     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
     "action": {"type": "expire"}},
]}
# What the image_packaging role gives.
SETTINGS = {"create": True, "scan_on_push": True, "image_tag_mutability": "IMMUTABLE", "lifecycle_policy": POLICY,
            "encryption_type": "AES256"}


@pytest.fixture
def ecr(client, uid):
    """The ECR client; afterwards, every repository the test made (named <something><uid>/...) is deleted."""
    ecr = client("ecr")
    yield ecr
    for page in ecr.get_paginator("describe_repositories").paginate():
        for repo in page["repositories"]:
            if repo["repositoryName"].split("/")[0].endswith(uid):
                ecr.delete_repository(repositoryName=repo["repositoryName"], force=True)


def create(ecr, name, **tags):
    ecr.create_repository(repositoryName=name, tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def tags(ecr, name):
    arn = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryArn"]
    return {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn)["tags"]}


def settings(ecr, name):
    """(scan on push, tag mutability, encryption, lifecycle policy as data or None) of a repository."""
    repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    try:
        policy = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
    except ecr.exceptions.LifecyclePolicyNotFoundException:
        policy = None
    return (repo["imageScanningConfiguration"]["scanOnPush"], repo["imageTagMutability"],
            repo["encryptionConfiguration"], policy)


def names(ecr, prefix):
    return {r["repositoryName"] for page in ecr.get_paginator("describe_repositories").paginate()
            for r in page["repositories"] if r["repositoryName"].startswith(prefix + "/")}


def test_tag_prune_absent(ecr, run, uid):
    name = f"er{uid}"
    a, b = f"{name}/a", f"{name}/b"
    create(ecr, a, team="old")
    create(ecr, b)
    create(ecr, f"{name}/manual")  # untagged, never listed: someone else's
    create(ecr, f"{name}/foreign", **{TAG: "other"})
    create(ecr, f"x{uid}/elsewhere", **{TAG: name})  # outside the prefix: never looked at

    planned = run("ecr_repositories", check=True, diff=True, name=name, repositories=[a, b], tags={"team": "edge"})
    assert planned["changed"] and planned["deleted"] == []
    assert TAG not in tags(ecr, a) and tags(ecr, a)["team"] == "old"  # check mode tags nothing
    assert planned["diff"]["before"][a] == {"tags": {"team": "old"}}
    assert planned["diff"]["after"][a] == {"tags": {"team": "edge", TAG: name}}

    first = run("ecr_repositories", name=name, repositories=[a, b], tags={"team": "edge"})
    assert first["changed"] and [r["changed"] for r in first["repositories"]] == [True, True]
    assert [r["updated"] for r in first["repositories"]] == [["tags"], ["tags"]]
    assert not any(r["created"] for r in first["repositories"])
    assert tags(ecr, a) == tags(ecr, b) == {"team": "edge", TAG: name}
    assert first["repositories"][0]["arn"].endswith(f":repository/{a}") and first["repositories"][0]["uri"]

    assert not run("ecr_repositories", check=True, name=name, repositories=[a, b], tags={"team": "edge"})["changed"]
    assert not run("ecr_repositories", name=name, repositories=[a, b], tags={"team": "edge"})["changed"]

    # b no longer listed: pruned (check mode only reports it); untagged, foreign and outside repositories stay.
    planned = run("ecr_repositories", check=True, name=name, repositories=[a], tags={"team": "edge"})
    assert planned["changed"] and planned["deleted"] == [b] and b in names(ecr, name)
    pruned = run("ecr_repositories", diff=True, name=name, repositories=[a], tags={"team": "edge"})
    assert pruned["changed"] and pruned["deleted"] == [b]
    assert pruned["diff"]["before"][b] == {"tags": {"team": "edge", TAG: name}} and b not in pruned["diff"]["after"]
    assert names(ecr, name) == {a, f"{name}/manual", f"{name}/foreign"}
    assert not run("ecr_repositories", name=name, repositories=[a], prune=False)["changed"]

    # A repository an earlier run tagged, and a listed one that was never tagged (made before tagging existed):
    # state=absent deletes both and the tagged one, whatever the list; still not the others.
    create(ecr, f"{name}/earlier", **{TAG: name})
    create(ecr, f"{name}/legacy")
    listed = [f"{name}/legacy", f"{name}/foreign"]
    planned = run("ecr_repositories", check=True, name=name, repositories=listed, state="absent")
    assert planned["changed"] and sorted(planned["deleted"]) == sorted([a, f"{name}/earlier", f"{name}/legacy"])
    gone = run("ecr_repositories", name=name, repositories=listed, state="absent")
    assert sorted(gone["deleted"]) == sorted([a, f"{name}/earlier", f"{name}/legacy"])
    # A warning is a string, or (module_utils outside a controller process: this file run alone) a summary dict.
    assert any(f"{name}/foreign is tagged {TAG}=other" in str(w) for w in gone.get("warnings", []))
    assert names(ecr, name) == {f"{name}/manual", f"{name}/foreign"}
    assert names(ecr, f"x{uid}") == {f"x{uid}/elsewhere"}
    again = run("ecr_repositories", name=name, state="absent")
    assert not again["changed"] and again["deleted"] == []


def test_refuses_missing_foreign_and_outside_repositories(ecr, run, uid):
    name = f"er{uid}"
    missing = run("ecr_repositories", name=name, repositories=[f"{name}/new"])
    assert missing["failed"] and f"{name}/new does not exist; create it first" in missing["msg"]
    # Check mode without create (someone else creates it before a real run): a change, not a creation.
    planned = run("ecr_repositories", check=True, name=name, repositories=[f"{name}/new"])
    assert planned["changed"] and planned["repositories"] == [
        {"name": f"{name}/new", "arn": "", "uri": "", "tags": {TAG: name}, "changed": True, "created": False,
         "updated": []}]

    create(ecr, f"{name}/theirs", **{TAG: "other"})
    foreign = run("ecr_repositories", name=name, repositories=[f"{name}/theirs"])
    assert foreign["failed"] and f"{name}/theirs is tagged {TAG}=other" in foreign["msg"]
    assert tags(ecr, f"{name}/theirs") == {TAG: "other"}

    outside = run("ecr_repositories", name=name, prefix=f"p{uid}", repositories=[f"{name}/theirs"])
    assert outside["failed"] and f"is not named p{uid}/..." in outside["msg"]


def test_create_with_settings_then_no_change(ecr, run, uid):
    name = f"er{uid}"
    a, b = f"{name}/a", f"{name}/b"
    create(ecr, a)  # exists, untagged, ECR defaults: configured and tagged, not created again
    args = dict(name=name, repositories=[a, b], tags={"team": "edge"}, **SETTINGS)

    # Check mode plans everything (also the lifecycle policy of the repository it would create) and writes nothing.
    planned = run("ecr_repositories", check=True, diff=True, **args)
    assert planned["changed"] and not planned.get("failed"), planned
    assert [(r["name"], r["created"], r["updated"]) for r in planned["repositories"]] == [
        (a, False, ["tags", "scan_on_push", "image_tag_mutability", "lifecycle_policy"]), (b, True, [])]
    assert planned["repositories"][0]["arn"].endswith(f":repository/{a}") and planned["repositories"][1]["arn"] == ""
    assert names(ecr, name) == {a} and tags(ecr, a) == {}
    assert settings(ecr, a) == (False, "MUTABLE", {"encryptionType": "AES256"}, None)
    assert planned["diff"]["before"][b] is None
    assert planned["diff"]["after"][b] == {"tags": {"team": "edge", TAG: name}, "scan_on_push": True,
                                           "image_tag_mutability": "IMMUTABLE", "lifecycle_policy": POLICY,
                                           "encryption": {"encryptionType": "AES256"}}
    assert planned["diff"]["before"][a] == {"tags": {}, "scan_on_push": False, "image_tag_mutability": "MUTABLE",
                                            "lifecycle_policy": None, "encryption": {"encryptionType": "AES256"}}
    assert planned["diff"]["after"][a] == planned["diff"]["after"][b]

    first = run("ecr_repositories", **args)
    assert first["changed"] and [(r["created"], r["updated"]) for r in first["repositories"]] == [
        (False, ["tags", "scan_on_push", "image_tag_mutability", "lifecycle_policy"]), (True, [])]
    assert first["repositories"][1]["arn"].endswith(f":repository/{b}") and first["repositories"][1]["uri"]
    for repo in (a, b):
        assert settings(ecr, repo) == (True, "IMMUTABLE", {"encryptionType": "AES256"}, POLICY)
        assert tags(ecr, repo) == {"team": "edge", TAG: name}

    # No change on a second run, check mode or not; the policy given as JSON text (as the role's template renders
    # it), in another order and layout, is the same data.
    again = {**args, "lifecycle_policy": json.dumps({"rules": POLICY["rules"][::-1]}, indent=2)}
    for check in (True, False):
        result = run("ecr_repositories", check=check, **again)
        assert not result["changed"], result
        assert [(r["created"], r["updated"], r["changed"]) for r in result["repositories"]] == [(False, [], False)] * 2

    # Without the settings the module tags only (as before 0.3.0): nothing compared, nothing changed.
    assert not run("ecr_repositories", name=name, repositories=[a, b], tags={"team": "edge"})["changed"]


def test_drift_repaired(ecr, run, uid):
    name = f"er{uid}"
    a, b = f"{name}/a", f"{name}/b"
    args = dict(name=name, repositories=[a, b], **SETTINGS)
    assert run("ecr_repositories", **args)["changed"]
    # Someone turned scan on push off and made tags mutable on a, changed b's lifecycle policy.
    ecr.put_image_scanning_configuration(repositoryName=a, imageScanningConfiguration={"scanOnPush": False})
    ecr.put_image_tag_mutability(repositoryName=a, imageTagMutability="MUTABLE")
    other = {"rules": [{**POLICY["rules"][0], "selection": {**POLICY["rules"][0]["selection"], "countNumber": 3}}]}
    ecr.put_lifecycle_policy(repositoryName=b, lifecyclePolicyText=json.dumps(other))

    planned = run("ecr_repositories", check=True, diff=True, **args)
    assert planned["changed"] and [r["updated"] for r in planned["repositories"]] == [
        ["scan_on_push", "image_tag_mutability"], ["lifecycle_policy"]]
    assert planned["diff"]["before"][b]["lifecycle_policy"] == other
    assert planned["diff"]["after"][b]["lifecycle_policy"] == POLICY
    assert settings(ecr, a)[:2] == (False, "MUTABLE") and settings(ecr, b)[3] == other  # check mode wrote nothing

    repaired = run("ecr_repositories", **args)
    assert repaired["changed"] and [r["updated"] for r in repaired["repositories"]] == [
        ["scan_on_push", "image_tag_mutability"], ["lifecycle_policy"]]
    assert settings(ecr, a) == settings(ecr, b) == (True, "IMMUTABLE", {"encryptionType": "AES256"}, POLICY)

    # The lifecycle policy removed: put again.
    ecr.delete_lifecycle_policy(repositoryName=a)
    restored = run("ecr_repositories", **args)
    assert [r["updated"] for r in restored["repositories"]] == [["lifecycle_policy"], []]
    assert settings(ecr, a)[3] == POLICY
    assert not run("ecr_repositories", **args)["changed"]

    # MUTABLE asked: converged the other way too.
    mutable = run("ecr_repositories", **{**args, "image_tag_mutability": "MUTABLE", "scan_on_push": False})
    assert [r["updated"] for r in mutable["repositories"]] == [["scan_on_push", "image_tag_mutability"]] * 2
    assert settings(ecr, b)[:2] == (False, "MUTABLE")


def test_encryption_mismatch_fails_before_any_change(ecr, run, uid):
    name = f"er{uid}"
    key_id, other_id = "1234abcd-12ab-34cd-56ef-1234567890ab", "0987dcba-09fe-87dc-65ba-ab0987654321"
    key, other_key = (f"arn:aws:kms:us-east-1:123456789012:key/{k}" for k in (key_id, other_id))
    plain, keyed, stale, new = (f"{name}/{m}" for m in ("plain", "keyed", "stale", "new"))
    create(ecr, plain)  # AES256
    # ECR reports a repository's key by its ARN, whatever it was created with.
    ecr.create_repository(repositoryName=keyed, encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key})
    create(ecr, stale, **{TAG: name})  # a model no longer listed: prune would delete it
    kms = {**SETTINGS, "encryption_type": "KMS", "kms_key": key}

    # plain is AES256 while KMS is asked: refused in check mode and in a real run, before anything is written -
    # new is not created, stale not pruned, keyed neither tagged nor configured (all checked before any write).
    for check in (True, False):
        refused = run("ecr_repositories", check=check, name=name, repositories=[keyed, plain, new], **kms)
        assert refused["failed"] and refused["repositories"] == [plain], refused
        assert refused["msg"].startswith(f"{plain} is encrypted with AES256, not KMS (key {key}). ECR cannot change")
        assert "set encryption_type/kms_key (image_packaging_encryption / image_packaging_kms_key)" in refused["msg"]
        assert "delete the repository" in refused["msg"] and "Nothing was changed" in refused["msg"]
    assert names(ecr, name) == {plain, keyed, stale}
    assert tags(ecr, keyed) == {} and settings(ecr, keyed)[:2] == (False, "MUTABLE")
    assert tags(ecr, stale) == {TAG: name}

    # The other way round (AES256 asked, keyed is KMS), and another key than keyed's (ARN or id): refused as well.
    aes = run("ecr_repositories", name=name, repositories=[plain, keyed], **SETTINGS)
    assert aes["failed"] and aes["repositories"] == [keyed]
    assert f"{keyed} is encrypted with KMS (key {key}), not AES256" in aes["msg"]
    assert "image_packaging_encryption" in aes["msg"]
    for wrong in (other_key, other_id):
        refused = run("ecr_repositories", name=name, repositories=[keyed, new], **{**kms, "kms_key": wrong})
        assert refused["failed"] and refused["repositories"] == [keyed]
        assert f"{keyed} is encrypted with KMS (key {key}), not KMS (key {wrong})" in refused["msg"]
        assert "image_packaging_kms_key" in refused["msg"]
    assert names(ecr, name) == {plain, keyed, stale} and tags(ecr, keyed) == {}

    # keyed's key by ARN or key id is the same key; by alias only the type can be compared (warned): no failure.
    for given in (key, key_id, "alias/edgeml-images"):
        planned = run("ecr_repositories", check=True, name=name, repositories=[keyed, new], **{**kms, "kms_key": given})
        assert planned["changed"] and not planned.get("failed"), (given, planned)
    done = run("ecr_repositories", name=name, repositories=[keyed, new], **{**kms, "kms_key": key_id})
    assert [(r["created"], r["changed"]) for r in done["repositories"]] == [(False, True), (True, True)]
    assert settings(ecr, new)[2] == {"encryptionType": "KMS", "kmsKey": key_id}
    assert done["deleted"] == [stale] and names(ecr, name) == {plain, keyed, new}
    assert not run("ecr_repositories", name=name, repositories=[keyed, new], **{**kms, "kms_key": key_id})["changed"]

    # kms_key without KMS is a mistake, not ignored.
    stray = run("ecr_repositories", name=name, repositories=[plain], **{**SETTINGS, "kms_key": key})
    assert stray["failed"] and "kms_key is only used with encryption_type KMS" in stray["msg"]


def test_finds_repositories_beyond_the_first_page(lab_only, ecr, run, uid):
    """The lab pages DescribeRepositories as AWS (100 without maxResults): the deployment's repositories, named to
    sort after 100 others, are on a later page and still found."""
    for i in range(100):
        create(ecr, f"aa{uid}/r{i:03d}")
    name = f"zz{uid}"
    create(ecr, f"{name}/m", **{TAG: name})
    first = ecr.describe_repositories()
    assert len(first["repositories"]) == 100 and first["nextToken"]
    assert f"{name}/m" not in {r["repositoryName"] for r in first["repositories"]}

    gone = run("ecr_repositories", name=name, state="absent")
    assert gone["deleted"] == [f"{name}/m"]

    # AWS's tag limits: 50 tags per repository (the deployment tag counts), keys up to 128 characters.
    create(ecr, f"{name}/n")
    too_many = run("ecr_repositories", name=name, repositories=[f"{name}/n"],
                   tags={f"k{i}": "v" for i in range(50)})
    assert too_many["failed"] and "TooManyTagsException" in str(too_many)
    too_long = run("ecr_repositories", name=name, repositories=[f"{name}/n"], tags={"k" * 129: "v"})
    assert too_long["failed"] and "InvalidTagParameterException" in str(too_long)
    assert tags(ecr, f"{name}/n") == {}

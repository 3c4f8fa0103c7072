"""edgeml.wavelength.ecr_repositories: the deployment's ECR repositories carry its tag, and are found by it to be
pruned or deleted (never an untagged one it was not given, never one of another deployment).

Runs against the lab AWS in-process (moto's ECR plus the lab's: DescribeRepositories pages, tag limits)."""

import pytest

TAG = "edgeml:deployment"


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
    assert planned["diff"]["before"][a] == {"team": "old"}
    assert planned["diff"]["after"][a] == {"team": "edge", TAG: name}

    first = run("ecr_repositories", name=name, repositories=[a, b], tags={"team": "edge"})
    assert first["changed"] and [r["changed"] for r in first["repositories"]] == [True, True]
    assert tags(ecr, a) == tags(ecr, b) == {"team": "edge", TAG: name}
    assert first["repositories"][0]["arn"].endswith(f":repository/{a}") and first["repositories"][0]["uri"]

    assert not run("ecr_repositories", check=True, name=name, repositories=[a, b], tags={"team": "edge"})["changed"]
    assert not run("ecr_repositories", name=name, repositories=[a, b], tags={"team": "edge"})["changed"]

    # b no longer listed: pruned (check mode only reports it); untagged, foreign and outside repositories stay.
    planned = run("ecr_repositories", check=True, name=name, repositories=[a], tags={"team": "edge"})
    assert planned["changed"] and planned["deleted"] == [b] and b in names(ecr, name)
    pruned = run("ecr_repositories", diff=True, name=name, repositories=[a], tags={"team": "edge"})
    assert pruned["changed"] and pruned["deleted"] == [b]
    assert pruned["diff"]["before"][b] == {"team": "edge", TAG: name} and b not in pruned["diff"]["after"]
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
    assert any(f"{name}/foreign is tagged {TAG}=other" in w for w in gone.get("warnings", []))
    assert names(ecr, name) == {f"{name}/manual", f"{name}/foreign"}
    assert names(ecr, f"x{uid}") == {f"x{uid}/elsewhere"}
    again = run("ecr_repositories", name=name, state="absent")
    assert not again["changed"] and again["deleted"] == []


def test_refuses_missing_foreign_and_outside_repositories(ecr, run, uid):
    name = f"er{uid}"
    missing = run("ecr_repositories", name=name, repositories=[f"{name}/new"])
    assert missing["failed"] and f"{name}/new does not exist; create it first" in missing["msg"]
    # Check mode before the repository is created (ecs_ecr does not create it in check mode): a change.
    planned = run("ecr_repositories", check=True, name=name, repositories=[f"{name}/new"])
    assert planned["changed"] and planned["repositories"] == [
        {"name": f"{name}/new", "arn": "", "uri": "", "tags": {TAG: name}, "changed": True}]

    create(ecr, f"{name}/theirs", **{TAG: "other"})
    foreign = run("ecr_repositories", name=name, repositories=[f"{name}/theirs"])
    assert foreign["failed"] and f"{name}/theirs is tagged {TAG}=other" in foreign["msg"]
    assert tags(ecr, f"{name}/theirs") == {TAG: "other"}

    outside = run("ecr_repositories", name=name, prefix=f"p{uid}", repositories=[f"{name}/theirs"])
    assert outside["failed"] and f"is not named p{uid}/..." in outside["msg"]


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

#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: ecr_repositories
version_added: 0.1.0
short_description: Tags a deployment's ECR repositories, and finds them by tag to remove them
description:
  - Ensures every repository in O(repositories) carries the tag C(edgeml:deployment=<name>) and O(tags) (TagResource;
    tags already there and not named in O(tags) are left alone). The repositories must exist (create and configure
    them with M(community.aws.ecs_ecr), which sets no tags); in check mode a missing one is reported as a change.
  - With O(prune), deletes (with their images) the repositories under O(prefix) tagged with the deployment that are
    not in O(repositories), e.g. the repositories of models no longer deployed, also when an earlier run with
    another model list made them.
  - O(state=absent) deletes, with their images, every repository under O(prefix) tagged with the deployment, and
    those of O(repositories) that carry no deployment tag (what a run before tagging existed, or a run interrupted
    between creating and tagging, left).
  - ECR has no tag filter, so the repositories are found with DescribeRepositories (every page) and
    ListTagsForResource for each repository named C(<prefix>/...).
author:
  - edgeml team
options:
  name:
    description: Deployment name (value of the C(edgeml:deployment) tag).
    type: str
    required: true
  prefix:
    description:
      - Repository name prefix; only repositories named C(<prefix>/...) are looked at, and every repository in
        O(repositories) must be named so. Defaults to O(name).
    type: str
  repositories:
    description: Full names of the deployment's repositories (C(<prefix>/<model>)).
    type: list
    elements: str
    default: []
  state:
    description: Whether the repositories are tagged (present) or deleted (absent).
    type: str
    choices: [present, absent]
    default: present
  prune:
    description: Delete the deployment's repositories that are not in O(repositories) (state present).
    type: bool
    default: true
  tags:
    description: Extra tags of the repositories (C(edgeml:deployment) is always set to O(name)).
    type: dict
    default: {}
notes:
  - A repository is deleted only when it is tagged with the deployment, or (O(state=absent)) listed in
    O(repositories) and not tagged with any deployment. A repository tagged with another deployment is never
    touched; listing one with O(state=present) fails.
  - Deleting a repository deletes its images (C(force)); pods already running keep the image they pulled, new pods
    of a model whose repository is gone cannot pull it.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Tag the model repositories, delete those of models no longer listed
  edgeml.wavelength.ecr_repositories:
    name: edgeml
    repositories: [edgeml/sentiment, edgeml/summarize]
    tags:
      team: edge

- name: Delete every repository of the deployment
  edgeml.wavelength.ecr_repositories:
    name: edgeml
    state: absent
"""

RETURN = r"""
repositories:
  description: One entry per repository of O(repositories) (state present), after the run.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Repository name., type: str}
    arn: {description: Repository ARN (empty in check mode when the repository does not exist yet)., type: str}
    uri: {description: Repository URI (empty in check mode when the repository does not exist yet)., type: str}
    tags: {description: The repository's tags after the run., type: dict}
    changed: {description: Whether tags were added or changed., type: bool}
deleted:
  description: Names of the repositories deleted (pruned, or all of the deployment's with O(state=absent)).
  returned: always
  type: list
  elements: str
  sample: [edgeml/summarize]
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)

DEPLOYMENT_TAG = "edgeml:deployment"


@AWSRetry.jittered_backoff()
def describe_all(client):
    return client.get_paginator("describe_repositories").paginate().build_full_result()["repositories"]


class Repositories:
    """The repositories under the prefix and the calls that change them (nothing is called in check mode)."""

    def __init__(self, module, prefix):
        self.module = module
        self.client = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
        self.prefix = prefix
        self.deleted = []

    def fail(self, e, what):
        self.module.fail_json_aws(e, msg=f"Failed to {what}")

    def existing(self):
        """{name: {arn, uri, tags}} of every repository named <prefix>/..., tagged or not."""
        try:
            found = describe_all(self.client)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, "describe the ECR repositories")
        repositories = {}
        for repo in found:
            if not repo["repositoryName"].startswith(self.prefix + "/"):
                continue
            try:
                tags = self.client.list_tags_for_resource(aws_retry=True, resourceArn=repo["repositoryArn"])["tags"]
            except is_boto3_error_code("RepositoryNotFoundException"):
                continue  # deleted since it was listed
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
                self.fail(e, f"list the tags of {repo['repositoryName']}")
            repositories[repo["repositoryName"]] = {"arn": repo["repositoryArn"], "uri": repo.get("repositoryUri", ""),
                                                    "tags": boto3_tag_list_to_ansible_dict(tags)}
        return repositories

    def tag(self, name, arn, tags):
        if self.module.check_mode:
            return
        try:
            self.client.tag_resource(aws_retry=True, resourceArn=arn, tags=ansible_dict_to_boto3_tag_list(tags))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"tag {name}")

    def delete(self, name):
        if not self.module.check_mode:
            try:
                self.client.delete_repository(aws_retry=True, repositoryName=name, force=True)
            except is_boto3_error_code("RepositoryNotFoundException"):
                return  # already gone
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
                self.fail(e, f"delete {name}")
        self.deleted.append(name)


def ensure(module, repos, wanted, existing):
    name = module.params["name"]
    foreign = {r: existing[r]["tags"][DEPLOYMENT_TAG] for r in wanted
               if existing.get(r, {}).get("tags", {}).get(DEPLOYMENT_TAG, name) != name}
    if foreign:
        module.fail_json(msg="repositories: " + ", ".join(f"{r} is tagged {DEPLOYMENT_TAG}={d}"
                                                          for r, d in sorted(foreign.items()))
                         + f", not {name}: it belongs to another deployment (choose another prefix)")
    missing = [r for r in wanted if r not in existing]
    if missing and not module.check_mode:
        module.fail_json(msg=f"repositories: {', '.join(missing)} does not exist; create it first "
                             "(community.aws.ecs_ecr)", missing=missing)
    desired = {**module.params["tags"], DEPLOYMENT_TAG: name}
    results, before, after = [], {}, {}
    for repo in wanted:
        found = existing.get(repo, {"arn": "", "uri": "", "tags": None})
        current = found["tags"] or {}
        add = {k: v for k, v in desired.items() if current.get(k) != v}
        if add:
            repos.tag(repo, found["arn"], add)
        before[repo], after[repo] = found["tags"], {**current, **add}
        results.append({"name": repo, "arn": found["arn"], "uri": found["uri"], "tags": after[repo],
                        "changed": bool(add)})
    if module.params["prune"]:
        for repo, found in existing.items():
            if repo not in wanted and found["tags"].get(DEPLOYMENT_TAG) == name:
                before[repo] = found["tags"]
                repos.delete(repo)
    return results, before, after


def remove(module, repos, wanted, existing):
    name = module.params["name"]
    before = {}
    for repo, found in existing.items():
        owner = found["tags"].get(DEPLOYMENT_TAG)
        if owner == name or (owner is None and repo in wanted):
            before[repo] = found["tags"]
            repos.delete(repo)
        elif repo in wanted:
            module.warn(f"{repo} is tagged {DEPLOYMENT_TAG}={owner}, not {name}: kept")
    return before


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            prefix=dict(type="str"),
            repositories=dict(type="list", elements="str", default=[]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            prune=dict(type="bool", default=True),
            tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    prefix = (module.params["prefix"] or module.params["name"]).rstrip("/")
    wanted = list(dict.fromkeys(module.params["repositories"]))
    outside = [r for r in wanted if not r.startswith(prefix + "/")]
    if outside:
        module.fail_json(msg=f"repositories: {', '.join(outside)} is not named {prefix}/...: only repositories "
                             "under the prefix are found again by prune and state=absent")
    repos = Repositories(module, prefix)
    existing = repos.existing()
    if module.params["state"] == "absent":
        results, before, after = [], remove(module, repos, wanted, existing), {}
    else:
        results, before, after = ensure(module, repos, wanted, existing)
    result = {"changed": bool(repos.deleted) or any(r["changed"] for r in results),
              "repositories": results, "deleted": repos.deleted}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()

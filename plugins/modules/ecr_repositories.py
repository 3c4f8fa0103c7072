#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: ecr_repositories
version_added: 0.1.0
short_description: A deployment's ECR repositories - created, configured and tagged, found by tag to be removed
description:
  - Ensures every repository in O(repositories) carries the tag C(edgeml:deployment=<name>) and O(tags) (TagResource;
    tags already there and not named in O(tags) are left alone).
  - With O(create), creates the missing repositories, with the settings given and the tags in the create call (a
    repository is never left untagged). Without it they must exist; in check mode a missing one is reported as a
    change.
  - Converges the settings given on existing repositories - O(scan_on_push) (PutImageScanningConfiguration),
    O(image_tag_mutability) (PutImageTagMutability) and O(lifecycle_policy) (PutLifecyclePolicy when the policy in
    ECR differs as data). A setting left unset is neither compared nor changed.
  - ECR cannot change a repository's encryption after it is created. With O(encryption_type), an existing repository
    encrypted otherwise fails the run, naming the repository and how to fix it, before any repository is created,
    changed or deleted (every repository is checked first).
  - With O(prune), deletes (with their images) the repositories under O(prefix) tagged with the deployment that are
    not in O(repositories), e.g. the repositories of models no longer deployed, also when an earlier run with
    another model list made them.
  - O(state=absent) deletes, with their images, every repository under O(prefix) tagged with the deployment, and
    those of O(repositories) that carry no deployment tag (what a run before tagging existed, or a run interrupted
    between creating and tagging, left).
  - ECR has no tag filter, so the repositories are found with DescribeRepositories (every page) and
    ListTagsForResource for each repository named C(<prefix>/...); with O(lifecycle_policy), GetLifecyclePolicy for
    each existing repository of O(repositories).
  - Check mode reads the same way, reports what a real run creates, changes and deletes (with a diff), and writes
    nothing.
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
    description: Whether the repositories are created, configured and tagged (present) or deleted (absent).
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
  create:
    description:
      - Create the repositories of O(repositories) that do not exist (state present). When false, a missing
        repository fails the run (check mode reports it as a change).
    type: bool
    default: false
    version_added: 0.3.0
  scan_on_push:
    description: Scan images on push (state present). Unset - the ECR default on create, left as is otherwise.
    type: bool
    version_added: 0.3.0
  image_tag_mutability:
    description: Whether image tags can be overwritten (state present). Unset - the ECR default (MUTABLE) on create,
      left as is otherwise.
    type: str
    choices: [IMMUTABLE, MUTABLE]
    version_added: 0.3.0
  lifecycle_policy:
    description:
      - Lifecycle policy of every repository (state present), as a dict or a JSON string. It is compared as data
        with the policy in ECR (rules in C(rulePriority) order, tag prefix and pattern lists sorted, empty values
        dropped) and put only when it differs, also when the policy was removed from the repository. Unset - the
        lifecycle policy is not looked at.
    type: json
    version_added: 0.3.0
  encryption_type:
    description:
      - Encryption of the repositories (state present) - set on create; an existing repository encrypted otherwise
        fails the run (ECR cannot change it). Unset - the ECR default (AES256) on create, not compared otherwise.
    type: str
    choices: [AES256, KMS]
    version_added: 0.3.0
  kms_key:
    description:
      - KMS key of O(encryption_type=KMS) - ARN, key id or alias (C(alias/...) or its ARN); empty for the AWS managed
        key C(aws/ecr).
      - ECR reports a repository's key by its ARN. Given as an ARN or key id, the key of an existing repository is
        compared; given as an alias, only the encryption type is (with a warning).
    type: str
    version_added: 0.3.0
notes:
  - A repository is deleted only when it is tagged with the deployment, or (O(state=absent)) listed in
    O(repositories) and not tagged with any deployment. A repository tagged with another deployment is never
    touched; listing one with O(state=present) fails.
  - Deleting a repository deletes its images (C(force)); pods already running keep the image they pulled, new pods
    of a model whose repository is gone cannot pull it.
  - To move a repository to another encryption, delete it (its images go with it; the next run creates it again and
    copies the images anew) or set O(encryption_type) and O(kms_key) back to what it has.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Repository per model (scan on push, immutable tags, lifecycle policy, KMS), tagged; prune the others
  edgeml.wavelength.ecr_repositories:
    name: edgeml
    repositories: [edgeml/sentiment, edgeml/summarize]
    create: true
    scan_on_push: true
    image_tag_mutability: IMMUTABLE
    lifecycle_policy:
      rules:
        - rulePriority: 1
          description: keep the newest 10 images
          selection: {tagStatus: any, countType: imageCountMoreThan, countNumber: 10}
          action: {type: expire}
    encryption_type: KMS
    kms_key: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    tags:
      team: edge

- name: Tag existing repositories, delete those of models no longer listed
  edgeml.wavelength.ecr_repositories:
    name: edgeml
    repositories: [edgeml/sentiment, edgeml/summarize]

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
    changed:
      description: Whether the repository was (or, in check mode, would be) created, or its tags or settings changed.
      type: bool
    created:
      description: Whether the repository was (or, in check mode, would be) created.
      type: bool
      version_added: 0.3.0
    updated:
      description:
        - What was (or, in check mode, would be) changed on an existing repository, among C(tags), C(scan_on_push),
          C(image_tag_mutability) and C(lifecycle_policy).
      type: list
      elements: str
      sample: [scan_on_push, lifecycle_policy]
      version_added: 0.3.0
deleted:
  description: Names of the repositories deleted (pruned, or all of the deployment's with O(state=absent)).
  returned: always
  type: list
  elements: str
  sample: [edgeml/summarize]
diff:
  description:
    - With C(--diff), per repository name its tags and the settings given (C(scan_on_push), C(image_tag_mutability),
      C(lifecycle_policy), C(encryption)) before and after the run; C(null) before for a repository created, absent
      after for one deleted.
  returned: with diff
  type: dict
"""

import json

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
# The role's variables behind the encryption options (named in the message of an encryption mismatch).
ENCRYPTION_VARIABLES = "encryption_type/kms_key (image_packaging_encryption / image_packaging_kms_key)"


@AWSRetry.jittered_backoff()
def describe_all(client):
    return client.get_paginator("describe_repositories").paginate().build_full_result()["repositories"]


def _priority(rule):
    value = rule.get("rulePriority") if isinstance(rule, dict) else None
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))


def normalised_policy(policy):
    """A lifecycle policy as data for comparison: rules in rulePriority order, tag lists sorted, empty values out
    (how the policy in ECR and the one given may differ in form only)."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v not in (None, [], {}, "")}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    policy = clean(policy or {})
    rules = sorted(policy.get("rules") or [], key=_priority)
    for rule in rules:
        selection = rule.get("selection") or {}
        for key in ("tagPrefixList", "tagPatternList"):
            if isinstance(selection.get(key), list):
                selection[key] = sorted(selection[key], key=str)
    return {**policy, "rules": rules}


def key_id(key):
    """The key id of a KMS key ARN or id; None for an alias."""
    if ":key/" in key:
        return key.rsplit(":key/", 1)[1]
    return None if key.startswith("alias/") or ":alias/" in key else key


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
        """{name: {arn, uri, tags, scan_on_push, image_tag_mutability, encryption}} of every repository named
        <prefix>/..., tagged or not."""
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
            repositories[repo["repositoryName"]] = {
                "arn": repo["repositoryArn"], "uri": repo.get("repositoryUri", ""),
                "tags": boto3_tag_list_to_ansible_dict(tags),
                "scan_on_push": bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush")),
                "image_tag_mutability": repo.get("imageTagMutability", "MUTABLE"),
                "encryption": repo.get("encryptionConfiguration") or {"encryptionType": "AES256"}}
        return repositories

    def lifecycle_policy(self, name):
        """The repository's lifecycle policy as data, None without one."""
        try:
            text = self.client.get_lifecycle_policy(aws_retry=True, repositoryName=name)["lifecyclePolicyText"]
        except is_boto3_error_code("LifecyclePolicyNotFoundException"):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            self.fail(e, f"get the lifecycle policy of {name}")
        try:
            return json.loads(text)
        except ValueError:
            return text  # not data: differs from any policy given

    def create(self, name, tags, settings, encryption):
        if self.module.check_mode:
            return {"arn": "", "uri": ""}
        kwargs = {"repositoryName": name, "tags": ansible_dict_to_boto3_tag_list(tags)}
        if settings.get("scan_on_push") is not None:
            kwargs["imageScanningConfiguration"] = {"scanOnPush": settings["scan_on_push"]}
        if settings.get("image_tag_mutability"):
            kwargs["imageTagMutability"] = settings["image_tag_mutability"]
        if encryption:
            kwargs["encryptionConfiguration"] = encryption
        try:
            repo = self.client.create_repository(aws_retry=True, **kwargs)["repository"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"create {name}")
        return {"arn": repo["repositoryArn"], "uri": repo.get("repositoryUri", "")}

    def tag(self, name, arn, tags):
        if self.module.check_mode:
            return
        try:
            self.client.tag_resource(aws_retry=True, resourceArn=arn, tags=ansible_dict_to_boto3_tag_list(tags))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"tag {name}")

    def configure(self, name, setting, value):
        """Puts one setting (scan_on_push, image_tag_mutability or lifecycle_policy) on the repository."""
        if self.module.check_mode:
            return
        try:
            if setting == "scan_on_push":
                self.client.put_image_scanning_configuration(aws_retry=True, repositoryName=name,
                                                             imageScanningConfiguration={"scanOnPush": value})
            elif setting == "image_tag_mutability":
                self.client.put_image_tag_mutability(aws_retry=True, repositoryName=name, imageTagMutability=value)
            else:
                self.client.put_lifecycle_policy(aws_retry=True, repositoryName=name,
                                                 lifecyclePolicyText=json.dumps(value, sort_keys=True))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"set {setting} of {name}")

    def delete(self, name):
        if not self.module.check_mode:
            try:
                self.client.delete_repository(aws_retry=True, repositoryName=name, force=True)
            except is_boto3_error_code("RepositoryNotFoundException"):
                return  # already gone
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
                self.fail(e, f"delete {name}")
        self.deleted.append(name)


def wanted_settings(module):
    """{setting: value} of scan_on_push, image_tag_mutability and lifecycle_policy (as data) where given, and the
    encryption configuration to create with and compare ({} when encryption_type is unset)."""
    params = module.params
    settings = {k: params[k] for k in ("scan_on_push", "image_tag_mutability") if params[k] is not None}
    if params["lifecycle_policy"] is not None:
        try:
            policy = json.loads(params["lifecycle_policy"])
        except ValueError as e:
            module.fail_json(msg=f"lifecycle_policy is not JSON: {e}")
        if not isinstance(policy, dict):
            module.fail_json(msg="lifecycle_policy must be a JSON object (with rules)")
        settings["lifecycle_policy"] = policy
    encryption = {}
    if params["kms_key"] and params["encryption_type"] != "KMS":
        module.fail_json(msg="kms_key is only used with encryption_type KMS")
    if params["encryption_type"]:
        encryption = {"encryptionType": params["encryption_type"]}
        if params["kms_key"]:
            encryption["kmsKey"] = params["kms_key"]
    return settings, encryption


def encryption_mismatch(name, have, want):
    """(why the repository's encryption, as DescribeRepositories reports it, is not `want`, or None; whether the key
    could not be compared - given as an alias, while ECR reports the key's ARN)."""
    have_type, have_key = have.get("encryptionType", "AES256"), have.get("kmsKey") or ""
    key = want.get("kmsKey")
    what = have_type + (f" (key {have_key})" if have_key else "")
    wanted = want["encryptionType"] + (f" (key {key})" if key else "")
    if have_type != want["encryptionType"]:
        return f"{name} is encrypted with {what}, not {wanted}", False
    if not key or have_key == key:
        return None, False
    if key_id(key) is None:
        return None, True
    return (None if key_id(have_key) == key_id(key) else f"{name} is encrypted with {what}, not {wanted}"), False


def differs(setting, want, have):
    if setting == "lifecycle_policy":
        return not isinstance(have, dict) or normalised_policy(want) != normalised_policy(have)
    return want != have


def plan(repos, repo, found, settings, encryption, tags, create):
    """What the run does to one repository of the list (reads only): {name, found, add (tags), put (settings),
    before, after}; found is None for a repository that does not exist."""
    if found is None:
        after = {"tags": tags}
        if create:
            after.update(settings, **({"encryption": encryption} if encryption else {}))
        return {"name": repo, "found": None, "add": tags, "put": {}, "before": None, "after": after}
    current = {k: found[k] for k in ("scan_on_push", "image_tag_mutability") if k in settings}
    if "lifecycle_policy" in settings:
        current["lifecycle_policy"] = repos.lifecycle_policy(repo)
    put = {k: v for k, v in settings.items() if differs(k, v, current[k])}
    add = {k: v for k, v in tags.items() if found["tags"].get(k) != v}
    before = {"tags": found["tags"], **current, **({"encryption": found["encryption"]} if encryption else {})}
    return {"name": repo, "found": found, "add": add, "put": put, "before": before,
            "after": {**before, **put, "tags": {**found["tags"], **add}}}


def ensure(module, repos, wanted, existing):
    name = module.params["name"]
    foreign = {r: existing[r]["tags"][DEPLOYMENT_TAG] for r in wanted
               if existing.get(r, {}).get("tags", {}).get(DEPLOYMENT_TAG, name) != name}
    if foreign:
        module.fail_json(msg="repositories: " + ", ".join(f"{r} is tagged {DEPLOYMENT_TAG}={d}"
                                                          for r, d in sorted(foreign.items()))
                         + f", not {name}: it belongs to another deployment (choose another prefix)")
    create = module.params["create"]
    missing = [r for r in wanted if r not in existing]
    if missing and not create and not module.check_mode:
        module.fail_json(msg=f"repositories: {', '.join(missing)} does not exist; create it first "
                             "(create: true)", missing=missing)
    settings, encryption = wanted_settings(module)
    # Every repository is checked before anything is written: ECR cannot change the encryption of a repository.
    wrong, unverified = {}, []
    for repo in wanted:
        if encryption and repo in existing:
            why, alias = encryption_mismatch(repo, existing[repo]["encryption"], encryption)
            if why:
                wrong[repo] = why
            if alias:
                unverified.append(repo)
    if wrong:
        module.fail_json(msg="; ".join(wrong.values()) + ". ECR cannot change the encryption of a repository after "
                             f"it is created: set {ENCRYPTION_VARIABLES} to the repository's encryption, or delete "
                             "the repository (its images go with it; the next run creates it with the encryption "
                             "asked and copies the images again). Nothing was changed.", repositories=sorted(wrong))
    if unverified:
        module.warn(f"kms_key {encryption['kmsKey']} is an alias and ECR reports a repository's key by its ARN: only "
                    f"the encryption type of {', '.join(unverified)} was compared (give the key's ARN or id in "
                    "kms_key (image_packaging_kms_key) to compare the key too)")
    tags = {**module.params["tags"], DEPLOYMENT_TAG: name}
    plans = [plan(repos, repo, existing.get(repo), settings, encryption, tags, create) for repo in wanted]

    results, before, after = [], {}, {}
    for step in plans:
        repo, found = step["name"], step["found"]
        if found is None:  # created; without create only in check mode (a real run failed above): a change
            made = repos.create(repo, tags, settings, encryption) if create else {"arn": "", "uri": ""}
            if create and "lifecycle_policy" in settings:
                repos.configure(repo, "lifecycle_policy", settings["lifecycle_policy"])
            updated = []
        else:
            made = found
            if step["add"]:
                repos.tag(repo, found["arn"], step["add"])
            for setting, value in step["put"].items():
                repos.configure(repo, setting, value)
            updated = (["tags"] if step["add"] else []) + list(step["put"])
        before[repo], after[repo] = step["before"], step["after"]
        results.append({"name": repo, "arn": made["arn"], "uri": made["uri"], "tags": step["after"]["tags"],
                        "changed": found is None or bool(updated), "created": found is None and create,
                        "updated": updated})
    if module.params["prune"]:
        for repo, found in existing.items():
            if repo not in wanted and found["tags"].get(DEPLOYMENT_TAG) == name:
                before[repo] = {"tags": found["tags"]}
                repos.delete(repo)
    return results, before, after


def remove(module, repos, wanted, existing):
    name = module.params["name"]
    before = {}
    for repo, found in existing.items():
        owner = found["tags"].get(DEPLOYMENT_TAG)
        if owner == name or (owner is None and repo in wanted):
            before[repo] = {"tags": found["tags"]}
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
            create=dict(type="bool", default=False),
            scan_on_push=dict(type="bool"),
            image_tag_mutability=dict(type="str", choices=["IMMUTABLE", "MUTABLE"]),
            lifecycle_policy=dict(type="json"),
            encryption_type=dict(type="str", choices=["AES256", "KMS"]),
            kms_key=dict(type="str", no_log=False),
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

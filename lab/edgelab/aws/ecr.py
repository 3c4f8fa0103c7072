"""ECR: repositoryUri and auth token point at the lab registry, which is the data plane: DescribeImages,
ListImages and BatchGetImage read its /v2/ API, so an image copied there with skopeo shows up in ECR.

As AWS, also: DescribeRepositories pages (at most 100 repositories without maxResults, nextToken), and repository
tags have AWS's limits (TagResource and CreateRepository: key 1-128, value at most 256 characters, at most 50 tags).
"""

import base64
import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import requests
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr.exceptions import InvalidParameterException, RepositoryNotEmptyException
from moto.ecr.models import ECRBackend, Image, Repository
from moto.ecr.responses import ECRResponse

from .state import LAB

log = logging.getLogger(__name__)
ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"])
# Calls to the registry bypass any proxy: it is on loopback.
_http = requests.Session()
_http.trust_env = False


def _registry_images(name: str) -> dict | None:
    """{digest: (manifest text, media type, [tags])} from the lab registry, or None if it does not answer."""
    base = f"http://{LAB.ecr_registry}/v2/{name}"
    try:
        r = _http.get(f"{base}/tags/list", timeout=3)
        if r.status_code == 404:
            return {}
        r.raise_for_status()
        images: dict = {}
        for tag in r.json().get("tags") or []:
            m = _http.get(f"{base}/manifests/{tag}", headers={"Accept": ACCEPT}, timeout=3)
            if m.status_code != 200:
                continue
            digest = m.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(m.content).hexdigest()
            media = m.headers.get("Content-Type", "").split(";")[0]
            images.setdefault(digest, (m.text, media, []))[2].append(tag)
        return images
    except (requests.RequestException, ValueError) as e:
        log.warning("lab registry %s not usable: %s", LAB.ecr_registry, e)
        return None


def sync(backend: ECRBackend, name: str) -> None:
    repo = backend.repositories.get(name)
    found = _registry_images(name) if repo else None
    if found is None:
        return
    kept = []
    for image in repo.images:
        if not getattr(image, "from_registry", False):
            kept.append(image)
        elif image.get_image_digest() in found:
            image.image_tags = sorted(found.pop(image.get_image_digest())[2])
            image.image_tag = image.image_tags[-1] if image.image_tags else None
            kept.append(image)
    for digest, (manifest, media, tags) in found.items():
        tags = sorted(tags)
        image = Image(backend.account_id, tags[-1], manifest, name, media, digest, repo.registry_id)
        image.image_tags, image.from_registry = tags, True
        kept.append(image)
    repo.images = kept


def _image_size(self) -> int | None:
    # ECR reports the compressed size: the layers (plus config), not moto's config-size guess.
    manifest = json.loads(self.image_manifest)
    if "layers" not in manifest:
        return None
    return sum(x.get("size", 0) for x in manifest["layers"]) + manifest.get("config", {}).get("size", 0)


_repo_init = Repository.__init__


def repo_init(self, *args, **kwargs) -> None:
    _repo_init(self, *args, **kwargs)
    self.uri = f"{LAB.ecr_registry}/{self.name}"


def _synced(method):
    def wrapper(self, repository_name, *args, **kwargs):
        sync(self, repository_name)
        return method(self, repository_name, *args, **kwargs)
    wrapper.__name__ = method.__name__
    return wrapper


_delete_repository = ECRBackend.delete_repository


def delete_repository(self, repository_name, registry_id=None, force=False):
    sync(self, repository_name)
    repo = self.repositories.get(repository_name)
    if repo and repo.images and not force:
        raise RepositoryNotEmptyException(repository_name, registry_id or self.account_id)
    if repo:  # best effort: needs the registry's storage.delete.enabled
        for image in repo.images:
            if getattr(image, "from_registry", False):
                try:
                    _http.delete(f"http://{LAB.ecr_registry}/v2/{repository_name}/manifests/"
                                 f"{image.get_image_digest()}", timeout=3)
                except requests.RequestException:
                    pass
    return _delete_repository(self, repository_name, registry_id, force)


class InvalidTagParameterException(ServiceException):
    code = "InvalidTagParameterException"
    message = ("An invalid parameter has been specified. Tag keys can have a maximum character length of 128 "
               "characters, and tag values can have a maximum length of 256 characters.")


class TooManyTagsException(ServiceException):
    code = "TooManyTagsException"
    message = ("The list of tags on the repository is over the limit. The maximum number of tags that can be applied "
               "to a repository is 50.")


def _check_tags(current: list, tags: list) -> None:
    for tag in tags or []:
        if not 1 <= len(tag.get("Key") or "") <= 128 or len(tag.get("Value") or "") > 256:
            raise InvalidTagParameterException()
    if len({t["Key"] for t in (current or []) + (tags or [])}) > 50:
        raise TooManyTagsException()


_tag_resource = ECRBackend.tag_resource
_create_repository = ECRBackend.create_repository


def tag_resource(self, arn, tags):
    resource = self._parse_resource_arn(arn)
    repo = self._get_repository(resource.repo_name, resource.account_id)
    _check_tags(self.tagger.list_tags_for_resource(repo.arn)["tags"], tags)
    return _tag_resource(self, arn, tags)


def create_repository(self, *args, **kwargs):
    _check_tags([], kwargs.get("tags"))
    return _create_repository(self, *args, **kwargs)


_PAGE = 100  # what AWS returns without maxResults


def describe_repositories(self) -> ActionResult:
    """Pages as AWS: maxResults 1-1000 (default 100), nextToken; neither with repositoryNames. Pages are in name
    order (the lab's choice: AWS documents no order); the token is the last name returned, so deleting
    repositories between pages skips none of the others."""
    names, token, size = (self._get_param(k) for k in ("repositoryNames", "nextToken", "maxResults"))
    if names and (token or size is not None):
        raise InvalidParameterException("Invalid parameter: nextToken and maxResults cannot be used with "
                                        "repositoryNames")
    repositories = self.ecr_backend.describe_repositories(repository_names=names,
                                                          registry_id=self._get_param("registryId"))
    if names:
        return ActionResult({"repositories": repositories, "failures": []})
    size = _PAGE if size is None else int(size)
    if not 1 <= size <= 1000:
        raise InvalidParameterException("Invalid parameter at 'maxResults' failed to satisfy constraint: "
                                        "'Member must have value between 1 and 1000'")
    repositories = sorted(repositories, key=lambda r: r.name)
    if token:
        try:
            after = base64.b64decode(token, altchars=b"-_", validate=True).decode()
        except ValueError:
            raise InvalidParameterException("Invalid parameter at 'nextToken': invalid token") from None
        repositories = [r for r in repositories if r.name > after]
    result = {"repositories": repositories[:size]}
    if len(repositories) > size:
        result["nextToken"] = base64.urlsafe_b64encode(repositories[size - 1].name.encode()).decode()
    return ActionResult(result)


def get_authorization_token(self) -> ActionResult:
    ids = self._get_param("registryIds") or [self.current_account]
    token = base64.b64encode(f"AWS:{uuid.uuid4().hex}".encode()).decode()
    expires = datetime.now(UTC) + timedelta(hours=12)
    return ActionResult({"authorizationData": [
        {"authorizationToken": token, "expiresAt": expires, "proxyEndpoint": f"http://{LAB.ecr_registry}"}
        for _ in ids]})


def install() -> None:
    Repository.__init__ = repo_init
    Image.get_image_size_in_bytes = _image_size
    for name in ("describe_images", "list_images", "batch_get_image", "batch_delete_image"):
        setattr(ECRBackend, name, _synced(getattr(ECRBackend, name)))
    ECRBackend.delete_repository = delete_repository
    ECRBackend.tag_resource = tag_resource
    ECRBackend.create_repository = create_repository
    ECRResponse.describe_repositories = describe_repositories
    ECRResponse.get_authorization_token = get_authorization_token

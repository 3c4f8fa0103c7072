"""The lab Kubernetes API (the EKS endpoint): kmock's in-memory emulator with the bundled resource catalogue on
https://127.0.0.1:6443, with TLS and authentication like EKS.

Run with `python -m edgelab.kube [--host H] [--port P] [--state-dir D] [--aws-url URL]` (prints "kmock Kubernetes
API on URL" when serving; port 0 = a free port); tests use `subprocess_server()` and `admin_auth()`.
- TLS: the server certificate (IP:127.0.0.1, DNS:localhost) is issued by the lab CA of the state directory
  (config.KUBE_STATE_DIR: ca.crt, created once; edgelab.kubetls). The lab EKS returns that CA as
  certificateAuthority.data.
- Authentication (edgelab.kubeauth): EKS tokens (`k8s-aws-v1.` + presigned STS GetCallerIdentity URL, at most 15
  minutes old, signed with its own secret by a key the lab AWS endpoint knows - `testing`, an IAM user's active
  access key, an unexpired AssumeRole session - for an existing EKS cluster of the lab AWS endpoint), or the
  lab-only admin token of the state directory (admin-token: the lab's own components and tests). Anything else ->
  401 Unauthorized (a Kubernetes Status), as EKS answers. /version, /healthz, /readyz, /livez answer without
  credentials.
- Authorization (edgelab.kubeauthz): the token's IAM principal (lab STS; an assumed-role session -> its role) must
  have an access entry on the token's cluster (else 401), and each request must be allowed by the entry's access
  policies within their scope (else 403 Forbidden, the Status kube-apiserver sends). The admin token may do anything.
kmock stores objects as given; `LabEmulator` adds what kubernetes.core and the Python client rely on:
- Namespace objects (/api/v1/namespaces[/name]); deleting a Namespace deletes the objects in it.
- Writes (create, merge/JSON patch, PUT replace, delete) set metadata.uid, creationTimestamp, resourceVersion
  (bumped on real changes only) and generation (1 on create, +1 when anything outside metadata/status changes).
- ?dryRun=All answers as the write would, and stores nothing (kubernetes.core check mode).
- Field ownership (metadata.managedFields) and server-side apply (application/apply-patch+yaml with fieldManager:
  create if missing, merge by field owner, removal of fields the manager no longer applies, 409 Conflict on fields
  another manager owns unless force=true); see edgelab.managedfields.
- List replies carry kind (<Kind>List) and apiVersion, and honour labelSelector and fieldSelector.
No validation, defaults or controllers: the node agent plays the controllers (Nodes, Deployment status).
Lab limits: status is not separated from the main resource; finalizers are ignored (deletion is immediate);
objects may be created in a namespace that does not exist.
"""

import argparse
import asyncio
import contextlib
import copy
import datetime
import json
import logging
import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp.web
import kmock
import yaml
from kmock._internal import dicts, enums, parsing, rendering
from kmock._internal.k8s import KubernetesError, KubernetesObjectNotFoundError

from edgelab import config, kubeauth, kubeauthz, kubetls, managedfields

log = logging.getLogger("edgelab.kube")

WRITES = (enums.action.CREATE, enums.action.UPDATE, enums.action.DELETE)
REQUEST_LOG = 100  # kmock keeps every request (and error) for test assertions; a long-lived server must not
READY = "kmock Kubernetes API on"
NOT_COMPARED = ("resourceVersion", "generation")
PUBLIC_PATHS = {"/version", "/healthz", "/readyz", "/livez"}  # served to anonymous callers, as EKS does
HEALTH_PATHS = {"/healthz", "/readyz", "/livez"}
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}
APPLY_PATCH = "application/apply-patch"

_kmock_parse_path = parsing.parse_path


def parse_path(path: str) -> parsing.ParsedPath:
    """kmock reads /api/v1/namespaces/x as the namespace x of an unnamed resource; make it the Namespace x."""
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and (
            len(parts) <= 4 or (len(parts) == 5 and parts[4] in ("status", "finalize"))):
        name, subresource = [*parts[3:5], None, None][:2]
        return parsing.ParsedPath("", "v1", "namespaces", None, name, subresource)
    return _kmock_parse_path(path)


parsing.parse_path = parse_path  # kmock's request parser looks it up at call time


def _selector_terms(selector: str) -> list[str]:
    return [t.strip() for t in re.split(r",(?![^(]*\))", selector) if t.strip()]  # commas outside (a,b)


def labels_match(labels: dict, selector: str) -> bool:
    """Kubernetes label selector: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b)."""
    for term in _selector_terms(selector):
        if m := re.fullmatch(r"(\S+?)\s+(in|notin)\s*\((.*)\)", term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if (key in labels and labels[key] in values) != (op == "in"):
                return False
        elif m := re.fullmatch(r"(.+?)\s*(!=|==|=)\s*(.*)", term):
            key, op, value = (s.strip() for s in m.groups())
            if (labels.get(key) == value) != (op != "!="):
                return False
        elif (term.removeprefix("!").strip() in labels) == term.startswith("!"):
            return False
    return True


def fields_match(obj: dict, selector: str) -> bool:
    """Field selector on any dotted path (metadata.name, metadata.namespace, spec.nodeName, status.phase...)."""
    for term in _selector_terms(selector):
        path, op, value = re.fullmatch(r"(.+?)\s*(!=|==|=)\s*(.*)", term).groups()
        current = obj
        for key in path.split("."):
            current = current.get(key) if isinstance(current, dict) else None
        if (str(current if current is not None else "") == value) != (op != "!="):
            return False
    return True


def _comparable(obj: dict | None) -> dict | None:
    if obj is None:
        return None
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in NOT_COMPARED}
    meta["managedFields"] = managedfields.comparable(meta.get("managedFields"))
    return {**obj, "metadata": meta}


def _spec_of(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def error(status: int, reason: str, message: str, **details) -> KubernetesError:
    return KubernetesError(status=status, reason=reason, message=message, details=details)


class LabEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the write semantics of a real API server (see the module docstring)."""

    authenticator: kubeauth.Authenticator | None = None  # None: no authentication (in-process unit use only)
    authorizer: kubeauthz.Authorizer | None = None  # None: an authenticated caller may do anything

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()  # without it every kind answers 404
        self.resource_version = 0

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        refusal = await self._authenticate(raw_request)
        if refusal is not None:
            return refusal
        if raw_request.path.rstrip("/") in HEALTH_PATHS:
            return aiohttp.web.Response(text="ok")
        return await super().__call__(raw_request)

    async def _authenticate(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse | None:
        """None if the caller may go on, else the 401 (or, from the authorizer, 403) answer. Anonymous callers reach
        only PUBLIC_PATHS; a credential that is given must be valid wherever it is sent (as kube-apiserver does)."""
        auth = self.authenticator
        header = raw_request.headers.get("Authorization")
        if auth is None or (header is None and raw_request.path.rstrip("/") in PUBLIC_PATHS) or auth.admin(header):
            return None

        def admit() -> dict | None:  # may ask the lab AWS endpoint (cached): in a thread
            identity = auth.authenticate(header)
            if self.authorizer is None:
                return None
            return self.authorizer.check(identity, raw_request.method, raw_request.path, raw_request.query_string)

        try:
            denied = await asyncio.to_thread(admit)
        except kubeauth.Refused as e:
            log.warning("401 %s %s: %s", raw_request.method, raw_request.path, e)
            return aiohttp.web.json_response(UNAUTHORIZED, status=401)
        return None if denied is None else aiohttp.web.json_response(denied, status=403)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        self._trim_request_log()
        action = request.action
        if action is None and request.method == enums.method.PUT and request.name:
            action = "replace"  # kmock does not serve PUT
        if request.resource is None or not request.resource.plural or action not in (*WRITES, "replace"):
            return await super()._handle(request)
        try:
            async with self._lock:
                return aiohttp.web.json_response(await self._write(request, action))
        except KubernetesError as e:  # rendered here: kmock would also keep each error in memory
            return await self._render_error(e)

    async def _write(self, request: rendering.Request, action) -> dict:
        resource, data = request.resource, request.data
        headers = {k.lower(): v for k, v in request.headers.items()}
        apply = action == enums.action.UPDATE and headers.get("content-type", "").startswith(APPLY_PATCH)
        if apply and data is None and request.text.strip():
            try:
                data = yaml.safe_load(request.text)  # an apply patch may be YAML
            except yaml.YAMLError as e:
                raise error(400, "BadRequest", f"error decoding YAML: {e}") from None
        data = data if data is not None else {}
        info = self.resources[resource] if resource in self.resources else None
        namespaced = bool(info and info.namespaced)
        meta = data.get("metadata", {}) if isinstance(data, dict) else {}
        name = request.name or meta.get("name")
        namespace = (request.namespace or meta.get("namespace") or "default") if namespaced else None
        if not name:
            raise error(422, "Invalid", "metadata.name: Required value")
        key = (resource, namespace, name)
        stored = self._objects[key] if key in self._objects else None
        current = None if stored is None or stored.deleted else stored.raw
        dry_run = request.params.get("dryRun") == "All"
        api_version = f"{resource.group}/{resource.version}" if resource.group else resource.version
        manager = request.params.get("fieldManager") or managedfields.manager_from_user_agent(headers.get("user-agent"))

        if action == enums.action.CREATE and current is not None:
            raise error(409, "AlreadyExists", f'{resource.plural} "{name}" already exists', name=name,
                        kind=resource.plural)
        if action != enums.action.CREATE and current is None and not apply:  # server-side apply creates
            raise error(404, "NotFound", f'{resource.plural} "{name}" not found', name=name, kind=resource.plural)

        if action == enums.action.DELETE:
            if not dry_run:
                await self._delete(key, current)
            return current
        if apply:
            self._check_apply(request, data, info, api_version, name, namespace)
            try:
                new = managedfields.apply(current, data, manager, api_version,
                                          force=request.params.get("force", "").lower() == "true")
            except managedfields.Conflicts as e:
                raise error(409, "Conflict", e.message(), causes=e.causes()) from None
        else:
            # create and replace (PUT) take the body; a patch (merge or JSON patch) applies over the current object
            new = copy.deepcopy(dict(data if action != enums.action.UPDATE else dicts.patch_dict(current, data)))
            new = managedfields.record_update(current, new, manager, api_version, request.subresource)
        new = self._stamp(new, current, resource, info, namespace, name, dry_run)
        if not dry_run and _comparable(new) != _comparable(current):
            self._objects[key] = new  # a fresh history: the lab keeps only the current version
            event = "ADDED" if current is None else "MODIFIED"
            await self._buses[resource].put({"type": event, "object": new})
        return new if current is None or _comparable(new) != _comparable(current) else current

    @staticmethod
    def _check_apply(request: rendering.Request, data, info, api_version: str, name: str, namespace) -> None:
        """What the API server refuses in an apply patch (400 BadRequest / 422 Invalid)."""
        if not request.params.get("fieldManager"):
            raise error(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                        "is required for apply patch")
        if not isinstance(data, dict):
            raise error(400, "BadRequest", "error decoding YAML: the apply patch is not an object")
        for field in ("apiVersion", "kind"):
            if not data.get(field):
                raise error(400, "BadRequest", f"Object '{field[0].upper() + field[1:]}' is missing in "
                            f"'{json.dumps(data, separators=(',', ':'))[:200]}'")
        if data["apiVersion"] != api_version:
            raise error(400, "BadRequest", f"the API version in the data ({data['apiVersion']}) does not match "
                        f"the expected API version ({api_version})")
        if info and info.kind and data["kind"] != info.kind:
            raise error(400, "BadRequest", f"the kind in the data ({data['kind']}) does not match the expected "
                        f"kind ({info.kind})")
        meta = data.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise error(400, "BadRequest", f"the name of the object ({meta['name']}) does not match the name on "
                        f"the URL ({name})")
        if namespace and meta.get("namespace") and meta["namespace"] != namespace:
            raise error(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                        "sent on the request")

    def _stamp(self, new: dict, current: dict | None, resource, info, namespace, name, dry_run: bool) -> dict:
        """Server-owned fields: identity, kind, timestamps, resourceVersion and generation."""
        meta = new.setdefault("metadata", {})
        meta.update(name=name, **({"namespace": namespace} if namespace else {}))
        if namespace is None:
            meta.pop("namespace", None)
        if info and info.kind:
            new.setdefault("kind", info.kind)
        new.setdefault("apiVersion", f"{resource.group}/{resource.version}" if resource.group else resource.version)
        if current is None:
            meta.update(uid=str(uuid.uuid4()), generation=1,
                        creationTimestamp=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            if new["kind"] == "Namespace":
                new.setdefault("status", {"phase": "Active"})
        else:
            for field in ("uid", "creationTimestamp", "generation", "resourceVersion"):
                meta[field] = current["metadata"].get(field)
            meta["generation"] = (meta["generation"] or 0) + (_spec_of(new) != _spec_of(current))
        if _comparable(new) != _comparable(current):
            meta["resourceVersion"] = str(self.resource_version + 1)
            if not dry_run:
                self.resource_version += 1
        return new

    async def _delete(self, key, obj: dict) -> None:
        doomed = [key]
        if obj.get("kind") == "Namespace":  # the namespace's objects go with it (at once: no finalizers here)
            doomed += [k for k, o in self._objects.items() if k[1] == key[2] and not o.deleted]
        for k in doomed:
            raw = self._objects[k].raw
            del self._objects[k]
            self.resource_version += 1
            await self._buses[k[0]].put({"type": "DELETED", "object": raw})

    async def _serve_fetch(self, request: rendering.Request) -> dict:
        try:
            return await super()._serve_fetch(request)
        except KubernetesObjectNotFoundError:  # the reason and message of a real API server
            raise error(404, "NotFound", f'{request.resource.plural} "{request.name}" not found',
                        name=request.name, kind=request.resource.plural) from None

    async def _serve_list(self, request: rendering.Request) -> dict:
        result = await super()._serve_list(request)
        items = result["items"]
        if selector := request.params.get("labelSelector"):
            items = [o for o in items if labels_match(o.get("metadata", {}).get("labels") or {}, selector)]
        if selector := request.params.get("fieldSelector"):
            items = [o for o in items if fields_match(o, selector)]
        resource = request.resource
        kind = self.resources[resource].kind if resource in self.resources else None
        return {"kind": f"{kind or (items[0]['kind'] if items else '')}List",
                "apiVersion": f"{resource.group}/{resource.version}" if resource.group else resource.version,
                "metadata": {"resourceVersion": str(self.resource_version)}, "items": items}

    def _trim_request_log(self) -> None:
        del self._requests[:-REQUEST_LOG]  # kmock matches each request against this list: keep it short
        for payload in self._payloads:
            del payload._requests[:-REQUEST_LOG]
        for errors in self._errors:
            del errors[:-REQUEST_LOG]


async def serve(host: str, port: int, state_dir: Path | None = None, aws_url: str | None = None) -> None:
    files = kubetls.ensure(state_dir)
    emulator = LabEmulator()
    emulator.authenticator = kubeauth.Authenticator(files.admin_token, aws_url or config.KUBE_AWS_URL)
    emulator.authorizer = kubeauthz.Authorizer(aws_url or config.KUBE_AWS_URL,
                                               clusters=emulator.authenticator.clusters,
                                               keys=emulator.authenticator.keys)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with emulator:
        runner = aiohttp.web.ServerRunner(aiohttp.web.Server(emulator), shutdown_timeout=1.0)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, host, port, ssl_context=files.server_context())
        await site.start()
        try:
            bound = site._server.sockets[0].getsockname()[1]  # port 0: a free port, printed here
            print(f"{READY} https://{host}:{bound}", flush=True)
            await stop.wait()
        finally:
            await runner.cleanup()


# -- for the lab's own clients and tests -------------------------------------------------------------------
@dataclass(frozen=True)
class KubeServer:
    """Where a lab Kubernetes API is and how its admin reaches it (see admin_auth)."""
    url: str
    ca_cert: Path
    token: str

    @classmethod
    def of(cls, url: str | None = None, state_dir: Path | str | None = None) -> "KubeServer":
        files = kubetls.ensure(state_dir)
        return cls(url or config.KUBE_URL, files.ca_cert, files.admin_token)

    def auth(self) -> dict:
        """kubernetes.core connection parameters (module_defaults, the roles' *_k8s_auth dicts)."""
        return {"host": self.url, "api_key": self.token, "ca_cert": str(self.ca_cert), "validate_certs": True}

    def env(self) -> dict:
        """The same as kubernetes.core's environment variables."""
        return {"K8S_AUTH_HOST": self.url, "K8S_AUTH_API_KEY": self.token, "K8S_AUTH_SSL_CA_CERT": str(self.ca_cert),
                "K8S_AUTH_VERIFY_SSL": "true"}

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def ssl_context(self):
        return kubetls.KubeFiles(self.ca_cert.parent).client_context()

    def urlopen(self, request: urllib.request.Request | str, timeout: float = 5):
        """urllib.request.urlopen with the admin token (unless the request has an Authorization) and the lab CA."""
        request = urllib.request.Request(request) if isinstance(request, str) else request  # noqa: S310
        if not request.full_url.startswith("https://"):
            raise ValueError(f"the lab Kubernetes API is https: {request.full_url}")
        if not request.has_header("Authorization"):
            request.add_header("Authorization", self.headers["Authorization"])
        return urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context())  # noqa: S310 (https)

    def session(self):
        """A requests.Session that verifies the lab CA and sends the admin token."""
        import requests
        http = requests.Session()
        http.trust_env = False  # else REQUESTS_CA_BUNDLE (if set) would replace the lab CA; no proxy for loopback
        http.verify = str(self.ca_cert)
        http.headers.update(self.headers)
        return http

    def configuration(self):
        """A kubernetes.client.Configuration for the admin."""
        from kubernetes import client
        cfg = client.Configuration()
        cfg.host, cfg.ssl_ca_cert, cfg.verify_ssl = self.url, str(self.ca_cert), True
        cfg.api_key, cfg.api_key_prefix = {"authorization": self.token}, {"authorization": "Bearer"}
        return cfg


def admin_server(server: "KubeServer | str | None" = None) -> KubeServer:
    """A KubeServer as given, or the lab's admin credential for a URL (default: the lab's API, config.KUBE_URL)."""
    return server if isinstance(server, KubeServer) else KubeServer.of(server)


def admin_auth(server: "KubeServer | str | None" = None) -> dict:
    """kubernetes.core connection parameters for the lab-only admin credential:
    {host, api_key, ca_cert, validate_certs: True}. `server`: a subprocess_server(), a URL, or None (the lab's)."""
    return admin_server(server).auth()


def admin_urlopen(request: urllib.request.Request | str, timeout: float = 5, server=None):
    """urllib.request.urlopen for the lab API as its admin (the CA and token of the lab state directory)."""
    return admin_server(server).urlopen(request, timeout)


@contextlib.contextmanager
def subprocess_server(host: str = "127.0.0.1", aws_url: str | None = None,
                      state_dir: Path | str | None = None) -> Iterator[KubeServer]:
    """A private API server on a free port (for tests that must not share the lab's objects); yields a KubeServer
    (url, ca_cert, token; .auth() for kubernetes.core). TLS and the admin token come from the state directory
    (default: the lab's, so the CA is the one the lab EKS returns); EKS tokens are checked against the clusters of
    `aws_url` (default: config.KUBE_AWS_URL, the running lab)."""
    files = kubetls.ensure(state_dir)
    env = {**os.environ, "PYTHONPATH": str(config.REPO / "lab")}
    command = [sys.executable, "-m", "edgelab.kube", "--host", host, "--port", "0", "--state-dir", str(files.dir)]
    if aws_url:
        command += ["--aws-url", aws_url]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        if not line.startswith(READY):
            raise RuntimeError(f"edgelab.kube did not start: {line!r}")
        yield KubeServer(line.split()[-1], files.ca_cert, files.admin_token)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(prog="edgelab.kube")
    parser.add_argument("--host", default=config.KUBE_HOST)
    parser.add_argument("--port", type=int, default=config.KUBE_PORT)
    parser.add_argument("--state-dir", type=Path, default=config.KUBE_STATE_DIR,
                        help="CA, server certificate and admin token (created if missing)")
    parser.add_argument("--aws-url", default=config.KUBE_AWS_URL, help="the AWS endpoint whose EKS clusters exist")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per request: the agent polls
    asyncio.run(serve(args.host, args.port, args.state_dir, args.aws_url))


if __name__ == "__main__":
    main()

"""The lab Kubernetes API: kmock's in-memory emulator with the bundled resource catalogue on 127.0.0.1:6443.

Run with `python -m edgelab.kube [--host H] [--port P]` (prints "kmock Kubernetes API on URL" when serving;
port 0 = a free port); tests use `subprocess_server()`.
kmock stores objects as given; `LabEmulator` adds what kubernetes.core and the Python client rely on:
- Namespace objects (/api/v1/namespaces[/name]); deleting a Namespace deletes the objects in it.
- Writes (create, merge/JSON patch, PUT replace, delete) set metadata.uid, creationTimestamp, resourceVersion
  (bumped on real changes only) and generation (1 on create, +1 when anything outside metadata/status changes).
- ?dryRun=All answers as the write would, and stores nothing (kubernetes.core check mode).
- Server-side apply (application/apply-patch+yaml) creates a missing object (merge semantics otherwise).
- List replies carry kind (<Kind>List) and apiVersion, and honour labelSelector and fieldSelector.
No validation, defaults or controllers: the node agent plays the controllers (Nodes, Deployment status).
Lab limits: status is not separated from the main resource; finalizers are ignored (deletion is immediate).
"""

import argparse
import asyncio
import contextlib
import copy
import datetime
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import aiohttp.web
import kmock
from kmock._internal import dicts, enums, parsing, rendering
from kmock._internal.k8s import KubernetesError, KubernetesObjectNotFoundError

from edgelab import config

WRITES = (enums.action.CREATE, enums.action.UPDATE, enums.action.DELETE)
REQUEST_LOG = 100  # kmock keeps every request (and error) for test assertions; a long-lived server must not
READY = "kmock Kubernetes API on"
NOT_COMPARED = ("resourceVersion", "generation", "managedFields")

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
    return {**obj, "metadata": meta}


def _spec_of(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def error(status: int, reason: str, message: str, **details) -> KubernetesError:
    return KubernetesError(status=status, reason=reason, message=message, details=details)


class LabEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the write semantics of a real API server (see the module docstring)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()  # without it every kind answers 404
        self.resource_version = 0

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
        resource, data = request.resource, request.data if request.data is not None else {}
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
        content_type = {k.lower(): v for k, v in request.headers.items()}.get("content-type", "")
        if action == enums.action.UPDATE and current is None and content_type.startswith("application/apply-patch"):
            action = enums.action.CREATE  # server-side apply creates

        if action == enums.action.CREATE and current is not None:
            raise error(409, "AlreadyExists", f'{resource.plural} "{name}" already exists', name=name,
                        kind=resource.plural)
        if action != enums.action.CREATE and current is None:
            raise error(404, "NotFound", f'{resource.plural} "{name}" not found', name=name, kind=resource.plural)

        if action == enums.action.DELETE:
            if not dry_run:
                await self._delete(key, current)
            return current
        # create and replace (PUT) take the body; a patch (merge or JSON patch) applies over the current object
        new = copy.deepcopy(dict(data if action != enums.action.UPDATE else dicts.patch_dict(current, data)))
        new = self._stamp(new, current, resource, info, namespace, name, dry_run)
        if not dry_run and _comparable(new) != _comparable(current):
            self._objects[key] = new  # a fresh history: the lab keeps only the current version
            event = "ADDED" if current is None else "MODIFIED"
            await self._buses[resource].put({"type": event, "object": new})
        return new

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


async def serve(host: str, port: int) -> None:
    emulator = LabEmulator()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with emulator, kmock.Server(emulator, host=host, port=port or None) as server:
        print(f"{READY} http://{host}:{server.port}", flush=True)  # port 0: a free port, printed here
        await stop.wait()


@contextlib.contextmanager
def subprocess_server(host: str = "127.0.0.1") -> Iterator[str]:
    """A private API server on a free port (for tests that must not share the lab's); yields its URL."""
    env = {**os.environ, "PYTHONPATH": str(config.REPO / "lab")}
    proc = subprocess.Popen([sys.executable, "-m", "edgelab.kube", "--host", host, "--port", "0"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        if not line.startswith(READY):
            raise RuntimeError(f"edgelab.kube did not start: {line!r}")
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(prog="edgelab.kube")
    parser.add_argument("--host", default=config.KUBE_HOST)
    parser.add_argument("--port", type=int, default=config.KUBE_PORT)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()

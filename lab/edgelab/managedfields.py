"""Field ownership (metadata.managedFields, FieldsV1) and server-side apply, as the Kubernetes API server does it,
simplified for the lab.

- Every write records who owns which fields: an Update entry for create/patch/replace (manager = ?fieldManager, else
  the User-Agent up to its first "/", as the API server does), an Apply entry for server-side apply.
- Server-side apply (PATCH application/apply-patch+yaml, ?fieldManager=M [&force=true]) merges the applied
  configuration into the object: maps recursively, associative lists by their keys (containers, env, volumes... by
  name; container ports by containerPort+protocol, Service ports by port+protocol, volumeMounts by mountPath,
  conditions by type), every other list atomically. Fields M applied before and no longer applies are removed unless
  another manager owns them too. Changing a field another manager owns (with a different value) is a 409 Conflict,
  unless force=true (then M takes it over).
Lab simplifications: no defaults and no schema, so the list kinds above are chosen by field name; apiVersion is not
part of an entry's identity; managedFields given in a request body are ignored (the server's are kept).
"""

import copy
import datetime
import json

SKIP_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
             "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}
NAME_KEYED = {"containers", "initContainers", "ephemeralContainers", "volumes", "env", "imagePullSecrets",
              "hostAliases", "topologySpreadConstraints", "readinessGates", "resourceClaims"}


class Conflicts(Exception):
    def __init__(self, conflicts: list[tuple[str, str, tuple]]):  # (manager, apiVersion, path)
        super().__init__(conflicts)
        self.conflicts = conflicts

    def message(self) -> str:
        n = len(self.conflicts)
        lines = [f'conflict with "{m}" using {v}: {render_path(p)}' for m, v, p in self.conflicts]
        if n == 1:
            return f"Apply failed with 1 conflict: {lines[0]}"
        return f"Apply failed with {n} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict]:
        return [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}" using {v}', "field": render_path(p)}
                for m, v, p in self.conflicts]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def manager_from_user_agent(user_agent: str | None) -> str:
    return (user_agent or "").split("/")[0][:128] or "unknown"


# -- paths ---------------------------------------------------------------------------------------------------
def list_keys(name: str | None, items: list) -> tuple | None:
    """The merge keys of an associative list, or None for an atomic list."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    if name == "ports":
        keys = ("containerPort", "protocol") if all("containerPort" in i for i in items) else ("port", "protocol")
    elif name == "volumeMounts":
        keys = ("mountPath",)
    elif name == "conditions":
        keys = ("type",)
    elif name in NAME_KEYED:
        keys = ("name",)
    else:
        return None
    return keys if all(keys[0] in i for i in items) else None


def item_key(item: dict, keys: tuple) -> str:
    values = {k: item.get(k, "TCP" if k == "protocol" else None) for k in keys}
    return "k:" + json.dumps(values, separators=(",", ":"), sort_keys=True)


def strip_none(value):
    if isinstance(value, dict):
        return {k: strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_none(v) for v in value]
    return value


def fields(obj: dict) -> set[tuple]:
    """Owned paths of an object: leaves ("f:a", "f:b") and associative list items (ending in "k:{...}")."""
    out: set[tuple] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or value is None:
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in SKIP_META}
            if not value:
                continue
        _walk(value, (f"f:{key}",), key, out)
    return out


def _walk(value, path: tuple, name: str | None, out: set) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            if v is not None:
                _walk(v, (*path, f"f:{k}"), k, out)
    elif isinstance(value, list) and (keys := list_keys(name, value)):
        for item in value:
            item_path = (*path, item_key(item, keys))
            out.add(item_path)
            _walk(item, item_path, None, out)
    else:
        out.add(path)


def leaves(paths: set[tuple]) -> set[tuple]:
    return {p for p in paths if not p[-1].startswith("k:")}


_MISSING = object()


def _child(value, element: str, name: str | None):
    """One step along a path: a map key ("f:x") or the list item with that key ("k:{...}" of the list `name`)."""
    if element.startswith("f:"):
        return value.get(element[2:], _MISSING) if isinstance(value, dict) else _MISSING
    keys = list_keys(name, value) if isinstance(value, list) else None
    return next((i for i in value if item_key(i, keys) == element), _MISSING) if keys else _MISSING


def get(obj, path: tuple):
    """The value at a path, or _MISSING."""
    current, name = obj, None
    for element in path:
        current = _child(current, element, name)
        if current is _MISSING:
            return _MISSING
        name = element[2:] if element.startswith("f:") else None
    return current


def remove(obj: dict, path: tuple) -> None:
    """Delete the field or list item at path; the maps and lists it leaves empty go too."""
    chain, name = [obj], None
    for element in path[:-1]:
        child = _child(chain[-1], element, name)
        if not isinstance(child, (dict, list)):
            return
        chain.append(child)
        name = element[2:] if element.startswith("f:") else None
    parent, last = chain[-1], path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and (keys := list_keys(name, parent) if isinstance(parent, list) else None):
        parent[:] = [i for i in parent if item_key(i, keys) != last]
    for i in range(len(path) - 2, -1, -1):
        if chain[i + 1] in ({}, []) and path[i].startswith("f:") and isinstance(chain[i], dict):
            chain[i].pop(path[i][2:], None)
        else:
            break


def render_path(path: tuple) -> str:
    out = ""
    for element in path:
        if element.startswith("f:"):
            out += "." + element[2:]
        else:
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(element[2:]).items()) + "]"
    return out


def to_fields_v1(paths: set[tuple]) -> dict:
    root: dict = {}
    for path in sorted(paths):
        node = root
        for element in path:
            node = node.setdefault(element, {})
        if path[-1].startswith("k:"):
            node["."] = {}
    return root


def from_fields_v1(tree: dict, prefix: tuple = ()) -> set[tuple]:
    out: set[tuple] = set()
    for key, sub in (tree or {}).items():
        if key == ".":
            out.add(prefix)
        elif not sub:
            out.add((*prefix, key))
        else:
            out |= from_fields_v1(sub, (*prefix, key))
    return out


# -- managedFields entries -----------------------------------------------------------------------------------
def _entries(obj: dict | None) -> list[dict]:
    entries = []
    for e in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        entries.append({**e, "_fields": from_fields_v1(e.get("fieldsV1") or {})})
    return entries


def _same_entry(e: dict, manager: str, operation: str, subresource: str | None) -> bool:
    return e.get("manager") == manager and e.get("operation") == operation and e.get("subresource") == subresource


def _render(entries: list[dict], present: set[tuple]) -> list[dict]:
    out = []
    for e in entries:
        owned = e["_fields"] & present
        if not owned:
            continue
        entry = {k: v for k, v in e.items() if k != "_fields"}
        entry.update(fieldsType="FieldsV1", fieldsV1=to_fields_v1(owned))
        out.append(entry)
    return out


def _put_entry(entries: list[dict], previous: dict | None, manager: str, operation: str, api_version: str,
               subresource: str | None, owned: set[tuple], changed: bool) -> None:
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version,
             "time": previous["time"] if previous and not changed and previous.get("time") else now(),
             "fieldsType": "FieldsV1", **({"subresource": subresource} if subresource else {}), "_fields": owned}
    if previous:
        entries[entries.index(previous)] = entry
    else:
        entries.append(entry)


def record_update(current: dict | None, new: dict, manager: str, api_version: str,
                  subresource: str | None = None) -> dict:
    """managedFields of `new` after an Update (create, patch, replace) by `manager`; returns `new`."""
    entries = _entries(current)
    new_fields = fields(new)
    if current is None:
        changed = new_fields
    else:
        old_fields = fields(current)
        changed = {p for p in new_fields
                   if p not in old_fields or (not p[-1].startswith("k:") and get(new, p) != get(current, p))}
    for e in entries:
        if not _same_entry(e, manager, "Update", subresource):
            e["_fields"] = e["_fields"] - changed
    mine = next((e for e in entries if _same_entry(e, manager, "Update", subresource)), None)
    if changed:
        _put_entry(entries, mine, manager, "Update", api_version, subresource,
                   (mine["_fields"] if mine else set()) | changed, changed=True)
    new.setdefault("metadata", {})["managedFields"] = _render(entries, new_fields)
    return new


def merge(current, applied, name: str | None = None):
    """The applied configuration over the current value: maps recursively, associative lists by key."""
    if isinstance(current, dict) and isinstance(applied, dict):
        out = dict(current)
        for k, v in applied.items():
            out[k] = merge(current[k], v, k) if k in current else copy.deepcopy(v)
        return out
    if isinstance(current, list) and isinstance(applied, list):
        keys = list_keys(name, applied)
        if keys and list_keys(name, current) == keys:
            by_key = {item_key(i, keys): i for i in current}
            out = [merge(by_key[item_key(i, keys)], i) if item_key(i, keys) in by_key else copy.deepcopy(i)
                   for i in applied]
            applied_keys = {item_key(i, keys) for i in applied}
            return out + [i for i in current if item_key(i, keys) not in applied_keys]
    return copy.deepcopy(applied)


def apply(current: dict | None, config: dict, manager: str, api_version: str, force: bool = False) -> dict:
    """The object after server-side apply of `config` by `manager` (raises Conflicts); the result has its
    managedFields set (server fields are left to the caller)."""
    config = strip_none(copy.deepcopy(config))
    config.setdefault("metadata", {}).pop("managedFields", None)
    applied = fields(config)
    if current is None:
        new = config
        entries: list[dict] = []
    else:
        entries = _entries(current)
        mine = next((e for e in entries if _same_entry(e, manager, "Apply", None)), None)
        others = [e for e in entries if e is not mine]
        conflicts = []
        for path in sorted(leaves(applied)):
            value = get(current, path)
            if value is _MISSING or value == get(config, path):
                continue
            for e in others:
                if path in e["_fields"]:
                    conflicts.append((e["manager"], e.get("apiVersion", api_version), path))
        if conflicts and not force:
            raise Conflicts(conflicts)
        for _, _, path in conflicts:  # forced: the applier takes them over
            for e in others:
                e["_fields"].discard(path)
        new = copy.deepcopy(current)
        new.setdefault("metadata", {}).pop("managedFields", None)
        dropped = (mine["_fields"] if mine else set()) - applied
        kept_by_others = set().union(*(e["_fields"] for e in others)) if others else set()
        for path in sorted(dropped, key=len):  # items before their fields
            if path not in kept_by_others and not any(p[:len(path)] == path for p in kept_by_others):
                remove(new, path)
        new = merge(new, config)
    previous = next((e for e in entries if _same_entry(e, manager, "Apply", None)), None)
    changed = current is None or _strip_managed(new) != _strip_managed(current) or \
        previous is None or previous["_fields"] != applied
    _put_entry(entries, previous, manager, "Apply", api_version, None, applied, changed=changed)
    new.setdefault("metadata", {})["managedFields"] = _render(entries, fields(new))
    return new


def _strip_managed(obj: dict) -> dict:
    return {**obj, "metadata": {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}}


def comparable(managed: list | None) -> list:
    """managedFields without their timestamps (a no-op write must not look like a change)."""
    return [{k: v for k, v in e.items() if k != "time"} for e in managed or []]

"""List the AWS API actions the collection calls, as IAM action names, grouped by role and by module (JSON on stdout).

    .venv/bin/python scripts/aws_actions.py [--module FQCN ...]

The raw input for an operator policy (not the policy). Sources:
- the AWS modules each role's tasks and handlers use (edgeml.wavelength.*, amazon.aws.*, community.aws.*);
- for each module, the boto3 client calls in its Python source and in the functions it reaches in its collection's
  module_utils: `<client>.<method>(...)` and method names as string constants (`get_paginator("<method>")`,
  `self.call("...", "<method>")`, `getattr(client, "<method>")`), for the services it opens clients for
  (`module.client("<service>")`). Reachability is by name, so a shared helper's calls
  count for every module that calls a function of that name (an over-approximation, never an omission of a direct
  call). Method names become operations via botocore's service models, operations become IAM actions as the lab's
  enforcement names them (lab/edgelab/aws/iam_actions.py: S3's action names, iam:PassRole where AWS checks it).
Not seen: calls made through a boto3 resource, through names built at run time, or by collections' lookup/action
plugins; the edgeml node agent's calls (lab/edgelab/nodes) are not the collection's.
"""

import argparse
import ast
import json
import re
import sys
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

from edgelab.aws.iam_actions import action, implied

MODULE_RE = re.compile(r"^\s*-?\s*((?:edgeml\.wavelength|amazon\.aws|community\.aws)\.\w+):", re.MULTILINE)


def collection_root(namespace: str, name: str) -> Path | None:
    if (namespace, name) == ("edgeml", "wavelength"):
        return REPO
    for base in [REPO / ".collections", *map(Path, sys.path)]:
        root = base / "ansible_collections" / namespace / name
        if (root / "plugins").is_dir():
            return root
    return None


@cache
def methods(service: str) -> dict[str, str]:
    """boto3 method name -> API operation name, for a boto3 client name (ec2, s3, eks, ...)."""
    import botocore.session
    from botocore import xform_name
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


@cache
def signing_name(service: str) -> str:
    import botocore.session
    return botocore.session.get_session().get_service_model(service).signing_name


class Defs:
    """Functions and methods of a set of files: name -> (called names, attribute calls, string constants, clients)."""

    def __init__(self) -> None:
        self.funcs: dict[str, list] = {}

    def add(self, path: Path) -> list[str]:
        tree = ast.parse(path.read_text())
        names = []
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                called, attrs, strings, clients = set(), set(), set(), set()
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Call):
                        func = sub.func
                        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(
                            func, ast.Attribute) else None
                        if name:
                            called.add(name)
                            if isinstance(func, ast.Attribute):
                                attrs.add(name)
                        first = sub.args[0] if sub.args else None
                        if name in ("client", "boto3_conn") and isinstance(first, ast.Constant):
                            clients.add(first.value)
                        for kw in sub.keywords:
                            if name == "boto3_conn" and kw.arg == "resource" and isinstance(kw.value, ast.Constant):
                                clients.add(kw.value.value)
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        strings.add(sub.value)  # get_paginator("..."), getattr(client, "...") and call("...")
                self.funcs.setdefault(node.name, []).append((called, attrs, strings, clients))
                names.append(node.name)
        # module-level constants (lists of method names a loop calls); documentation strings never equal a name
        consts = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        self.funcs.setdefault(f"<module {path}>", []).append((set(), set(), consts, set()))
        names.append(f"<module {path}>")
        return names


def module_utils_files(path: Path, root: Path, collection: str, seen: set[Path]) -> None:
    """The collection's module_utils files `path` imports, transitively (collection: "namespace.name")."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and "module_utils" in node.module:
            rel = node.module.split("module_utils", 1)[1].strip(".").replace(".", "/")
            same = node.level or node.module.startswith(f"ansible_collections.{collection}.")
            if not same:
                continue
            candidates = [root / "plugins/module_utils" / f"{rel}.py"] if rel else []
            candidates += [root / "plugins/module_utils" / rel / f"{a.name}.py" for a in node.names]
            for c in candidates:
                if c.is_file() and c not in seen:
                    seen.add(c)
                    module_utils_files(c, root, collection, seen)


def module_actions(fqcn: str) -> list[str] | None:
    namespace, name, module = fqcn.split(".")
    root = collection_root(namespace, name)
    path = root / "plugins/modules" / f"{module}.py" if root else None
    if not path or not path.is_file():
        return None
    defs, utils = Defs(), set()
    start = defs.add(path)
    module_utils_files(path, root, f"{namespace}.{name}", utils)
    for util in sorted(utils):
        defs.add(util)
    reached, todo = set(), list(start)
    while todo:
        fn = todo.pop()
        if fn in reached or fn not in defs.funcs:
            continue
        reached.add(fn)
        todo += [c for called, *_ in defs.funcs[fn] for c in called]
    entries = [e for fn in reached for e in defs.funcs[fn]]
    clients = {c for *_, cs in entries for c in cs}
    out = set()
    for service in clients:
        known = methods(service)
        for _, attrs, strings, _ in entries:
            for method in (attrs | strings) & set(known):
                out.add(action(signing_name(service), known[method]))
                out.update(implied(signing_name(service), known[method]))
    return sorted(out)


def role_modules(role: Path) -> list[str]:
    found = set()
    for sub in ("tasks", "handlers"):
        for f in sorted((role / sub).rglob("*.yml")) if (role / sub).is_dir() else []:
            found.update(MODULE_RE.findall(f.read_text()))
    return sorted(found)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", help="only these modules (FQCN)")
    args = parser.parse_args(argv)
    if args.module:
        print(json.dumps({m: module_actions(m) for m in args.module}, indent=2))
        return
    roles = {r.name: role_modules(r) for r in sorted((REPO / "roles").iterdir()) if r.is_dir()}
    ours = [f"edgeml.wavelength.{p.stem}" for p in sorted((REPO / "plugins/modules").glob("*.py"))]
    modules = {m: module_actions(m) for m in sorted({*ours, *(m for ms in roles.values() for m in ms)})}
    out = {
        "roles": {role: {"modules": ms, "actions": sorted({a for m in ms for a in modules[m] or []})}
                  for role, ms in roles.items() if ms},
        "modules": {m: a for m, a in modules.items() if a is not None},
        "not_found": sorted(m for m, a in modules.items() if a is None),
        "all": sorted({a for acts in modules.values() for a in acts or []}),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

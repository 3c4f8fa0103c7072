#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: k8s_objects
short_description: Read Kubernetes objects of several kinds in one call
version_added: 0.1.0
description:
  - Lists (or gets by name) the objects of each query, in one module run - where a loop of
    M(kubernetes.core.k8s_info) starts the Kubernetes client once per kind. The roles read several kinds at a time
    (Nodes and Pods, a deployment's Deployments, Services and NetworkPolicies) and poll in waits, so this saves a
    client start per kind and poll.
  - Plain REST reads (C(GET), with C(labelSelector) and C(limit)/C(continue) pages); the resource of a kind comes
    from the API's discovery document of its group version. Every object carries C(kind) and C(apiVersion), as
    M(kubernetes.core.k8s_info) returns them.
  - Connects with the same parameters as the C(kubernetes.core) modules - a kubeconfig file (token, token file, exec
    credential plugin such as the one M(edgeml.wavelength.eks_kubeconfig) writes, or client certificate) or
    O(connection.host) with O(connection.api_key). Reads only, so it runs the same way in check mode.
author:
  - edgeml team
options:
  connection:
    description: Where and how to connect (the C(kubernetes.core) connection parameters the roles pass around).
    type: dict
    required: true
    suboptions:
      kubeconfig:
        description: Path of a kubeconfig file (its current context). Used when O(connection.host) is not set.
        type: path
      context:
        description: Context of the kubeconfig to use instead of its current context.
        type: str
      host:
        description: API server URL.
        type: str
      api_key:
        description: Bearer token for O(connection.host).
        type: str
      ca_cert:
        description: CA bundle that signed the API server's certificate (default - the system's).
        type: path
      validate_certs:
        description: Verify the API server's certificate.
        type: bool
        default: true
      client_cert:
        description: Client certificate for O(connection.host) (with O(connection.client_key)).
        type: path
      client_key:
        description: Key of O(connection.client_cert).
        type: path
  queries:
    description: What to read; RV(results) has one entry per query, in this order.
    type: list
    elements: dict
    required: true
    suboptions:
      api_version:
        description: C(v1) or C(<group>/<version>).
        type: str
        default: v1
      kind:
        description: Kind, for example C(Node), C(Pod), C(Deployment).
        type: str
        required: true
      namespace:
        description: Namespace of namespaced kinds; empty means all namespaces.
        type: str
        default: ""
      name:
        description: Get this object only (RV(results[].resources) is empty when it does not exist).
        type: str
        default: ""
      label_selectors:
        description: Label selectors, ANDed (C(key=value), C(key), C(!key), C(key in (a,b)), ...).
        type: list
        elements: str
        default: []
  timeout:
    description: Seconds to wait for each API response.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: The Ready nodes and this deployment's pods, in one call
  edgeml.wavelength.k8s_objects:
    connection: {kubeconfig: "{{ kube.path }}"}
    queries:
      - {kind: Node, label_selectors: ["topology.kubernetes.io/zone"]}
      - {kind: Pod, namespace: edge, label_selectors: ["edgeml.io/deployment=edgeml"]}
  register: found
# found.results[0].resources: the Nodes; found.results[1].resources: the Pods
"""

RETURN = r"""
results:
  description: One entry per query, in the order of O(queries).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The query's kind.
      type: str
    resources:
      description: The objects found (each with C(kind) and C(apiVersion)).
      type: list
      elements: dict
"""

import base64
import json
import os
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible.module_utils.basic import AnsibleModule

try:
    import yaml
except ImportError:  # a kubeconfig in JSON needs no YAML parser
    yaml = None


class KubeError(Exception):
    pass


def load_kubeconfig(path, context_name=None):
    """(server, ssl context, token) of a kubeconfig's context."""
    with open(path) as f:
        text = f.read()
    try:
        config = json.loads(text)
    except ValueError:
        if yaml is None:
            raise KubeError(f"kubeconfig {path} is not JSON and PyYAML is not installed") from None
        config = yaml.safe_load(text)
    base = os.path.dirname(os.path.abspath(path))

    def named(section, name):
        for entry in config.get(section) or []:
            if entry.get("name") == name:
                return entry.get(section[:-1]) or {}
        raise KubeError(f"kubeconfig {path} has no {section[:-1]} named {name!r}")

    context = named("contexts", context_name or config.get("current-context"))
    cluster, user = named("clusters", context.get("cluster")), named("users", context.get("user"))
    temporary = []  # certificate and key data written out for ssl, removed once loaded
    try:
        ctx = tls_context(file_or_data(cluster, "certificate-authority", base, temporary),
                          not cluster.get("insecure-skip-tls-verify", False))
        cert = file_or_data(user, "client-certificate", base, temporary)
        key = file_or_data(user, "client-key", base, temporary)
        if cert and key:
            ctx.load_cert_chain(cert, key)
    finally:
        for name in temporary:
            os.unlink(name)
    token = user.get("token")
    if not token and user.get("tokenFile"):
        with open(os.path.join(base, user["tokenFile"])) as f:
            token = f.read().strip()
    if not token and user.get("exec"):
        token = exec_token(user["exec"], path)
    if not token and not (cert and key):
        raise KubeError(f"kubeconfig {path}: user {context.get('user')!r} has no token, token file, exec plugin or "
                        "client certificate this module can use")
    return cluster.get("server"), ctx, token


def file_or_data(section, key, base, temporary):
    """A file path for section[key], or for section[key-data] written to a private temporary file (its path is
    appended to temporary)."""
    if section.get(key):
        return os.path.join(base, section[key])
    if section.get(f"{key}-data"):
        fd, path = tempfile.mkstemp(prefix="edgeml-kube-")  # mode 0600
        temporary.append(path)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(section[f"{key}-data"]))
        return path
    return None


def exec_token(spec, path):
    """The token an exec credential plugin prints (client.authentication.k8s.io ExecCredential)."""
    env = os.environ | {e["name"]: e["value"] for e in spec.get("env") or []}
    proc = subprocess.run([spec["command"], *(spec.get("args") or [])], capture_output=True, text=True, env=env,
                          check=False, timeout=120)
    if proc.returncode != 0:
        raise KubeError(f"kubeconfig {path}: its exec plugin {spec['command']} failed: {proc.stderr.strip()[-500:]}")
    try:
        return json.loads(proc.stdout)["status"]["token"]
    except (ValueError, KeyError, TypeError):
        raise KubeError(f"kubeconfig {path}: its exec plugin {spec['command']} printed no ExecCredential token") from None


def tls_context(ca_file, verify):
    ctx = ssl.create_default_context(cafile=ca_file) if verify else ssl._create_unverified_context()  # noqa: S323
    if verify:
        ctx.check_hostname = True
    return ctx


class Client:
    def __init__(self, server, ctx, token, timeout):
        self.server, self.ctx, self.token, self.timeout = server.rstrip("/"), ctx, token, timeout
        self.resources = {}

    def get(self, path, query=None, missing_ok=False):
        url = self.server + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(4):
            try:
                request = urllib.request.Request(url, headers=headers)  # noqa: S310 (https or http only: connect())
                with urllib.request.urlopen(request, timeout=self.timeout, context=self.ctx) as reply:  # noqa: S310
                    return json.loads(reply.read())
            except urllib.error.HTTPError as e:
                if e.code == 404 and missing_ok:
                    return None
                if e.code not in (429, 500, 502, 503, 504) or attempt == 3:
                    body = e.read().decode(errors="replace")[:500]
                    raise KubeError(f"GET {url}: HTTP {e.code} {body}") from None
            except (urllib.error.URLError, OSError) as e:
                if attempt == 3:
                    raise KubeError(f"GET {url}: {getattr(e, 'reason', e)}") from None
            time.sleep(0.5 * 2 ** attempt)
        raise KubeError(f"GET {url}: no answer")  # not reached

    def resource(self, api_version, kind):
        """(URL path of the group version, resource name, namespaced) of a kind, from discovery."""
        prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if prefix not in self.resources:
            found = self.get(prefix, missing_ok=True)
            self.resources[prefix] = {r["kind"]: r for r in (found or {}).get("resources", []) if "/" not in r["name"]}
        entry = self.resources[prefix].get(kind)
        if not entry:
            raise KubeError(f"the API server has no kind {kind} in {api_version}")
        return prefix, entry["name"], entry.get("namespaced", False)

    def read(self, query):
        prefix, plural, namespaced = self.resource(query["api_version"], query["kind"])
        path = prefix + (f"/namespaces/{query['namespace']}" if namespaced and query["namespace"] else "") + f"/{plural}"
        typed = {"kind": query["kind"], "apiVersion": query["api_version"]}
        if query["name"]:
            found = self.get(f"{path}/{query['name']}", missing_ok=True)
            return [typed | found] if found else []
        items, params = [], {"limit": "500"}
        if query["label_selectors"]:
            params["labelSelector"] = ",".join(query["label_selectors"])
        while True:
            page = self.get(path, params)
            items += [typed | item for item in page.get("items") or []]
            params["continue"] = (page.get("metadata") or {}).get("continue")
            if not params["continue"]:
                return items


def connect(connection, timeout):
    client = connect_to(connection, timeout)
    if urllib.parse.urlsplit(client.server).scheme not in ("https", "http"):
        raise KubeError(f"the API server URL {client.server!r} is not an https URL")
    return client


def connect_to(connection, timeout):
    if connection.get("host"):
        ctx = tls_context(connection.get("ca_cert"), connection.get("validate_certs", True))
        if connection.get("client_cert") and connection.get("client_key"):
            ctx.load_cert_chain(connection["client_cert"], connection["client_key"])
        return Client(connection["host"], ctx, connection.get("api_key"), timeout)
    if not connection.get("kubeconfig"):
        raise KubeError("connection needs host (with api_key) or kubeconfig")
    server, ctx, token = load_kubeconfig(connection["kubeconfig"], connection.get("context"))
    return Client(server, ctx, token, timeout)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection=dict(type="dict", required=True, options=dict(
                kubeconfig=dict(type="path"),
                context=dict(type="str"),
                host=dict(type="str"),
                api_key=dict(type="str", no_log=True),
                ca_cert=dict(type="path"),
                validate_certs=dict(type="bool", default=True),
                client_cert=dict(type="path"),
                client_key=dict(type="path"),
            )),
            queries=dict(type="list", elements="dict", required=True, options=dict(
                api_version=dict(type="str", default="v1"),
                kind=dict(type="str", required=True),
                namespace=dict(type="str", default=""),
                name=dict(type="str", default=""),
                label_selectors=dict(type="list", elements="str", default=[]),
            )),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    try:
        client = connect(module.params["connection"], module.params["timeout"])
        results = [dict(kind=q["kind"], resources=client.read(q)) for q in module.params["queries"]]
    except (KubeError, OSError, ssl.SSLError) as e:
        module.fail_json(msg=f"cannot read from the Kubernetes API: {e}")
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()

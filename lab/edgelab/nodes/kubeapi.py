"""Minimal REST client for the lab Kubernetes API (kmock): list, get, create-or-patch, delete.

It authenticates with the lab-only admin token and verifies TLS with the lab CA (both from config.KUBE_STATE_DIR).
"""

from edgelab import config, kube

PATHS = {  # kind -> (api prefix, plural, namespaced)
    "Node": ("/api/v1", "nodes", False),
    "Pod": ("/api/v1", "pods", True),
    "Service": ("/api/v1", "services", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "Job": ("/apis/batch/v1", "jobs", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
}
MERGE = {"Content-Type": "application/merge-patch+json"}


class Kube:
    def __init__(self, url: str = config.KUBE_URL):
        self.url = url
        self.http = kube.admin_server(url).session()

    def _path(self, kind: str, namespace: str | None = None, name: str | None = None) -> str:
        prefix, plural, namespaced = PATHS[kind]
        path = f"{self.url}{prefix}"
        if namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{plural}"
        return f"{path}/{name}" if name else path

    def list(self, kind: str) -> list[dict]:
        resp = self.http.get(self._path(kind), timeout=5)
        resp.raise_for_status()
        return resp.json().get("items", [])

    def apply(self, obj: dict, current: dict | None) -> None:
        """Create `obj`, or merge-patch it over `current` (kmock merges dicts and replaces lists)."""
        meta = obj["metadata"]
        if current is None:
            resp = self.http.post(self._path(obj["kind"], meta.get("namespace")), json=obj, timeout=5)
        else:
            resp = self.http.patch(self._path(obj["kind"], meta.get("namespace"), meta["name"]), json=obj,
                                   headers=MERGE, timeout=5)
        resp.raise_for_status()

    def patch_status(self, kind: str, namespace: str | None, name: str, status: dict) -> None:
        resp = self.http.patch(self._path(kind, namespace, name) + "/status", json={"status": status},
                               headers=MERGE, timeout=5)
        resp.raise_for_status()

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        resp = self.http.delete(self._path(kind, namespace, name), timeout=5)
        if resp.status_code != 404:
            resp.raise_for_status()

"""Unit tests of edgeml.wavelength.k8s_validate: offline schema validation of rendered manifests."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

MODULE_PATH = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "k8s_validate.py"
spec = importlib.util.spec_from_file_location("k8s_validate", MODULE_PATH)
k8s_validate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(k8s_validate)

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "sentiment-bos", "namespace": "edgeml"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "sentiment"}},
        "template": {
            "metadata": {"labels": {"app": "sentiment"}},
            "spec": {
                "containers": [
                    {
                        "name": "model",
                        "image": "127.0.0.1:5002/edgeml/sentiment@sha256:" + "a" * 64,
                        "readinessProbe": {"httpGet": {"path": "/ping", "port": 8080}},
                    }
                ]
            },
        },
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "sentiment", "namespace": "edgeml"},
    "spec": {"type": "NodePort", "selector": {"app": "sentiment"}, "ports": [{"port": 8080, "nodePort": 30007}]},
}


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        k8s_validate.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def test_valid_manifests_pass(capsys):
    rc, result = run(capsys, manifests=[DEPLOYMENT, SERVICE], kubernetes_version="1.33")
    assert rc == 0
    assert result["changed"] is False
    assert result["schema_version"] == "1.33"
    assert result["validated"] == ["Deployment/edgeml/sentiment-bos", "Service/edgeml/sentiment"]
    assert result["errors"] == []


def test_unknown_field_fails_with_manifest_name_and_path(capsys):
    bad = copy.deepcopy(DEPLOYMENT)
    container = bad["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")  # the typo strict mode exists for
    rc, result = run(capsys, manifests=[SERVICE, bad], kubernetes_version="1.33")
    assert rc == 1
    assert result["failed"] is True
    assert result["validated"] == ["Service/edgeml/sentiment"]
    [error] = result["errors"]
    assert error["manifest"] == "Deployment/edgeml/sentiment-bos"
    assert error["path"] == "spec.template.spec.containers.0"
    assert "readinesProbe" in error["message"]
    assert "Deployment/edgeml/sentiment-bos: spec.template.spec.containers.0" in result["msg"]


def test_wrong_type_fails_even_when_not_strict(capsys):
    bad = copy.deepcopy(SERVICE)
    bad["spec"]["ports"][0]["nodePort"] = "thirty"
    rc, result = run(capsys, manifests=[bad], kubernetes_version="1.33", strict=False)
    assert rc == 1
    assert result["errors"][0]["path"] == "spec.ports.0.nodePort"


def test_each_invalid_document_is_reported(capsys):
    bad_service = copy.deepcopy(SERVICE)
    bad_service["spec"]["externalTrafficPolicies"] = "Local"
    bad_deployment = copy.deepcopy(DEPLOYMENT)
    del bad_deployment["spec"]["selector"]
    rc, result = run(capsys, manifests=[bad_deployment, bad_service], kubernetes_version="1.33")
    assert rc == 1
    assert [e["manifest"] for e in result["errors"]] == ["Deployment/edgeml/sentiment-bos", "Service/edgeml/sentiment"]
    assert "selector" in result["errors"][0]["message"]


def test_unknown_kind_fails_unless_allowed(capsys):
    crd = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    rc, result = run(capsys, manifests=[crd], kubernetes_version="1.33")
    assert rc == 1 and "Couldn't find schema for kind Widget" in result["msg"]
    rc, result = run(capsys, manifests=[crd], kubernetes_version="1.33", allow_unknown_kinds=True)
    assert rc == 0 and result["validated"] == ["Widget/w"]


def test_unsupported_version_is_a_clear_error(capsys):
    rc, result = run(capsys, manifests=[SERVICE], kubernetes_version="1.99")
    assert rc == 1
    assert "no schemas for Kubernetes 1.99" in result["msg"]

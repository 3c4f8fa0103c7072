"""plugins/filter/model_errors.py: every input of the model and zone lists that can be checked before anything is
written, and the role task that asserts it (roles/model_artifacts/tasks/models.yml, run by the preflight)."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.model_errors import KEYS, model_errors
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.quantity import quantity as _quantity

REPO = Path(__file__).resolve().parents[2]
BOS, NYC = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1"
PORT = 30007


def model(name="sentiment", **keys):
    return {"name": name, "model_id": "edgeml-tc-minilm-l6-sentiment-int8", **keys}


def errors(models, default=PORT, zones=(BOS,), **kwargs):
    return model_errors(models, default, list(zones), **kwargs)


def one(models, **kwargs):
    [error] = errors(models, **kwargs)
    return error


# --- what ships passes ---------------------------------------------------------------------------------------------


def test_product_defaults_pass():
    defaults = yaml.safe_load((REPO / "roles" / "edge" / "defaults" / "main.yml").read_text())
    assert model_errors(defaults["edge_models"], defaults["edge_default_node_port"], defaults["edge_zones"],
                        deployment=defaults["edge_name"]) == []


def test_lab_inventory_passes():
    lab = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all" / "10_lab.yml").read_text())
    assert errors(lab["edge_models"], zones=[BOS, NYC], deployment="edgeml") == []


def test_every_key_the_roles_read():
    full = model(model_version="1.0.0", instance_type="g4dn.xlarge", accept_eula=True, allow_deprecated=False,
                 inference_config="onnx-int8", node_port=30008, replicas_per_zone=2, security_profile="root",
                 startup_seconds=600,
                 resources={"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
                 samples=[{"text": "A fine film.", "expected_label": "positive"}, {"text": "Dull."}])
    assert set(full) == set(KEYS)
    assert errors([full, model("other")]) == []


@pytest.mark.parametrize(("extra", "message"), [
    ({"security_profile": "admin"}, "(name 'sentiment').security_profile is 'admin': set nonroot or root"),
    ({"startup_seconds": 5}, "(name 'sentiment').startup_seconds is 5: set the seconds the model may take"),
    ({"startup_seconds": "soon"}, "startup_seconds is 'soon'"),
])
def test_container_settings(extra, message):
    [error] = errors([model(**extra)])
    assert message in error, error


# --- node ports ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [30000, 32767, "30008", 31000])
def test_node_port_ok(port):
    assert errors([model(node_port=port)]) == []


@pytest.mark.parametrize("port", [99999, 29999, 32768, 0, -30007, "http", "30 008", True, 30007.5, [30007], {}])
def test_node_port_out_of_range_or_not_a_number(port):
    assert one([model(), model("b", node_port=port)]) == (
        f"edge_models[1] (name 'b').node_port is {port!r}: set a NodePort in 30000-32767, a different one for "
        f"each model")


def test_two_models_on_one_port():
    assert one([model("a", node_port=30010), model("b", node_port=30010)]) == (
        "edge_models[1] (name 'b').node_port 30010 is also the node port of edge_models[0] (name 'a'): give every "
        "model its own node port in 30000-32767 (30011 is free)")


def test_a_port_given_as_a_string_is_the_same_port():
    assert "is also the node port of edge_models[0]" in one([model("a", node_port=30010),
                                                            model("b", node_port="30010")])


def test_models_without_node_port_count_the_default_port():
    assert one([model("a"), model("b", node_port=30007)]) == (
        "edge_models[1] (name 'b').node_port 30007 is also the node port of edge_models[0] (name 'a'), which gets "
        "edge_default_node_port: give every model its own node port in 30000-32767 (30008 is free)")
    assert one([model("a", node_port=30007), model("b")], default=30007) == (
        "edge_models[1] (name 'b') has no node_port, so it gets edge_default_node_port 30007, which is also the node "
        "port of edge_models[0] (name 'a'): give every model its own node port in 30000-32767 (30008 is free)")
    assert "edge_models[1] (name 'b') has no node_port" in one([model("a"), model("b")])


def test_each_collision_gets_its_own_free_port():
    out = errors([model("a", node_port=30010), model("b", node_port=30010), model("c", node_port=30010),
                  model("d", node_port=30011)])
    assert [e.rsplit("(", 1)[1] for e in out] == ["30012 is free)", "30013 is free)"]


def test_default_node_port_is_checked_when_used():
    assert one([model("a")], default=99999) == (
        "edge_default_node_port is 99999, the node port of edge_models[0] (name 'a'), which has no node_port: set "
        "edge_default_node_port to a port in 30000-32767, or give the model a node_port")
    assert errors([model("a", node_port=30008)], default=99999) == []  # not used
    assert errors([model("a")], default="30009") == []


# --- names ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fix"), [
    ("Sentiment", " (such as sentiment)"),
    ("sentiment_v2", " (such as sentiment-v2)"),
    ("2sentiment", " (such as sentiment)"),
    ("sentiment-", " (such as sentiment)"),
    ("-", ""),
    ("sentiment.v2", " (such as sentiment-v2)"),
    (42, ""),
])
def test_bad_name(name, fix):
    assert one([model(name)]) == (
        f"edge_models[0].name {name!r} is not a DNS-1123 label that starts with a letter: lowercase letters, digits "
        f"and hyphens, ending with a letter or digit{fix}")


@pytest.mark.parametrize("keys", [{"name": None}, {"name": ""}, {}])
def test_missing_name(keys):
    entry = {"model_id": "m", **keys}
    assert one([entry]) == ("edge_models[0].name is missing: give the model a name, a DNS-1123 label that starts with "
                            "a letter: lowercase letters, digits and hyphens, ending with a letter or digit (such as "
                            "sentiment)")


def test_duplicate_names():
    assert one([model("a", node_port=30010), model("a", node_port=30011)]) == (
        "edge_models[1] (name 'a').name is also the name of edge_models[0]: give every model its own name")


def test_name_length_follows_the_longest_derived_name():
    zone = BOS  # 23 characters: <name>-<zone>-<generation of 8> fits 63 with a name of 30
    assert errors([model("a" * 30)], zones=[zone]) == []
    assert one([model("a" * 31)], zones=[zone, "z"]) == (
        f"edge_models[0].name '{'a' * 31}' has 31 characters, more than the 30 that fit because its Deployment "
        f"<name>-{zone}-<generation> must fit in 63 characters: use a shorter name")
    deployment = "d" * 30  # <deployment>-<name> fits 63 with a name of 32
    assert errors([model("a" * 32)], zones=["z"], deployment=deployment) == []
    assert one([model("a" * 33)], zones=["z"], deployment=deployment) == (
        f"edge_models[0].name '{'a' * 33}' has 33 characters, more than the 32 that fit because its label value "
        f"{deployment}-<name> (app.kubernetes.io/instance) must fit in 63 characters: use a shorter name")
    assert errors([model("a" * 64)], zones=[])[1].endswith(
        "has 64 characters, more than the 63 that fit because a model name is a DNS label: use a shorter name")


# --- other keys ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", [None, "", "  ", True, ["m"]])
def test_model_id_required(model_id):
    entry = {"name": "a", **({} if model_id is None else {"model_id": model_id})}
    problem = "is missing" if model_id is None else f"is {model_id!r}"
    assert one([entry]) == (f"edge_models[0] (name 'a').model_id {problem}: set the JumpStart model id (such as "
                            f"tensorflow-tc-bert-en-uncased-L-12-H-768-A-12-2)")


def test_model_version_and_instance_type():
    assert errors([model(model_version="*"), ]) == []
    assert errors([model(model_version=2)]) == []  # YAML reads 2 as a number; the export takes it as "2"
    assert one([model(model_version="")]).startswith("edge_models[0] (name 'sentiment').model_version is '': set a "
                                                       "JumpStart model version or pattern")
    assert one([model(instance_type=["g4dn.xlarge"])]).startswith(
        "edge_models[0] (name 'sentiment').instance_type is ['g4dn.xlarge']: set an EC2 instance type")


@pytest.mark.parametrize(("key", "hint"), [
    ("nodeport", "did you mean node_port? "),
    ("nodePort", "did you mean node_port? "),
    ("replicas", "did you mean replicas_per_zone? "),
    ("sample", "did you mean samples? "),
    ("image", ""),
    ("acceptEula", "did you mean accept_eula? "),
    ("allow_deprecation", "did you mean allow_deprecated? "),
    ("inference_configuration", "did you mean inference_config? "),
])
def test_unknown_key(key, hint):
    assert one([model(**{key: 1})]) == (
        f"edge_models[0] (name 'sentiment') has the unknown key {key!r}: {hint}a model has name, model_id, "
        f"model_version, instance_type, accept_eula, allow_deprecated, inference_config, node_port, "
        f"replicas_per_zone, resources, security_profile, startup_seconds, samples")


@pytest.mark.parametrize("replicas", [1, 3, "2"])
def test_replicas_ok(replicas):
    assert errors([model(replicas_per_zone=replicas)]) == []


@pytest.mark.parametrize("replicas", [0, -1, "two", True, 1.5, [1]])
def test_replicas_at_least_one(replicas):
    assert one([model(replicas_per_zone=replicas)]) == (
        f"edge_models[0] (name 'sentiment').replicas_per_zone is {replicas!r}: set it to a whole number of at least 1 "
        f"(the model's pods in each zone), or leave it out for 1")


# --- resources -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("500m", "0.5"), ("2", "2"), ("1Gi", "1073741824"), ("512Mi", "536870912"), ("1e3", "1000"), ("1.5", "1.5"),
    ("1k", "1000"), (".5", "0.5"), ("1E-3", "0.001"), (2, "2"), (0.25, "0.25"),
])
def test_quantity(text, value):
    assert _quantity(text) == Decimal(value)


@pytest.mark.parametrize("text", ["1GB", "1gi", "", "cpu", "1 Gi", "Mi", "1.2.3", True, None, "1e", float("nan")])
def test_not_a_quantity(text):
    assert _quantity(text) is None


def test_resources_ok():
    assert errors([model(resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m",
                                                                                        "memory": "1024Mi"}})]) == []
    assert errors([model(resources={"limits": {"cpu": 2, "nvidia.com/gpu": 1}})]) == []
    assert errors([model(resources={"requests": {"memory": "256Mi", "ephemeral-storage": "1Gi"}})]) == []
    assert errors([model(resources={})]) == []


@pytest.mark.parametrize(("resources", "error"), [
    ({"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}},
     ".resources.requests.cpu 2 is more than its limit 500m: lower the request or raise the limit"),
    ({"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}},
     ".resources.requests.memory 1Gi is more than its limit 512Mi: lower the request or raise the limit"),
    ({"requests": {"memory": "1GB"}},
     ".resources.requests.memory is '1GB', not a Kubernetes quantity: write it like 500m or 2 (cpu), 512Mi or 1Gi "
     "(memory)"),
    ({"limits": {"cpu": "-1"}},
     ".resources.limits.cpu is '-1', not a Kubernetes quantity: write it like 500m or 2 (cpu), 512Mi or 1Gi (memory)"),
    ({"requests": {"cpus": "1"}},
     ".resources.requests has the unknown resource 'cpus': did you mean cpu? use cpu, memory, ephemeral-storage, "
     "hugepages-<size> or an extended resource such as nvidia.com/gpu"),
    ({"limit": {"cpu": "1"}},
     ".resources has the unknown key 'limit': did you mean limits? only requests and limits are used"),
    ({"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}},
     ".resources.requests.nvidia.com/gpu 1 differs from its limit 2: nvidia.com/gpu cannot be overcommitted, set the "
     "request equal to the limit"),
    ("500m",
     ".resources is '500m': write it as Kubernetes container resources, such as {requests: {cpu: 500m, memory: "
     "512Mi}, limits: {cpu: '2', memory: 1Gi}}"),
    ({"requests": ["cpu"]},
     ".resources.requests is ['cpu']: write it as Kubernetes container resources, such as {requests: {cpu: 500m, "
     "memory: 512Mi}, limits: {cpu: '2', memory: 1Gi}}"),
])
def test_bad_resources(resources, error):
    assert one([model(resources=resources)]) == "edge_models[0] (name 'sentiment')" + error


# --- samples -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("samples", "error"), [
    ([], ".samples is []: give a non-empty list of {text, expected_label} (expected_label optional), or leave "
         "samples out for endpoint_check_samples"),
    ("A fine film.", ".samples is 'A fine film.': give a non-empty list of {text, expected_label} (expected_label "
                     "optional), or leave samples out for endpoint_check_samples"),
    ([{"expected_label": "positive"}], ".samples[0].text is None: set the text sent to the model"),
    ([{"text": "x", "label": "positive"}],
     ".samples[0] has the unknown key 'label': a sample has text and optionally expected_label"),
    ([{"text": "x", "expected_label": 1}],
     ".samples[0].expected_label is 1: set the label the model must answer, as a string, or leave it out to check "
     "only the answer's form"),
])
def test_bad_samples(samples, error):
    assert one([model(samples=samples)]) == "edge_models[0] (name 'sentiment')" + error


# --- the lists themselves ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("zones", "error"), [
    ([], "edge_zones is empty: list at least one Wavelength zone, such as us-east-1-wl1-bos-wlz-1"),
    ([BOS, NYC, BOS], f"edge_zones[2] {BOS} is listed twice (also edge_zones[0]): list each zone once"),
    ([BOS, ""], "edge_zones[1] is '', not a zone name: write the zone's name, such as us-east-1-wl1-bos-wlz-1"),
    ([BOS, 7], "edge_zones[1] is 7, not a zone name: write the zone's name, such as us-east-1-wl1-bos-wlz-1"),
    (BOS, f"edge_zones must be a list of Wavelength zone names, got '{BOS}': write it as a YAML list, such as "
          f"[us-east-1-wl1-bos-wlz-1]"),
])
def test_bad_zones(zones, error):
    assert model_errors([model()], PORT, zones) == [error]


def test_bad_model_lists():
    assert errors([]) == ["edge_models is empty: list at least one model (name and model_id)"]
    assert errors({"name": "a"}) == ["edge_models must be a list of models, got {'name': 'a'}: write it as a YAML "
                                     "list of {name, model_id, ...}"]
    assert errors([model(), "other"]) == ["edge_models[1] is 'other', not a model: write it as a dict with name and "
                                          "model_id"]


def test_every_error_at_once_each_naming_its_input():
    out = errors([model("A", nodeport=30008, replicas_per_zone=0), model("b", node_port=99999),
                  model("c", node_port=30007), model("c", node_port=30009)], zones=[BOS, BOS])
    assert len(out) == 7  # zone twice; A: name, unknown key, replicas; b: port; c: port taken; c: name taken
    assert all(e.startswith(("edge_models[", "edge_zones[")) for e in out), out


def test_variable_names():
    out = model_errors([model("a")], 99999, [], variable="model_artifacts_models", zones_variable="my_zones",
                       default_node_port_variable="my_port")
    assert out[0].startswith("my_zones is empty") and out[1].startswith("my_port is 99999, the node port of "
                                                                        "model_artifacts_models[0] (name 'a')")


@pytest.mark.parametrize("kwargs", [{"deployment": None}, {"variable": 1}, {"zones_variable": []},
                                    {"default_node_port_variable": {}}])
def test_wrong_option_types_fail(kwargs):
    with pytest.raises(AnsibleFilterError, match=r"model_errors: .* must be a string"):
        errors([model()], **kwargs)


# --- the role task: one assert with every error, nothing else run ---------------------------------------------------


def run_models_task(tmp_path, extra):
    play = [{"name": "Models", "hosts": "localhost", "gather_facts": False, "connection": "local",
             "tasks": [{"name": "Check", "ansible.builtin.include_role": {"name": "edgeml.wavelength.model_artifacts",
                                                                          "tasks_from": "models"}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    return subprocess.run([Path(sys.executable).parent / "ansible-playbook", "-i", "localhost,", str(path),
                           "-e", json.dumps(extra)], capture_output=True, text=True, check=False, cwd=REPO,
                          env=os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"})


def test_role_task_fails_once_with_every_error(tmp_path):
    proc = run_models_task(tmp_path, {"edge_name": "e2e", "edge_models": [
        model("a", node_port=99999), model("b", nodeport=30008), model("b", node_port=30007)]})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.count("FAILED!") == 1 and "changed=0" in out
    assert ("The model list is wrong (edge_models, model_artifacts_models; edge_zones, model_artifacts_zones): "
            "edge_models[0] (name 'a').node_port is 99999: set a NodePort in 30000-32767") in out
    assert "edge_models[1] (name 'b') has the unknown key 'nodeport': did you mean node_port?" in out
    assert "edge_models[2] (name 'b').name is also the name of edge_models[1]" in out
    assert "edge_models[2] (name 'b').node_port 30007 is also the node port of edge_models[1] (name 'b'), which gets " \
           "edge_default_node_port" in out


def test_role_task_passes_the_product_defaults(tmp_path):
    proc = run_models_task(tmp_path, {})
    assert proc.returncode == 0, proc.stdout + proc.stderr

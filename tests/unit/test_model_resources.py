"""model_resources: a model's container resources, raised to the JumpStart catalog's hosting requirements."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.model_resources import model_resources

DEFAULTS = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}


def test_no_hints_keeps_the_defaults():
    assert model_resources({"name": "m"}, {}, DEFAULTS) == DEFAULTS
    assert model_resources({"name": "m"}, {"resource_requirements": None}, DEFAULTS) == DEFAULTS


def test_the_users_resources_win():
    own = {"requests": {"memory": "256Mi"}}
    assert model_resources({"resources": own}, {"resource_requirements": {"min_memory_mb": 8192}}, DEFAULTS) == own


def test_memory_and_cpu_are_raised_and_limits_follow_requests():
    out = model_resources({}, {"resource_requirements": {"min_memory_mb": 4096, "num_cpus": 4}}, DEFAULTS)
    assert out == {"requests": {"cpu": "4", "memory": "4096Mi"}, "limits": {"cpu": "4", "memory": "4096Mi"}}
    out = model_resources({}, {"resource_requirements": {"min_memory_mb": 2048, "max_memory_mb": 6144}}, DEFAULTS)
    assert out["requests"]["memory"] == "2048Mi" and out["limits"]["memory"] == "6144Mi"


def test_nothing_is_lowered():
    out = model_resources({}, {"resource_requirements": {"min_memory_mb": 256, "num_cpus": 0}}, DEFAULTS)
    assert out == DEFAULTS


def test_accelerators_request_equals_limit():
    out = model_resources({}, {"resource_requirements": {"num_accelerators": 1, "min_memory_mb": 16384}}, DEFAULTS)
    assert out["requests"]["nvidia.com/gpu"] == out["limits"]["nvidia.com/gpu"] == 1
    assert out["requests"]["memory"] == out["limits"]["memory"] == "16384Mi"


def test_other_keys_pass_through_for_validation_to_name():
    wrong = {"requests": {"cpu": "1"}, "limitz": {"cpu": "2"}}
    assert model_resources({}, {"resource_requirements": {"min_memory_mb": 1024}}, wrong) == {
        "requests": {"cpu": "1", "memory": "1024Mi"}, "limitz": {"cpu": "2"}}


def test_defaults_are_not_modified():
    before = {"requests": dict(DEFAULTS["requests"]), "limits": dict(DEFAULTS["limits"])}
    model_resources({}, {"resource_requirements": {"min_memory_mb": 4096}}, before)
    assert before == DEFAULTS


@pytest.mark.parametrize("bad", [None, [], "x"])
def test_bad_inputs_are_named(bad):
    with pytest.raises(AnsibleFilterError, match="model_resources: the export must be a mapping"):
        model_resources({}, bad, DEFAULTS)

"""Survey variables of the AWX job templates must be product variables with matching types."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CONTROLLER = yaml.safe_load((REPO / "awx" / "controller.yml").read_text())
DEFAULTS = yaml.safe_load((REPO / "roles" / "edge" / "defaults" / "main.yml").read_text())

# AWX survey answer type -> Python types the variable's default / spec type may have.
SURVEY_TYPES = {
    "text": {"str"},
    "textarea": {"str"},
    "password": {"str"},
    "integer": {"int"},
    "float": {"float", "int"},
    "multiplechoice": {"str", "bool"},
    "multiselect": {"list"},
}
SPEC_TYPES = {"str": "str", "int": "int", "bool": "bool", "list": "list", "dict": "dict", "raw": "raw", "path": "str"}


def _role_options() -> dict:
    """Every option of every role's entry points, by name."""
    options = {}
    for spec_file in REPO.glob("roles/*/meta/argument_specs.yml"):
        specs = yaml.safe_load(spec_file.read_text())["argument_specs"]
        for entry in specs.values():
            options.update(entry.get("options", {}))
    return options


def _declared_type(name: str, role_options: dict) -> tuple[str, dict]:
    if name in DEFAULTS:
        return type(DEFAULTS[name]).__name__, {}
    assert name in role_options, f"survey variable {name} is neither a product default nor in a role argument spec"
    option = role_options[name]
    return SPEC_TYPES[option.get("type", "str")], option


def _questions():
    for template in CONTROLLER["controller_templates"]:
        if template.get("survey_enabled"):
            for question in template["survey_spec"]["spec"]:
                yield template["name"], question


def test_every_template_playbook_exists():
    for template in CONTROLLER["controller_templates"]:
        assert (REPO / template["playbook"]).is_file(), template["playbook"]


def test_survey_variables_match_product_variables():
    role_options = _role_options()
    questions = list(_questions())
    assert len(questions) >= 5
    for template, question in questions:
        declared, option = _declared_type(question["variable"], role_options)
        allowed = SURVEY_TYPES[question["type"]]
        assert declared == "raw" or declared in allowed, (
            f"{template}: {question['variable']} is {declared} in the product but the survey asks {question['type']}")
        if option.get("choices") and question.get("choices"):
            assert {str(c) for c in question["choices"]} <= {str(c) for c in option["choices"]}, question["variable"]


def test_survey_choices_include_the_default():
    for template, question in _questions():
        if question["type"] in ("multiplechoice", "multiselect") and "default" in question:
            for default in str(question["default"]).split("\n"):
                assert default in [str(c) for c in question["choices"]], f"{template}: {question['variable']}"

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: model_errors
author: edgeml team
version_added: 0.1.0
short_description: Check the models to serve and the zones they are served in, before anything is written
description:
  - Checks every input of the model list (C(edge_models)) that can be checked without AWS or the cluster, and the zone
    list (C(edge_zones)), so that a wrong entry fails the preflight instead of a later stage that has already written.
  - Model entries - C(name) is required, a DNS-1123 label that starts with a letter (the model's Service is named
    after it, and Service names are RFC 1035 labels), unique, and short enough for every name derived from it to stay
    within 63 characters (the Deployment C(<name>-<zone>-<generation>) for the longest zone, the generation being 8
    characters, and, with O(deployment), the label
    value C(<deployment>-<name>)); C(model_id) is required; C(node_port), else O(default_node_port), is an integer in
    the NodePort range 30000-32767 and no two models share one; C(replicas_per_zone) is an integer of at least 1;
    C(security_profile) is V(nonroot) or V(root); C(startup_seconds) is an integer in 10-3600; C(resources) has
    only C(requests) and C(limits), whose values are Kubernetes quantities of known resources, with
    no request above its limit; C(samples) is a non-empty list of C({text, expected_label}); C(accept_eula),
    C(allow_deprecated) and C(inference_config) are known keys (jumpstart_export checks them against the catalog); no
    other key is allowed (a typo such as C(nodeport) would otherwise be ignored silently).
  - Zones - a non-empty list of distinct zone names (whether they are Wavelength zones of the region is checked
    against AWS by the zone_optin role).
  - Returns what is wrong, one sentence each naming the input to change (such as C(edge_models[1] (name 'b').node_port))
    and how. Fails only when the variable names given to it are not strings.
positional: _input, default_node_port, zones
options:
  _input:
    description: The models (C(edge_models)), a list of dicts.
    type: list
    elements: dict
    required: true
  default_node_port:
    description: NodePort of a model without C(node_port) (C(edge_default_node_port)); checked only when used.
    type: raw
    required: true
  zones:
    description: The Wavelength zones (C(edge_zones)); one Deployment per model and zone.
    type: list
    elements: str
    required: true
  deployment:
    description:
      - Deployment name (C(edge_name)); the models' objects carry the label C(app.kubernetes.io/instance) with the
        value C(<deployment>-<name>), which must fit in 63 characters. Empty to skip that check.
    type: str
    default: ""
  variable:
    description: How the messages name the model list.
    type: str
    default: edge_models
  zones_variable:
    description: How the messages name the zone list.
    type: str
    default: edge_zones
  default_node_port_variable:
    description: How the messages name the default node port.
    type: str
    default: edge_default_node_port
"""

EXAMPLES = r"""
# => []
ok: "{{ [{'name': 'sentiment', 'model_id': 'tensorflow-tc-bert-en-uncased-L-12-H-768-A-12-2', 'node_port': 30007}]
        | edgeml.wavelength.model_errors(30007, ['us-east-1-wl1-bos-wlz-1']) }}"

# => ["edge_models[0] (name 'a').node_port is 99999: set a NodePort in 30000-32767, a different one for each model",
#     "edge_models[2] (name 'c').node_port 30007 is also the node port of edge_models[1] (name 'b'), which gets
#      edge_default_node_port: give every model its own node port in 30000-32767 (30008 is free)"]
wrong: "{{ [{'name': 'a', 'model_id': 'm', 'node_port': 99999}, {'name': 'b', 'model_id': 'm'},
            {'name': 'c', 'model_id': 'm', 'node_port': 30007}]
           | edgeml.wavelength.model_errors(edge_default_node_port, edge_zones) }}"

# As roles/model_artifacts/tasks/models.yml uses it: one assert that lists every error.
errors: "{{ model_artifacts_models | edgeml.wavelength.model_errors(model_artifacts_default_node_port,
  model_artifacts_zones, deployment=model_artifacts_name) }}"
"""

RETURN = r"""
_value:
  description: What is wrong with the models and the zones, one sentence each; empty if nothing.
  type: list
  elements: str
"""

import re
from collections.abc import Mapping, Sequence
from difflib import get_close_matches

from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.plugin_utils.quantity import quantity as _quantity

# The keys the roles read from a model entry: model_artifacts (name, model_id, model_version, instance_type,
# accept_eula, allow_deprecated, inference_config; passed to jumpstart_export, which checks them against the catalog),
# model_deploy (node_port, replicas_per_zone, resources, security_profile, startup_seconds), endpoint_check (samples).
KEYS = ("name", "model_id", "model_version", "instance_type", "accept_eula", "allow_deprecated", "inference_config",
        "node_port", "replicas_per_zone", "resources", "security_profile", "startup_seconds", "samples")
SECURITY_PROFILES = ("nonroot", "root")
STARTUP_SECONDS = (10, 3600)
SAMPLE_KEYS = ("text", "expected_label")
# The one rule for model names: the Service is named after the model, and Service names are RFC 1035 labels (a
# DNS-1123 label that starts with a letter), the strictest of the names built from it (Deployments, NetworkPolicies,
# label values, ECR repositories <edge_name>/<name>, host directories); only their length is checked on its own.
NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 63
GENERATION = 8  # the node generation in Deployment names (model_deploy: <name>-<zone>-<first 8 of the generation>)
# The Kubernetes NodePort range (EKS does not change it).
NODE_PORTS = (30000, 32767)
RESOURCES = ("cpu", "memory", "ephemeral-storage")
# Extended resources (vendor.example/name) and huge pages cannot be overcommitted: a request must equal its limit.
QUALIFIED = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _whole(value):
    """value as an int if it is a whole number (an int, or a string of digits as a survey gives it), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _suggest(key, known):
    close = get_close_matches(key.lower().replace("-", "_"), known, n=1, cutoff=0.6) if isinstance(key, str) else []
    return f"did you mean {close[0]}? " if close else ""


def _dns_name(name):
    """A DNS-1035 label close to name (for the fix in the message), or ''."""
    fixed = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    fixed = re.sub(r"^[^a-z]+", "", fixed)[:MAX_NAME].rstrip("-")
    return fixed if NAME.match(fixed) else ""


class _Check:
    def __init__(self, variable, zones_variable, default_variable):
        self.variable, self.zones_variable, self.default_variable = variable, zones_variable, default_variable
        self.errors = []

    def add(self, message):
        self.errors.append(message)

    # --- zones ------------------------------------------------------------------------------------------------------

    def zones(self, zones):
        """The zone names usable for the name length checks."""
        var = self.zones_variable
        if isinstance(zones, str) or not isinstance(zones, Sequence):
            self.add(f"{var} must be a list of Wavelength zone names, got {zones!r}: write it as a YAML list, such as "
                     f"[us-east-1-wl1-bos-wlz-1]")
            return []
        if not zones:
            self.add(f"{var} is empty: list at least one Wavelength zone, such as us-east-1-wl1-bos-wlz-1")
        seen, usable = {}, []
        for i, zone in enumerate(zones):
            if not isinstance(zone, str) or not zone.strip():
                self.add(f"{var}[{i}] is {zone!r}, not a zone name: write the zone's name, such as "
                         f"us-east-1-wl1-bos-wlz-1")
            elif zone in seen:
                self.add(f"{var}[{i}] {zone} is listed twice (also {var}[{seen[zone]}]): list each zone once")
            else:
                seen[zone] = i
                usable.append(zone)
        return usable

    # --- one model --------------------------------------------------------------------------------------------------

    def name(self, where, model, limit, reason):
        name = model.get("name")
        rule = "a DNS-1123 label that starts with a letter: lowercase letters, digits and hyphens, ending with a " \
               "letter or digit"
        if name is None or name == "":
            self.add(f"{where}.name is missing: give the model a name, {rule} (such as sentiment)")
            return None
        if not isinstance(name, str) or not NAME.match(name):
            fixed = _dns_name(name) if isinstance(name, str) else ""
            self.add(f"{where}.name {name!r} is not {rule}" + (f" (such as {fixed})" if fixed else ""))
            return None
        if len(name) > limit:
            self.add(f"{where}.name {name!r} has {len(name)} characters, more than the {max(limit, 0)} that fit "
                     f"because {reason}: use a shorter name")
        return name

    def text(self, where, model, key, required, fix):
        value = model.get(key)
        if value is None and not required:
            return
        usable = isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip()
        if not usable:
            problem = "is missing" if value is None else f"is {value!r}"
            self.add(f"{where}.{key} {problem}: {fix}")

    def port(self, where, model, default):
        value = model.get("node_port")
        if value is None:
            port = _whole(default)
            if port is None or not NODE_PORTS[0] <= port <= NODE_PORTS[1]:
                self.add(f"{self.default_variable} is {default!r}, the node port of {where}, which has no node_port: "
                         f"set {self.default_variable} to a port in {NODE_PORTS[0]}-{NODE_PORTS[1]}, or give the "
                         f"model a node_port")
                return None
            return port
        port = _whole(value)
        if port is None or not NODE_PORTS[0] <= port <= NODE_PORTS[1]:
            self.add(f"{where}.node_port is {value!r}: set a NodePort in {NODE_PORTS[0]}-{NODE_PORTS[1]}, a different "
                     f"one for each model")
            return None
        return port

    def replicas(self, where, model):
        value = model.get("replicas_per_zone")
        if value is None:
            return
        replicas = _whole(value)
        if replicas is None or replicas < 1:
            self.add(f"{where}.replicas_per_zone is {value!r}: set it to a whole number of at least 1 (the model's "
                     f"pods in each zone), or leave it out for 1")

    def container(self, where, model):
        profile = model.get("security_profile")
        if profile is not None and profile not in SECURITY_PROFILES:
            self.add(f"{where}.security_profile is {profile!r}: set nonroot or root (the container's user), or leave "
                     f"it out for what the model's container family needs")
        value = model.get("startup_seconds")
        seconds = _whole(value)
        if value is not None and (seconds is None or not STARTUP_SECONDS[0] <= seconds <= STARTUP_SECONDS[1]):
            self.add(f"{where}.startup_seconds is {value!r}: set the seconds the model may take to load, a whole "
                     f"number in {STARTUP_SECONDS[0]}-{STARTUP_SECONDS[1]}, or leave it out for its container "
                     f"family's")

    def resources(self, where, model):
        resources = model.get("resources")
        if resources is None:
            return
        fix = "write it as Kubernetes container resources, such as {requests: {cpu: 500m, memory: 512Mi}, " \
              "limits: {cpu: '2', memory: 1Gi}}"
        if not isinstance(resources, Mapping):
            self.add(f"{where}.resources is {resources!r}: {fix}")
            return
        for key in resources:
            if key not in ("requests", "limits"):
                self.add(f"{where}.resources has the unknown key {key!r}: {_suggest(key, ('requests', 'limits'))}"
                         f"only requests and limits are used")
        parsed = {}
        for kind in ("requests", "limits"):
            values = resources.get(kind)
            if values is None:
                continue
            if not isinstance(values, Mapping):
                self.add(f"{where}.resources.{kind} is {values!r}: {fix}")
                continue
            parsed[kind] = {}
            for resource, value in values.items():
                if not isinstance(resource, str) or not (resource in RESOURCES or resource.startswith("hugepages-")
                                                         or QUALIFIED.match(resource)):
                    self.add(f"{where}.resources.{kind} has the unknown resource {resource!r}: "
                             f"{_suggest(resource, RESOURCES)}use cpu, memory, ephemeral-storage, hugepages-<size> or "
                             f"an extended resource such as nvidia.com/gpu")
                    continue
                amount = _quantity(value)
                if amount is None or amount < 0:
                    self.add(f"{where}.resources.{kind}.{resource} is {value!r}, not a Kubernetes quantity: write it "
                             f"like 500m or 2 (cpu), 512Mi or 1Gi (memory)")
                    continue
                parsed[kind][resource] = amount
        requests, limits = parsed.get("requests", {}), parsed.get("limits", {})
        for resource in requests.keys() & limits.keys():
            request, limit = requests[resource], limits[resource]
            shown = (resources["requests"][resource], resources["limits"][resource])
            if request > limit:
                self.add(f"{where}.resources.requests.{resource} {shown[0]} is more than its limit "
                         f"{shown[1]}: lower the request or raise the limit")
            elif request != limit and (resource.startswith("hugepages-") or "/" in resource):
                self.add(f"{where}.resources.requests.{resource} {shown[0]} differs from its limit {shown[1]}: "
                         f"{resource} cannot be overcommitted, set the request equal to the limit")

    def samples(self, where, model):
        samples = model.get("samples")
        if samples is None:
            return
        fix = "give a non-empty list of {text, expected_label} (expected_label optional), or leave samples out for " \
              "endpoint_check_samples"
        if isinstance(samples, str) or not isinstance(samples, Sequence) or not samples:
            self.add(f"{where}.samples is {samples!r}: {fix}")
            return
        for i, sample in enumerate(samples):
            at = f"{where}.samples[{i}]"
            if not isinstance(sample, Mapping):
                self.add(f"{at} is {sample!r}: {fix}")
                continue
            for key in sample:
                if key not in SAMPLE_KEYS:
                    self.add(f"{at} has the unknown key {key!r}: {_suggest(key, SAMPLE_KEYS)}a sample has text and "
                             f"optionally expected_label")
            if not isinstance(sample.get("text"), str) or not sample["text"].strip():
                self.add(f"{at}.text is {sample.get('text')!r}: set the text sent to the model")
            if sample.get("expected_label") is not None and not isinstance(sample["expected_label"], str):
                self.add(f"{at}.expected_label is {sample['expected_label']!r}: set the label the model must "
                         f"answer, as a string, or leave it out to check only the answer's form")


def _free_port(port, used):
    """The first port after port (else from the start of the range) that no model uses; marked as used."""
    after = range(port + 1, NODE_PORTS[1] + 1)
    free = next((p for p in (*after, *range(NODE_PORTS[0], port)) if p not in used), None)
    if free is not None:
        used.add(free)
    return free


def _limit(zones, deployment):
    """How long a model name may be, and why (the longest name derived from it must fit in 63 characters)."""
    limits = [(MAX_NAME, "a model name is a DNS label")]
    if zones:
        zone = max(zones, key=len)
        limits.append((MAX_NAME - 2 - len(zone) - GENERATION,
                       f"its Deployment <name>-{zone}-<generation> must fit in {MAX_NAME} characters"))
    if deployment:
        limits.append((MAX_NAME - 1 - len(deployment),
                       f"its label value {deployment}-<name> (app.kubernetes.io/instance) must fit in {MAX_NAME} "
                       f"characters"))
    return min(limits, key=lambda limit: limit[0])


def model_errors(models, default_node_port, zones, deployment="", variable="edge_models", zones_variable="edge_zones",
                 default_node_port_variable="edge_default_node_port"):
    """What is wrong with the models and the zones."""
    for option, value in (("deployment", deployment), ("variable", variable), ("zones_variable", zones_variable),
                          ("default_node_port_variable", default_node_port_variable)):
        if not isinstance(value, str):
            raise AnsibleFilterError(f"model_errors: {option} must be a string, got {value!r}")
    check = _Check(variable, zones_variable, default_node_port_variable)
    usable_zones = check.zones(zones)
    if isinstance(models, str) or not isinstance(models, Sequence):
        check.add(f"{variable} must be a list of models, got {models!r}: write it as a YAML list of "
                  f"{{name, model_id, ...}}")
        return check.errors
    if not models:
        check.add(f"{variable} is empty: list at least one model (name and model_id)")
    limit, reason = _limit(usable_zones, deployment)
    names, ports = {}, {}
    for i, model in enumerate(models):
        if not isinstance(model, Mapping):
            check.add(f"{variable}[{i}] is {model!r}, not a model: write it as a dict with name and model_id")
            continue
        label = model.get("name")
        where = f"{variable}[{i}] (name {label!r})" if isinstance(label, str) and label else f"{variable}[{i}]"
        name = check.name(f"{variable}[{i}]", model, limit, reason)
        if name is not None:
            if name in names:
                check.add(f"{where}.name is also the name of {variable}[{names[name]}]: give every model its own name")
            else:
                names[name] = i
        for key in model:
            if key not in KEYS:
                check.add(f"{where} has the unknown key {key!r}: {_suggest(key, KEYS)}a model has "
                          f"{', '.join(KEYS)}")
        check.text(where, model, "model_id", True, "set the JumpStart model id (such as "
                                                    "tensorflow-tc-bert-en-uncased-L-12-H-768-A-12-2)")
        check.text(where, model, "model_version", False, "set a JumpStart model version or pattern (such as 1.0.0 or "
                                                         "'*'), or leave it out for the latest")
        check.text(where, model, "instance_type", False,
                   "set an EC2 instance type, or leave it out for the nodes' type")
        port = check.port(where, model, default_node_port)
        if port is not None:
            ports.setdefault(port, []).append((i, where, model.get("node_port") is None))
        check.replicas(where, model)
        check.container(where, model)
        check.resources(where, model)
        check.samples(where, model)
    used = set(ports)
    for port, users in ports.items():
        (_, first, first_defaulted), *others = users
        if first_defaulted:
            first += f", which gets {default_node_port_variable}"
        for _, where, defaulted in others:
            how = (f"{where} has no node_port, so it gets {default_node_port_variable} {port}, which"
                   if defaulted else f"{where}.node_port {port}")
            free = _free_port(port, used)
            check.add(f"{how} is also the node port of {first}: give every model its own node port in "
                      f"{NODE_PORTS[0]}-{NODE_PORTS[1]}" + (f" ({free} is free)" if free else ""))
    return check.errors


class FilterModule:
    """Checks of the model list."""

    def filters(self):
        return {"model_errors": model_errors}

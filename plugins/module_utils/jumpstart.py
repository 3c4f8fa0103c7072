# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""JumpStart resolution (through the SageMaker SDK's own code) and deterministic model repacking.

Kept free of AnsibleModule so that unit tests and the parity test call it directly.
"""

from __future__ import annotations

import copy
import difflib
import gzip
import hashlib
import json
import logging
import os
import re
import tarfile

# Real parent regions look like us-east-1 or us-gov-west-1; Wavelength zones (us-east-1-wl1-bos-wlz-1,
# eu-west-3-cmn-wlz-1a) and availability zones (us-east-1a) do not.
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
ZONE_PREFIX_RE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)[-a-z]")
INSTANCE_TYPE_RE = re.compile(r"^(?:ml\.)?[a-z][a-z0-9-]*\.[a-z0-9-]+$")
# SageMaker mounts each additional model data source at <root>/<ChannelName> (a CreateModel channel name).
ADDITIONAL_DATA_ROOT = "/opt/ml/additional-model-data-sources"
CHANNEL_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Accelerator an image is built for, from the names and tags of the SageMaker Deep Learning Containers.
IMAGE_ACCELERATORS = (
    ("neuron", re.compile(r"(?:^|[-_.:])neuronx?(?=$|[-_.:])")),
    ("gpu", re.compile(r"(?:^|[-_.:])(?:gpu|cu\d{3})(?=$|[-_.:])")),
)

JUMPSTART_ENV_PREFIXES = ("AWS_JUMPSTART_", "AWS_NEO_")
JUMPSTART_DIR_VARS = (
    "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE",
    "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE",
)

# Fixed metadata written into every repacked tar member: the sha256 then depends on content only.
TAR_MTIME = 0


class JumpStartError(Exception):
    """A user-facing resolution error (raised before anything is written)."""


def check_region(region):
    """Return an error message when region is not a parent region (None when fine)."""
    if not region:
        return "region is required (the parent region of the Wavelength zones, e.g. us-east-1)"
    if REGION_RE.match(region):
        return None
    parent = ZONE_PREFIX_RE.match(region)
    hint = f" (its parent region is {parent.group(1)})" if parent else ""
    return (
        f"region must be the parent AWS region, not a zone name: got '{region}'{hint}. "
        "JumpStart images and artifacts are published per region."
    )


def sagemaker_instance_type(instance_type):
    """Map an EC2 instance type (t3.xlarge) to SageMaker's form (ml.t3.xlarge); ml.* is kept."""
    if not INSTANCE_TYPE_RE.match(instance_type or ""):
        raise JumpStartError(f"instance_type '{instance_type}' is not an instance type like t3.xlarge")
    return instance_type if instance_type.startswith("ml.") else "ml." + instance_type


def check_jumpstart_environment(env):
    """Validate SDK override variables; the SDK silently uses the public catalog when a dir is missing."""
    errors = []
    for name, value in sorted((env or {}).items()):
        if not name.startswith(JUMPSTART_ENV_PREFIXES):
            errors.append(f"jumpstart_environment: {name} is not a JumpStart SDK variable (AWS_JUMPSTART_*)")
        elif name in JUMPSTART_DIR_VARS and not os.path.isdir(str(value)):
            errors.append(f"jumpstart_environment: {name}={value} is not a directory")
    present = [v for v in JUMPSTART_DIR_VARS if v in (env or {})]
    if len(present) == 1:
        both = " and ".join(JUMPSTART_DIR_VARS)
        errors.append(f"jumpstart_environment: set both {both} (the SDK ignores one alone)")
    return errors


def apply_jumpstart_environment(env):
    """Set the SDK's JumpStart override variables before it is imported/used.

    AWS_EC2_METADATA_DISABLED is deliberately left alone. It used to be set here so that the SDK, which built its
    own clients from botocore's default chain, would not probe the instance metadata service (one slow, failing
    probe per client off EC2 when no other credentials were found). It also switched off instance-role
    credentials for every client of the process, the module's S3 client included. The SDK now works through
    the module's own boto3 session (boto3_session/sdk_session): credentials are resolved once, from the
    parameters, the environment, a profile or the instance role, and the instance metadata service is only
    asked when nothing else provides credentials, exactly as for every other AWS module.
    """
    for name, value in (env or {}).items():
        os.environ[name] = str(value)


def boto3_session(region, aws_access_key_id=None, aws_secret_access_key=None, aws_session_token=None,
                  profile_name=None, **_ignored):
    """A boto3 session with the credentials an amazon.aws module client gets.

    Takes the keyword arguments of amazon.aws's get_aws_connection_info (aws_access_key_id, aws_secret_access_key,
    aws_session_token, profile_name; verify and aws_config only concern clients and are ignored here): a profile,
    or explicit keys (with their session token), or else botocore's default chain (environment, shared config and
    credentials files, container or instance role).
    """
    import boto3

    return boto3.session.Session(aws_access_key_id=aws_access_key_id, aws_secret_access_key=aws_secret_access_key,
                                 aws_session_token=aws_session_token, profile_name=profile_name, region_name=region)


def sdk_session(boto_session, s3_client):
    """The SageMaker SDK session over boto_session, whose S3 client is s3_client.

    s3_client is the module's own client (its endpoint_url, CA bundle and botocore config): the SDK reads the
    JumpStart manifest and specs through it. Building the session creates clients but sends no request.
    """
    _sdk()  # quiets the SDK's logging before the session loads its configuration
    from sagemaker.core.helper.session_helper import Session

    session = Session(boto_session=boto_session)
    session.s3_client = s3_client
    return session


def _sdk():
    """Import the SDK lazily (~1.5 s) and quiet its informational logging (module stdout is JSON)."""
    from sagemaker.core import accept_types, content_types, environment_variables, image_uris, model_uris, script_uris
    from sagemaker.core.jumpstart import accessors, utils
    from sagemaker.core.jumpstart.artifacts import model_packages

    logging.getLogger("sagemaker").setLevel(logging.ERROR)
    return {
        "accept_types": accept_types,
        "content_types": content_types,
        "environment_variables": environment_variables,
        "image_uris": image_uris,
        "model_uris": model_uris,
        "script_uris": script_uris,
        "accessors": accessors,
        "utils": utils,
        "model_packages": model_packages,
    }


def resolve(model_id, model_version, region, instance_type, sagemaker_session=None, accept_eula=False,
            allow_deprecated=False, inference_config=None, node_instance_type=None):
    """Resolve a JumpStart model the way the SDK does, for a region and an ml.* instance type.

    sagemaker_session (sdk_session) carries the credentials, region and S3 client every SDK call uses; without it
    the SDK builds its own default session and clients (botocore's default chain, AWS's own endpoints).
    The catalog shapes the export cannot take are refused here, before anything is written: versions that need a newer
    SDK, inference-vulnerable versions, deprecated ones (unless allow_deprecated), models SageMaker deploys from a
    model package, gated content whose EULA is not accepted (accept_eula), images built for an accelerator the nodes
    (node_instance_type, default instance_type) do not have. inference_config selects one of the model's inference
    configurations (default: the one the SDK ranks first).
    Returns a dict: model_version (resolved), image_uri, environment, content_types, accept_types,
    model_uri, script_uri (None for prepacked artifacts), artifact_kind (prepacked|tarball|prefix), inference_config
    (None when the model has none), inference_configs, deprecated, eula (None unless gated), additional_data_sources
    ([{channel_name, source_uri, s3_data_type, compression_type, container_path, eula_uri}]) and warnings.
    Raises JumpStartError with a user-facing message.
    """
    sdk = _sdk()
    utils = sdk["utils"]
    accessor = sdk["accessors"].JumpStartModelsAccessor
    session = {"sagemaker_session": sagemaker_session} if sagemaker_session is not None else {}
    client = {"s3_client": sagemaker_session.s3_client} if sagemaker_session is not None else {}
    # The SDK caches the manifest per process; the override variables may have changed since. The new cache reads
    # through the session's S3 client (a cache made without one builds a default client of its own). Forget the
    # content buckets of an earlier resolution too: when one differs, the SDK resets its cache without the client.
    accessor.set_jumpstart_content_bucket(None)
    accessor.set_jumpstart_gated_content_bucket(None)
    accessor.reset_cache(dict(client), region=region)
    manifest = accessor._get_manifest(region=region, **client)
    headers = {}
    for header in manifest:
        headers.setdefault(header.model_id, {})[header.version] = header.min_version
    if model_id not in headers:
        close = difflib.get_close_matches(model_id, sorted(headers), n=3, cutoff=0.5)
        raise JumpStartError(
            f"unknown JumpStart model_id '{model_id}' in region {region}"
            + (f"; close matches: {', '.join(close)}" if close else "")
        )
    warnings = []
    base, compatible = _base_specs(sdk, model_id, model_version, region, headers[model_id], session, warnings)
    version = base.version
    notes = [f"model_version '{model_version}'"] if model_version != version else []
    what = _what(model_id, version, notes)
    others = [v for v in compatible if v != version]
    other_versions = f" (other versions: {_versions(others)})" if others else ""
    _check_vulnerable(base, what, other_versions)
    if base.deprecated:
        reason = (base.deprecated_message or "the catalog gives no reason").strip().rstrip(".")
        if not allow_deprecated:
            raise JumpStartError(
                f"{what} is deprecated in the JumpStart catalog: {reason}. Pin another version with model_version"
                f"{other_versions}, choose another model, or set allow_deprecated: true in the model's edge_models "
                f"entry to export this version anyway")
        warnings.append(f"{what} is deprecated in the JumpStart catalog ({reason}); exported because "
                        f"allow_deprecated is set")

    tolerate = {"tolerate_deprecated_model": bool(allow_deprecated)}
    kwargs = dict(model_id=model_id, model_version=version, region=region, **session, **tolerate)
    configs = sorted(base.inference_configs.configs) if base.inference_configs and base.inference_configs.configs \
        else []
    default_config = utils.get_top_ranked_config_name(
        region=region, model_id=model_id, model_version=version, **session, **tolerate) if configs else None
    specs, selected = base, default_config
    if inference_config:
        if not configs:
            raise JumpStartError(f"{what} has no inference configurations: remove inference_config "
                                 f"'{inference_config}' from its edge_models entry")
        if inference_config not in configs:
            raise JumpStartError(f"{what} has no inference configuration '{inference_config}': set inference_config "
                                 f"to one of {', '.join(configs)} (default {default_config}), or leave it out")
        kwargs["config_name"] = selected = inference_config
        try:
            specs = utils.verify_model_region_and_return_specs(
                model_id=model_id, version=version, scope="inference", region=region, config_name=inference_config,
                **session, **tolerate)
        except (AttributeError, TypeError, ValueError) as e:  # sagemaker-core 2.27 fails on multi-component configs
            raise JumpStartError(f"the SageMaker SDK cannot apply inference configuration '{inference_config}' of "
                                 f"{what}: {e}") from None
        what = _what(model_id, version, [*notes, f"inference configuration {inference_config}"])
        _check_vulnerable(specs, what, other_versions)

    _check_model_package(sdk, specs, what, region, instance_type, kwargs, configs)
    sources = _additional_sources(sdk, specs, region, what)
    eula = _check_eula(sdk, specs, sources, region, accept_eula, what)

    where = f"{what} in region {region} on {instance_type}"
    try:
        image_uri = sdk["image_uris"].retrieve(
            framework=None, image_scope="inference", instance_type=instance_type, **kwargs)
        model_uri = sdk["model_uris"].retrieve(model_scope="inference", instance_type=instance_type, **kwargs)
        environment = sdk["environment_variables"].retrieve_default(instance_type=instance_type, **kwargs)
    except ValueError as e:
        raise JumpStartError(f"no inference image or artifact for {where}: {e}{_config_hint(base, instance_type)}") \
            from None
    if not image_uri:
        raise JumpStartError(f"no inference image for {where}{_config_hint(base, instance_type)}")
    _check_accelerator(image_uri, node_instance_type or instance_type, instance_type, where)
    uses_script = bool(specs.use_inference_script_uri())
    script_uri = sdk["script_uris"].retrieve(script_scope="inference", **kwargs) if uses_script else None
    predictor = specs.predictor_specs
    if "config_name" in kwargs:  # the SDK's retrieve_options have no config_name: read the configuration's own
        content_types = list(predictor.supported_content_types) if predictor else []
        accept_types = list(predictor.supported_accept_types) if predictor else []
    else:
        options = {k: v for k, v in kwargs.items() if k != "config_name"}
        content_types = list(sdk["content_types"].retrieve_options(**options)) if predictor else []
        accept_types = list(sdk["accept_types"].retrieve_options(**options)) if predictor else []
    return {
        "model_version": version,
        "image_uri": image_uri,
        "environment": dict(environment or {}),
        "content_types": content_types,
        "accept_types": accept_types,
        "model_uri": model_uri,
        "script_uri": script_uri,
        "artifact_kind": "prefix" if model_uri.endswith("/") else ("tarball" if uses_script else "prepacked"),
        "inference_config": selected,
        "inference_configs": configs,
        "deprecated": bool(base.deprecated),
        "eula": eula,
        "additional_data_sources": sources,
        "resource_requirements": _resource_requirements(specs, instance_type),
        "warnings": warnings,
    }


def _resource_requirements(specs, instance_type):
    """The catalog's hosting resource requirements (min_memory_mb, num_accelerators...), the instance type's variant
    over the model's, merged as the SDK's _retrieve_default_resources merges them."""
    merged = dict(getattr(specs, "hosting_resource_requirements", None) or {})
    variants = getattr(specs, "hosting_instance_type_variants", None)
    if variants is not None:
        merged.update(variants.get_instance_specific_resource_requirements(instance_type) or {})
    return merged


def _what(model_id, version, notes):
    return f"JumpStart model '{model_id}' version {version}" + (f" ({', '.join(notes)})" if notes else "")


def _versions(versions):
    return ", ".join(sorted(versions, key=_version_key))


def _base_specs(sdk, model_id, model_version, region, versions, session, warnings):
    """The specs of the version the SDK selects (its default inference configuration applied), deprecated and
    vulnerable ones included (checked by the caller, with the resolved version), and the versions the installed SDK
    may use. A version it may not use (the manifest's min_version above its own version) is named with the SDK version
    it needs."""
    from packaging.version import InvalidVersion, Version

    sm_version = sdk["utils"].get_sagemaker_version()

    def needs_newer(version):
        try:
            return Version(versions[version]) > Version(sm_version)
        except InvalidVersion:
            return False

    compatible = [v for v in versions if not needs_newer(v)]
    try:
        specs = sdk["utils"].verify_model_region_and_return_specs(
            model_id=model_id, version=model_version, scope="inference", region=region,
            tolerate_deprecated_model=True, tolerate_vulnerable_model=True, **session)
    except KeyError:
        newer = _select_version(model_version, list(versions))
        if newer is not None and needs_newer(newer):
            raise JumpStartError(
                f"JumpStart model '{model_id}' version {newer}"
                + (f" (model_version '{model_version}')" if model_version != newer else "")
                + f" needs SageMaker Python SDK {versions[newer]} or newer (the catalog's min_version); the installed "
                f"SDK (sagemaker-core) reports {sm_version}. Pin a version this SDK supports with model_version"
                + (f" ({_versions(compatible)})" if compatible else " (none in the catalog)")
                + ", or run the export with a newer SDK") from None
        newer_sdk = [f"{v} (needs SDK {versions[v]})" for v in sorted(versions, key=_version_key) if needs_newer(v)]
        raise JumpStartError(
            f"unknown version '{model_version}' of JumpStart model '{model_id}'; available: "
            + (_versions(compatible) or "none for this SDK")
            + (f"; needing a newer SageMaker Python SDK: {', '.join(newer_sdk)}" if newer_sdk else "")) from None
    newest = _select_version(model_version, list(versions))
    if newest is not None and newest != specs.version and needs_newer(newest):
        warnings.append(f"JumpStart model '{model_id}' version {newest} needs SageMaker Python SDK {versions[newest]} "
                        f"or newer (installed {sm_version}): model_version '{model_version}' resolved to "
                        f"{specs.version}")
    return specs, compatible


def _select_version(pattern, versions):
    """The newest of versions matching pattern ('*', or a version or pattern such as 1.*), as the SDK's cache does."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        matched = versions if pattern == "*" else list(SpecifierSet(f"=={pattern}").filter(versions))
        return max(matched, key=Version) if matched else None
    except (InvalidSpecifier, InvalidVersion):
        return None


def _check_vulnerable(specs, what, other_versions):
    if specs.inference_vulnerable:
        listed = ", ".join(specs.inference_vulnerabilities or []) or "not listed"
        raise JumpStartError(
            f"{what} is flagged inference-vulnerable in the JumpStart catalog (vulnerable dependencies of its "
            f"inference code: {listed}): a vulnerable version is never exported, allow_deprecated does not apply. "
            f"Pin another version with model_version{other_versions}, or choose another model")


def _check_model_package(sdk, specs, what, region, instance_type, kwargs, configs):
    """Refuse what SageMaker deploys from a model package (the SDK's _retrieve_model_package_arn decides, as for
    JumpStartModel): its artifact and image stay inside SageMaker, the catalog has no artifact key for it."""
    try:
        arn = sdk["model_packages"]._retrieve_model_package_arn(scope="inference", instance_type=instance_type,
                                                                **kwargs)
    except ValueError:  # a model package model, but not in this region
        arn = ", ".join(f"{r}: {a}" for r, a in sorted((specs.hosting_model_package_arns or {}).items()))
    if not arn:
        return
    others = []
    for name in configs:
        try:
            resolved = specs.inference_configs.configs[name].resolved_config
        except (AttributeError, TypeError, ValueError):
            continue
        if not resolved.get("hosting_model_package_arns"):
            others.append(name)
    raise JumpStartError(
        f"{what} is deployed by SageMaker from a model package ({arn}), which keeps its artifact and image inside "
        f"SageMaker: it cannot be exported to run outside SageMaker. Choose another model"
        + (f", or an inference_config without a model package ({', '.join(others)})" if others else "")
        + " (the catalog's hosting_model_package_arns)")


def eula_uri(sdk, region, key):
    """The EULA's location as the SDK names it (utils.get_formatted_eula_message_template): the key in the JumpStart
    content bucket of the region."""
    utils = sdk["utils"]
    bucket = utils.get_jumpstart_content_bucket(region=region)
    return f"https://{bucket}.s3.{region}.{utils.get_domain_for_region(region)}/{key}"


def _additional_sources(sdk, specs, region, what):
    """The additional model data sources SageMaker attaches (the SDK's speculative-decoding sources of the selected
    configuration, each in the bucket get_draft_model_content_bucket picks for its provider)."""
    sources = []
    for data_source in specs.get_speculative_decoding_s3_data_sources():
        data_source = copy.deepcopy(data_source)  # set_bucket changes it; the SDK caches the specs
        data_source.s3_data_source.set_bucket(
            sdk["utils"].get_draft_model_content_bucket(provider=data_source.provider, region=region))
        channel = data_source.channel_name
        if not isinstance(channel, str) or not CHANNEL_RE.match(channel) or channel in (".", ".."):
            raise JumpStartError(f"{what} names an additional model data source channel {channel!r}, not a SageMaker "
                                 f"channel name ([A-Za-z0-9.-_], at most 64 characters)")
        s3 = data_source.s3_data_source
        sources.append({
            "channel_name": channel,
            "source_uri": s3.s3_uri,
            "s3_data_type": s3.s3_data_type,
            "compression_type": s3.compression_type,
            "container_path": f"{ADDITIONAL_DATA_ROOT}/{channel}",
            "eula_uri": eula_uri(sdk, region, data_source.hosting_eula_key) if data_source.hosting_eula_key else None,
        })
    return sources


def _check_eula(sdk, specs, sources, region, accept_eula, what):
    """Gated content (a EULA key or the gated bucket, JumpStartModelSpecs.is_gated_model; a EULA key on an additional
    data source) is refused unless its EULA is accepted, as SageMaker refuses it without accept_eula=True."""
    model_uri = eula_uri(sdk, region, specs.hosting_eula_key) if specs.hosting_eula_key else None
    gated = []
    if specs.is_gated_model():
        gated.append(("the model", model_uri))
    gated += [(f"its additional model data source {s['channel_name']}", s["eula_uri"]) for s in sources
              if s["eula_uri"]]
    if not gated:
        return None
    uris = list(dict.fromkeys(uri for _, uri in gated if uri))
    if not accept_eula:
        parts = "; ".join(f"{part}: {uri or 'in the gated JumpStart bucket, EULA location not published'}"
                          for part, uri in gated)
        raise JumpStartError(
            f"{what} is gated by an end-user license agreement (EULA) that must be accepted before it is used "
            f"({parts}). Read it, then set accept_eula: true in the model's edge_models entry (SageMaker's "
            f"accept_eula=True)")
    return {"accepted": True, "uri": model_uri, "uris": uris}


def _config_hint(specs, instance_type):
    """For a model with inference configurations: those that support instance_type (as a fix)."""
    if not (specs.inference_configs and specs.inference_configs.configs):
        return ""
    fits = []
    for name, config in sorted(specs.inference_configs.configs.items()):
        try:
            types = config.resolved_config.get("supported_inference_instance_types") or []
        except (AttributeError, TypeError, ValueError):
            continue
        if instance_type in types:
            fits.append(name)
    return f" (inference configurations supporting {instance_type}: {', '.join(fits) or 'none'})"


def instance_accelerator(instance_type):
    """cpu, gpu or neuron for an instance type (EC2 or ml.*), by family as the SDK's image_uris._processor does."""
    family = (instance_type or "").removeprefix("ml.").split(".")[0]
    if family.startswith(("inf", "trn")):
        return "neuron"
    if family[:1] in ("g", "p"):
        return "gpu"
    return "cpu"


def image_accelerator(image_uri):
    """gpu or neuron when the image's name or tag marks it as built for one (the Deep Learning Containers' tags:
    ...-gpu-py310-cu121-..., djl-inference:...-cu124, pytorch-inference-neuronx:...-neuronx-...), else cpu."""
    name = (image_uri or "").rsplit("/", 1)[-1]
    for kind, pattern in IMAGE_ACCELERATORS:
        if pattern.search(name):
            return kind
    return "cpu"


def _check_accelerator(image_uri, node_instance_type, instance_type, where):
    needed = image_accelerator(image_uri)
    if needed == "cpu" or instance_accelerator(node_instance_type) == needed:
        return
    device = "GPU" if needed == "gpu" else "AWS Neuron (Inferentia/Trainium)"
    fix = (f"leave the model's instance_type out (or set the nodes' type {node_instance_type}) to get the CPU image"
           if node_instance_type != instance_type else "choose another model")
    raise JumpStartError(
        f"{where}: the image {image_uri} is built for {device} and the nodes ({node_instance_type}) have none: "
        f"{fix}, or run the nodes on an instance type with {device} (edge_instance_type)")


def _version_key(version):
    return [int(p) if p.isdigit() else p for p in re.split(r"[.-]", version)]


def split_s3_uri(uri):
    """s3://bucket/key -> (bucket, key)."""
    if not uri.startswith("s3://"):
        raise JumpStartError(f"not an S3 URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def source_digest(objects):
    """Fingerprint of the source objects [(uri, etag, size)]: changes when any source object changes."""
    payload = json.dumps(sorted([list(o) for o in objects]), separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def extract_tarball(path, dest):
    """Extract an archive with the 'data' filter (no absolute paths, no escapes, no devices)."""
    with tarfile.open(path, "r:*") as tar:
        tar.extractall(dest, filter="data")


def _normalize(info):
    info.mtime = TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isdir():
        info.mode = 0o755
    elif info.isfile():
        info.mode = 0o755 if info.mode & 0o100 else 0o644
    return info


def deterministic_tar_gz(src_dir, out_path):
    """Pack src_dir's content (at the archive root) into out_path reproducibly.

    Sorted members, fixed mtime, no owners, normalized modes, gzip header without name or time:
    the same files give the same sha256 on every run and machine.
    """
    entries = []
    for root, dirs, files in os.walk(src_dir):
        dirs.sort()
        for name in dirs + files:
            full = os.path.join(root, name)
            entries.append((os.path.relpath(full, src_dir).replace(os.sep, "/"), full))
    entries.sort()
    with open(out_path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                for arcname, full in entries:
                    tar.add(full, arcname=arcname, recursive=False, filter=_normalize)

# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""JumpStart resolution (through the SageMaker SDK's own code) and deterministic model repacking.

Kept free of AnsibleModule so that unit tests and the parity test call it directly.
"""

from __future__ import annotations

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
    }


def resolve(model_id, model_version, region, instance_type, sagemaker_session=None):
    """Resolve a JumpStart model the way the SDK does, for a region and an ml.* instance type.

    sagemaker_session (sdk_session) carries the credentials, region and S3 client every SDK call uses; without it
    the SDK builds its own default session and clients (botocore's default chain, AWS's own endpoints).
    Returns a dict: model_version (resolved), image_uri, environment, content_types, accept_types,
    model_uri, script_uri (None for prepacked artifacts), artifact_kind (prepacked|tarball|prefix).
    Raises JumpStartError with a user-facing message.
    """
    sdk = _sdk()
    accessor = sdk["accessors"].JumpStartModelsAccessor
    session = {"sagemaker_session": sagemaker_session} if sagemaker_session is not None else {}
    client = {"s3_client": sagemaker_session.s3_client} if sagemaker_session is not None else {}
    # The SDK caches the manifest per process; the override variables may have changed since. The new cache reads
    # through the session's S3 client (a cache made without one builds a default client of its own). Forget the
    # content bucket of an earlier resolution too: when it differs, the SDK resets its cache without the client.
    accessor.set_jumpstart_content_bucket(None)
    accessor.reset_cache(dict(client), region=region)
    manifest = accessor._get_manifest(region=region, **client)
    versions = {}
    for header in manifest:
        versions.setdefault(header.model_id, []).append(header.version)
    if model_id not in versions:
        close = difflib.get_close_matches(model_id, sorted(versions), n=3, cutoff=0.5)
        raise JumpStartError(
            f"unknown JumpStart model_id '{model_id}' in region {region}"
            + (f"; close matches: {', '.join(close)}" if close else "")
        )
    kwargs = dict(model_id=model_id, model_version=model_version, region=region, **session)
    try:
        specs = sdk["utils"].verify_model_region_and_return_specs(
            model_id=model_id, version=model_version, scope="inference", region=region, **session)
    except KeyError:
        available = ", ".join(sorted(versions[model_id], key=_version_key))
        raise JumpStartError(
            f"unknown version '{model_version}' of JumpStart model '{model_id}'; available: {available}"
        ) from None
    # Pin the resolved version so that every later call resolves the same spec.
    kwargs["model_version"] = specs.version
    what = f"{model_id} {specs.version} in region {region} on {instance_type}"
    try:
        image_uri = sdk["image_uris"].retrieve(
            framework=None, image_scope="inference", instance_type=instance_type, **kwargs)
        model_uri = sdk["model_uris"].retrieve(model_scope="inference", instance_type=instance_type, **kwargs)
        environment = sdk["environment_variables"].retrieve_default(instance_type=instance_type, **kwargs)
    except ValueError as e:
        raise JumpStartError(f"no inference image or artifact for {what}: {e}") from None
    if not image_uri:
        raise JumpStartError(f"no inference image for {what}")
    uses_script = bool(specs.use_inference_script_uri())
    script_uri = sdk["script_uris"].retrieve(script_scope="inference", **kwargs) if uses_script else None
    has_predictor = bool(specs.predictor_specs)
    return {
        "model_version": specs.version,
        "image_uri": image_uri,
        "environment": dict(environment or {}),
        "content_types": list(sdk["content_types"].retrieve_options(**kwargs)) if has_predictor else [],
        "accept_types": list(sdk["accept_types"].retrieve_options(**kwargs)) if has_predictor else [],
        "model_uri": model_uri,
        "script_uri": script_uri,
        "artifact_kind": "prefix" if model_uri.endswith("/") else ("tarball" if uses_script else "prepacked"),
    }


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

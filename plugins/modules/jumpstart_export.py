#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: jumpstart_export
short_description: Resolve a SageMaker JumpStart model and copy its artifact into your bucket
version_added: 0.1.0
description:
  - Resolves a SageMaker JumpStart model for a region and an instance type with the SageMaker SDK's own
    JumpStart code (C(sagemaker-core)) - the inference image URI, the model artifact (prepacked tarball,
    tarball plus script bundle, or S3 prefix), the default environment and the content/accept types.
  - Copies the artifact into O(bucket) as one C(model.tar.gz), repacked the way SageMaker repacks
    network-isolated models (model files at the archive root, the script bundle under C(code/)).
    Prepacked artifacts are copied byte for byte. Repacked archives are deterministic (sorted members,
    fixed mtime, no owners) so the sha256 only depends on the content.
  - The sha256 of the copy and a digest of the source objects (their URIs, ETags and sizes) are stored
    in the object metadata (C(x-amz-meta-sha256), C(x-amz-meta-source-digest)). Nothing is copied
    when the recorded source digest and the encryption match.
  - Returns what a Kubernetes Deployment of the SageMaker hosting contract needs.
  - Additional model data sources of the model (the speculative decoding draft model of the selected inference
    configuration, as the SDK attaches them) are copied beside the artifact, one deterministic
    C(additional-model-data-sources/<channel>.tar.gz) each, and returned with the path SageMaker mounts them at,
    C(/opt/ml/additional-model-data-sources/<channel>).
  - Every check (parent region, model id, version, catalog shape, image for the region and instance type, source
    objects, destination bucket) runs before anything is written. Refused, with the resolved version and the fix -
    versions that need a newer SageMaker SDK (the catalog's min_version), inference-vulnerable versions, deprecated
    versions unless O(allow_deprecated), models SageMaker deploys from a model package (they cannot run outside
    SageMaker), gated content unless O(accept_eula) (the error names the EULA), images built for GPUs or AWS Neuron
    when the nodes (O(node_instance_type)) have none.
author:
  - edgeml.wavelength contributors
options:
  model_id:
    description: JumpStart model id. Exactly one of O(model_id) and O(models) is required.
    type: str
  models:
    description:
      - Several models in one run (the SageMaker SDK is loaded once), each with its own O(model_id),
        O(model_version), O(instance_type), O(prefix), O(accept_eula), O(allow_deprecated) and O(inference_config);
        options not given in an entry take the module's value (except O(prefix), an entry without one gets the
        default prefix). RV(results) holds a result per entry, in order.
    type: list
    elements: dict
    suboptions:
      model_id: {description: JumpStart model id., type: str, required: true}
      model_version: {description: As O(model_version)., type: str}
      instance_type: {description: As O(instance_type)., type: str}
      prefix: {description: As O(prefix) (no default from the module's O(prefix))., type: str}
      accept_eula: {description: As O(accept_eula)., type: bool}
      allow_deprecated: {description: As O(allow_deprecated)., type: bool}
      inference_config: {description: As O(inference_config)., type: str}
  model_version:
    description:
      - JumpStart model version or version pattern; V(*) selects the newest. The resolved version is returned.
    type: str
    default: "*"
  instance_type:
    description:
      - EC2 instance type the model runs on (for example V(t3.xlarge)); mapped to SageMaker's V(ml.t3.xlarge)
        form to select the image variant. V(ml.*) values are accepted as they are.
    type: str
    required: true
  bucket:
    description: Destination bucket for the artifact. It must exist and be writable.
    type: str
    required: true
  prefix:
    description:
      - Key prefix of the copy; the object is C(<prefix>model.tar.gz).
      - Defaults to C(<base_prefix><model_id>/<resolved version>/), with C(<inference_config>/) appended when
        O(inference_config) is set.
      - Additional model data sources are copied to C(<prefix>additional-model-data-sources/<channel>.tar.gz).
    type: str
  base_prefix:
    description:
      - Root of the default versioned prefix, used when O(prefix) is not set.
      - Lets one IAM policy scope read access to everything a deployment exported (for example C(edgeml/jumpstart/)).
    type: str
    default: jumpstart/
  encryption:
    description: Server-side encryption of the copy.
    type: str
    choices: [AES256, aws:kms]
    default: AES256
  encryption_key_id:
    description: KMS key for O(encryption=aws:kms); the bucket's or AWS managed key when omitted.
    type: str
  accept_eula:
    description:
      - Accept the end-user license agreement (EULA) of a gated model or of its gated additional data sources, as
        SageMaker's C(accept_eula=True) does. Without it a gated model is refused and the error names the EULA.
      - The result's RV(eula) records the EULA locations and the acceptance.
    type: bool
    default: false
  allow_deprecated:
    description:
      - Export a version the JumpStart catalog marks deprecated (with a warning). A version flagged
        inference-vulnerable is refused all the same.
    type: bool
    default: false
  inference_config:
    description:
      - Inference configuration of a model that has several (the catalog's C(inference_configs)); its artifact,
        image, environment and additional data sources are exported.
      - Defaults to the one the SageMaker SDK ranks first. The chosen one is returned in RV(inference_config).
      - When set, the default O(prefix) ends in C(<inference_config>/).
    type: str
  node_instance_type:
    description:
      - EC2 instance type of the nodes the model runs on, when O(instance_type) is another type (chosen for the
        image). An image built for GPUs or AWS Neuron is refused when these nodes have none.
      - Defaults to O(instance_type).
    type: str
  jumpstart_environment:
    description:
      - SDK override variables (C(AWS_JUMPSTART_*)) set while resolving, for example a local catalog
        (C(AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE), C(AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE)),
        C(AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE) and, for gated content, C(AWS_JUMPSTART_GATED_CONTENT_BUCKET_OVERRIDE).
      - The directories must exist; the SDK would otherwise silently fall back to the public catalog.
    type: dict
    default: {}
notes:
  - O(region) must be the parent region of the Wavelength zones (for example V(us-east-1)), never a zone name.
  - The copy is built in the module's temporary directory; it needs free space for the artifact.
  - Only the encryption algorithm of an existing copy is compared, not the KMS key.
  - In check mode a missing O(bucket) is reported as a change with a warning (an earlier task of the same
    run may create it); outside check mode it is an error.
  - The SageMaker SDK works through the module's own connection, as the module's S3 client does - the credentials
    (O(access_key), O(secret_key) and O(session_token), or O(profile), or else the environment, the shared
    configuration files, a container or an instance role), the region and O(endpoint_url) - and reads the catalog
    (unless overridden by O(jumpstart_environment)) with the module's S3 client.
requirements:
  - sagemaker-core >= 2.27
  - boto3
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Export the sentiment model for t3.xlarge nodes of us-east-1 Wavelength zones
  edgeml.wavelength.jumpstart_export:
    model_id: edgeml-tc-minilm-l6-sentiment-int8
    region: us-east-1
    instance_type: t3.xlarge
    bucket: my-model-artifacts
  register: sentiment_export

- name: Export a gated model, its EULA read and accepted, with an inference configuration of its own
  edgeml.wavelength.jumpstart_export:
    model_id: edgeml-tc-inference-configs
    inference_config: onnx-int8-draft
    accept_eula: true
    region: us-east-1
    instance_type: t3.xlarge
    bucket: my-model-artifacts
  register: draft_export

- name: Resolve against a local catalog (what the edge lab does)
  edgeml.wavelength.jumpstart_export:
    model_id: edgeml-tc-minilm-l6-sentiment-int8
    model_version: "1.*"
    region: us-east-1
    instance_type: t3.xlarge
    bucket: edgeml-lab-artifacts
    jumpstart_environment:
      AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE: "{{ playbook_dir }}/lab/catalog"
      AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE: "{{ playbook_dir }}/lab/catalog"
      AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE: edgelab-jumpstart-content
"""

RETURN = r"""
results:
  description: With O(models), a result per entry in their order, each with the keys below (and C(changed)).
  returned: when O(models) is given
  type: list
  elements: dict
model_id:
  description: The JumpStart model id.
  returned: always
  type: str
  sample: edgeml-tc-minilm-l6-sentiment-int8
model_version:
  description: The resolved model version.
  returned: always
  type: str
  sample: 1.0.0
region:
  description: The parent region used for resolution.
  returned: always
  type: str
  sample: us-east-1
instance_type:
  description: The SageMaker form of the instance type used for resolution.
  returned: always
  type: str
  sample: ml.t3.xlarge
image_uri:
  description: Inference image for the region and instance type.
  returned: always
  type: str
  sample: 763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.8-cpu
args:
  description: Container arguments of the SageMaker hosting contract (keep the image entrypoint).
  returned: always
  type: list
  elements: str
  sample: [serve]
environment:
  description: Default inference environment variables of the model, as the SDK returns them.
  returned: always
  type: dict
  sample: {SAGEMAKER_PROGRAM: inference.py, SAGEMAKER_SUBMIT_DIRECTORY: /opt/ml/model/code}
port:
  description: Container port of the hosting contract.
  returned: always
  type: int
  sample: 8080
readiness_path:
  description: HTTP path answering 200 when the model is loaded.
  returned: always
  type: str
  sample: /ping
content_types:
  description: Request content types the model accepts (empty when the model has no predictor specs).
  returned: always
  type: list
  elements: str
  sample: [application/x-text]
accept_types:
  description: Response types the model can produce.
  returned: always
  type: list
  elements: str
  sample: [application/json;verbose, application/json]
artifact_kind:
  description: Source layout, V(prepacked) (copied as is), V(tarball) or V(prefix) (repacked with the script bundle).
  returned: always
  type: str
  sample: prepacked
source_uris:
  description: The JumpStart source objects (model artifact, then script bundle when used).
  returned: always
  type: list
  elements: str
source_digest:
  description: sha256 over the source objects' URIs, ETags and sizes, recorded on the copy.
  returned: always
  type: str
artifact_s3_uri:
  description: The copy, C(s3://bucket/prefix/model.tar.gz).
  returned: always
  type: str
  sample: s3://my-model-artifacts/jumpstart/edgeml-tc-minilm-l6-sentiment-int8/1.0.0/model.tar.gz
artifact_sha256:
  description: sha256 of the copy; null in check mode when the copy would be (re)made.
  returned: always
  type: str
artifact_size:
  description: Size of the copy in bytes; null in check mode when the copy would be (re)made.
  returned: always
  type: int
inference_config:
  description: The inference configuration exported (O(inference_config) or the SDK's default); null when the model has none.
  returned: always
  type: str
  sample: onnx-int8
inference_configs:
  description: The model's inference configurations (empty when it has none).
  returned: always
  type: list
  elements: str
deprecated:
  description: Whether the exported version is deprecated in the catalog (exported only with O(allow_deprecated)).
  returned: always
  type: bool
eula:
  description:
    - For gated content, the EULA locations (the form the SageMaker SDK names them in) and their acceptance
      (O(accept_eula)); null when nothing is gated.
    - C(uri) is the model's own EULA (null when only an additional data source is gated), C(uris) every EULA accepted.
  returned: always
  type: dict
  sample: {accepted: true, uri: "https://jumpstart-cache-prod-us-east-1.s3.us-east-1.amazonaws.com/fmhMetadata/eula/llama3Eula.txt",
           uris: ["https://jumpstart-cache-prod-us-east-1.s3.us-east-1.amazonaws.com/fmhMetadata/eula/llama3Eula.txt"]}
additional_data_sources:
  description:
    - The additional model data sources copied beside the artifact, for the Deployment to mount read-only at
      C(container_path) (where SageMaker mounts them); empty for most models.
    - Each has C(channel_name), C(container_path) (C(/opt/ml/additional-model-data-sources/<channel_name>)),
      C(source_uri), C(s3_data_type), C(compression_type), C(eula_uri) (null unless gated), C(artifact_s3_uri) (a
      gzip tarball of the channel's files), C(artifact_sha256) and C(artifact_size) (null in check mode when the copy
      would be (re)made) and C(source_digest).
  returned: always
  type: list
  elements: dict
resource_requirements:
  description:
    - The catalog's hosting resource requirements for the instance type (C(hosting_resource_requirements), the
      instance type's variant over it), such as C(min_memory_mb) and C(num_accelerators); empty when the catalog
      gives none. The model_deploy role raises the container's resources to them (filter model_resources).
  returned: always
  type: dict
  sample: {min_memory_mb: 8192, num_accelerators: 1}
"""

import os
import posixpath
import tarfile
import tempfile

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info, is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.edgeml.wavelength.plugins.module_utils import jumpstart as js

# Bump when the repack layout changes: existing copies then no longer match and are rebuilt.
REPACK_FORMAT = "edgeml-repack-1"
ARTIFACT_NAME = "model.tar.gz"
# Beside the artifact: one archive per additional model data source channel, <prefix><CHANNEL_DIR>/<channel>.tar.gz.
CHANNEL_DIR = "additional-model-data-sources"


def fail_on_error(module, what, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=what)


def list_pages(s3, bucket, prefix):
    return list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))


def check_bucket(module, s3, bucket):
    """True when the bucket exists; in check mode a missing bucket may be created by an earlier task."""
    try:
        s3.head_bucket(Bucket=bucket, aws_retry=True)
        return True
    except is_boto3_error_code(["404", "NoSuchBucket"]):
        if module.check_mode:
            module.warn(f"bucket '{bucket}' does not exist (yet): a real run fails unless it is created first")
            return False
        module.fail_json(msg=f"bucket '{bucket}' does not exist: create it first (the edgeml.wavelength.model_artifacts role "
                             "does) or set the right bucket name")
    except is_boto3_error_code(["403", "AccessDenied"]):  # pylint: disable=duplicate-except
        module.fail_json(msg=f"bucket '{bucket}' is not accessible (access denied): check that these credentials may "
                             "s3:ListBucket, s3:GetObject and s3:PutObject on it, or that it is yours")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"cannot access bucket '{bucket}'")


def list_sources(module, s3, resolved):
    """[(uri, etag, size, relative destination)] of every source object; fails when one is missing."""
    sources = []
    uris = [resolved["model_uri"]] + ([resolved["script_uri"]] if resolved["script_uri"] else [])
    for index, uri in enumerate(uris):
        bucket, key = js.split_s3_uri(uri)
        role = "model" if index == 0 else "code"
        if key.endswith("/"):
            pages = fail_on_error(module, f"cannot list {uri}", list_pages, s3, bucket, key)
            objects = [o for p in pages for o in p.get("Contents", []) if not o["Key"].endswith("/")]
            if not objects:
                module.fail_json(msg=f"JumpStart source artifact {uri} is empty or missing")
            for obj in objects:
                rel = obj["Key"][len(key):]
                if rel.startswith("/") or ".." in rel.split("/"):
                    module.fail_json(msg=f"unsafe object key under {uri}: {obj['Key']}")
                sources.append((f"s3://{bucket}/{obj['Key']}", obj["ETag"], obj["Size"], role, rel))
            continue
        try:
            head = s3.head_object(Bucket=bucket, Key=key, aws_retry=True)
        except is_boto3_error_code(["404", "NoSuchKey", "403", "AccessDenied"]) as e:
            code = e.response["Error"]["Code"]
            module.fail_json(msg=f"JumpStart source artifact {uri} is missing or not readable ({code})")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg=f"cannot read {uri}")
        sources.append((uri, head["ETag"], head["ContentLength"], role, None))
    return sources


def list_channel_sources(module, s3, source):
    """[(uri, etag, size, relative destination or None for an archive to unpack)] of an additional data source.

    S3Prefix: every object under the prefix, at its relative path (SageMaker copies the prefix into the channel).
    S3Object: one object, unpacked when CompressionType is Gzip (as SageMaker does), else kept under its name.
    """
    uri = source["source_uri"]
    bucket, key = js.split_s3_uri(uri)
    if source["s3_data_type"] == "S3Prefix":
        prefix = key if key.endswith("/") or not key else key + "/"
        pages = fail_on_error(module, f"cannot list {uri}", list_pages, s3, bucket, prefix)
        objects = [o for p in pages for o in p.get("Contents", []) if not o["Key"].endswith("/")]
        if not objects:
            module.fail_json(msg=f"additional model data source {source['channel_name']} ({uri}) is empty or missing")
        found = []
        for obj in objects:
            rel = obj["Key"][len(prefix):]
            if rel.startswith("/") or ".." in rel.split("/"):
                module.fail_json(msg=f"unsafe object key under {uri}: {obj['Key']}")
            found.append((f"s3://{bucket}/{obj['Key']}", obj["ETag"], obj["Size"], rel))
        return found
    if source["s3_data_type"] != "S3Object" or not key or key.endswith("/"):
        module.fail_json(msg=f"additional model data source {source['channel_name']} ({uri}) has the S3 data type "
                             f"{source['s3_data_type']!r}: only S3Prefix and S3Object (as SageMaker) are supported")
    try:
        head = s3.head_object(Bucket=bucket, Key=key, aws_retry=True)
    except is_boto3_error_code(["404", "NoSuchKey", "403", "AccessDenied"]) as e:
        code = e.response["Error"]["Code"]
        module.fail_json(msg=f"additional model data source {source['channel_name']} ({uri}) is missing or not "
                             f"readable ({code})")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"cannot read {uri}")
    rel = None if source["compression_type"] == "Gzip" else posixpath.basename(key)
    return [(uri, head["ETag"], head["ContentLength"], rel)]


def build_channel(s3, objects, workdir, channel):
    """Download a channel's objects and pack them (at the archive root) into a deterministic tarball."""
    client = s3.client
    tree = os.path.join(workdir, "channel-" + channel)
    os.makedirs(tree)
    for index, (uri, _etag, _size, rel) in enumerate(objects):
        bucket, key = js.split_s3_uri(uri)
        if rel is not None:
            dest = os.path.join(tree, *rel.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            client.download_file(bucket, key, dest)
        else:
            archive = os.path.join(workdir, f"channel-{channel}-{index}.tar.gz")
            client.download_file(bucket, key, archive)
            js.extract_tarball(archive, tree)
    path = os.path.join(workdir, f"{channel}.tar.gz")
    js.deterministic_tar_gz(tree, path)
    return path


def current_copy(module, s3, bucket, key):
    try:
        head = s3.head_object(Bucket=bucket, Key=key, aws_retry=True)
    except is_boto3_error_code(["404", "NoSuchKey"]):
        return None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"cannot read s3://{bucket}/{key}")
    meta = head.get("Metadata", {})
    return {
        "sha256": meta.get("sha256"),
        "source_digest": meta.get("source-digest"),
        "size": head["ContentLength"],
        "encryption": head.get("ServerSideEncryption"),
    }


def build_artifact(s3, resolved, sources, workdir):
    """Download the sources and produce the file to upload (prepacked: as is; otherwise repacked)."""
    client = s3.client  # transfer helpers live on the unwrapped client
    if resolved["artifact_kind"] == "prepacked":
        path = os.path.join(workdir, ARTIFACT_NAME)
        bucket, key = js.split_s3_uri(sources[0][0])
        client.download_file(bucket, key, path)
        return path
    tree = os.path.join(workdir, "tree")
    os.makedirs(os.path.join(tree, "code"))
    for index, (uri, _etag, _size, role, rel) in enumerate(sources):
        bucket, key = js.split_s3_uri(uri)
        dest_root = tree if role == "model" else os.path.join(tree, "code")
        if rel is not None:  # one object of an S3 prefix: keep its relative path
            dest = os.path.join(dest_root, *rel.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            client.download_file(bucket, key, dest)
        else:  # a tarball: unpack it in place (SageMaker's repack does the same)
            archive = os.path.join(workdir, f"source-{index}.tar.gz")
            client.download_file(bucket, key, archive)
            js.extract_tarball(archive, dest_root)
    path = os.path.join(workdir, ARTIFACT_NAME)
    js.deterministic_tar_gz(tree, path)
    return path


def sdk_boto_session(module):
    """boto3 session for the SageMaker SDK from the module's connection parameters, as module.client builds its
    clients (get_aws_connection_info: parameters, else environment, profile, instance role). The credentials are
    resolved here, once: the instance metadata service is only asked when nothing else provides credentials."""
    region, _endpoint_url, connection = get_aws_connection_info(module)
    try:
        session = js.boto3_session(region, **connection)
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as e:
        module.fail_json_aws(e, msg="cannot set up the AWS session for the SageMaker SDK")
    if credentials is None:
        module.fail_json(msg="no AWS credentials found: set access_key and secret_key (and session_token) or profile, "
                             "or provide them through the environment, the shared credentials/config files, "
                             "or a container or instance role")
    return session


def main():
    argument_spec = dict(
        model_id=dict(type="str"),
        models=dict(type="list", elements="dict", options=dict(
            model_id=dict(type="str", required=True),
            model_version=dict(type="str"),
            instance_type=dict(type="str"),
            prefix=dict(type="str"),
            accept_eula=dict(type="bool"),
            allow_deprecated=dict(type="bool"),
            inference_config=dict(type="str"),
        )),
        model_version=dict(type="str", default="*"),
        instance_type=dict(type="str", required=True),
        bucket=dict(type="str", required=True),
        prefix=dict(type="str"),
        base_prefix=dict(type="str", default="jumpstart/"),
        encryption=dict(type="str", choices=["AES256", "aws:kms"], default="AES256"),
        encryption_key_id=dict(type="str", no_log=False),
        jumpstart_environment=dict(type="dict", default={}),
        accept_eula=dict(type="bool", default=False),
        allow_deprecated=dict(type="bool", default=False),
        inference_config=dict(type="str"),
        node_instance_type=dict(type="str"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_one_of=[("model_id", "models")], mutually_exclusive=[("model_id", "models")])
    p = module.params
    region = module.region

    # 1. Inputs, then resolution: everything that can fail before a write fails here.
    error = js.check_region(region)
    errors = ([error] if error else []) + js.check_jumpstart_environment(p["jumpstart_environment"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    s3 = module.client("s3", retry_decorator=AWSRetry.jittered_backoff())
    boto_session = sdk_boto_session(module)
    try:
        if p["node_instance_type"]:
            js.sagemaker_instance_type(p["node_instance_type"])  # the same form check
        js.apply_jumpstart_environment(p["jumpstart_environment"])
        # The SDK gets the module's session and S3 client (s3.client: endpoint, CA bundle, config), not its own.
        sagemaker_session = js.sdk_session(boto_session, s3.client)
    except js.JumpStartError as e:
        module.fail_json(msg=str(e))
    except ImportError as e:
        module.fail_json(msg=f"the SageMaker SDK's JumpStart code is required: pip install sagemaker-core ({e})")
    if p["models"] is None:
        module.exit_json(**export(module, s3, sagemaker_session, p))
    # An entry's own prefix only: one prefix for several models would make them overwrite each other.
    results = [export(module, s3, sagemaker_session,
                      dict(p, prefix=None, **{k: v for k, v in entry.items() if v is not None}))
               for entry in p["models"]]
    copies = {f"{r['model_id']}@{r['model_version']}" + (f"/{r['inference_config']}" if r["inference_config"] else ""): r
              for r in results if "diff" in r}
    diff = {"before": {k: r["diff"]["before"] for k, r in copies.items()},
            "after": {k: r["diff"]["after"] for k, r in copies.items()}}
    module.exit_json(changed=any(r["changed"] for r in results), results=results,
                     **({"diff": diff} if module._diff else {}))


def export(module, s3, sagemaker_session, p):
    """Resolve one model (p: the module's options with the entry's) and copy it unless up to date; the result."""
    region = module.region
    try:
        instance_type = js.sagemaker_instance_type(p["instance_type"])
        resolved = js.resolve(p["model_id"], p["model_version"], region, instance_type, sagemaker_session,
                              accept_eula=p["accept_eula"], allow_deprecated=p["allow_deprecated"],
                              inference_config=p["inference_config"], node_instance_type=p["node_instance_type"])
    except js.JumpStartError as e:
        module.fail_json(msg=str(e))
    except ImportError as e:
        module.fail_json(msg=f"the SageMaker SDK's JumpStart code is required: pip install sagemaker-core ({e})")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"cannot read the JumpStart catalog of region {region}")

    for warning in resolved["warnings"]:
        module.warn(warning)
    default_prefix = f"{p['base_prefix']}{p['model_id']}/{resolved['model_version']}/"
    if p["inference_config"]:
        default_prefix += f"{resolved['inference_config']}/"
    prefix = p["prefix"] if p["prefix"] is not None else default_prefix
    key = posixpath.join(prefix.strip("/"), ARTIFACT_NAME) if prefix.strip("/") else ARTIFACT_NAME
    bucket = p["bucket"]
    artifact_uri = f"s3://{bucket}/{key}"

    bucket_exists = check_bucket(module, s3, bucket)
    sources = list_sources(module, s3, resolved)
    digest = js.source_digest([(REPACK_FORMAT, resolved["artifact_kind"])] + [s[:3] for s in sources])
    channels = []
    for source in resolved["additional_data_sources"]:
        objects = list_channel_sources(module, s3, source)
        channel_key = posixpath.join(posixpath.dirname(key), CHANNEL_DIR, f"{source['channel_name']}.tar.gz")
        channel_digest = js.source_digest([(REPACK_FORMAT, "channel", source["channel_name"])]
                                          + [o[:3] for o in objects])
        channels.append((source, objects, channel_key, channel_digest))

    # 2. Decide.
    def up_to_date(copy, wanted):
        return bool(copy and copy["sha256"] and copy["source_digest"] == wanted and copy["encryption"] == p["encryption"])

    before = current_copy(module, s3, bucket, key) if bucket_exists else None
    copy_artifact = not up_to_date(before, digest)
    sha256 = before["sha256"] if not copy_artifact else None
    size = before["size"] if not copy_artifact else None
    channel_results, channel_before = [], {}
    for source, _objects, channel_key, channel_digest in channels:
        current = current_copy(module, s3, bucket, channel_key) if bucket_exists else None
        channel_before[source["channel_name"]] = current
        fresh = up_to_date(current, channel_digest)
        channel_results.append(dict(source, artifact_s3_uri=f"s3://{bucket}/{channel_key}",
                                    artifact_sha256=current["sha256"] if fresh else None,
                                    artifact_size=current["size"] if fresh else None, source_digest=channel_digest))
    changed = copy_artifact or any(c["artifact_sha256"] is None for c in channel_results)

    # 3. Write, outside check mode only.
    def upload(path, upload_key, metadata):
        extra = {
            "ContentType": "application/gzip",
            "ServerSideEncryption": p["encryption"],
            "Metadata": dict(metadata, **{"jumpstart-model-id": p["model_id"],
                                          "jumpstart-model-version": resolved["model_version"]}),
        }
        if p["encryption"] == "aws:kms" and p["encryption_key_id"]:
            extra["SSEKMSKeyId"] = p["encryption_key_id"]
        fail_on_error(module, f"cannot upload s3://{bucket}/{upload_key}",
                      s3.client.upload_file, path, bucket, upload_key, ExtraArgs=extra)

    if changed and not module.check_mode:
        with tempfile.TemporaryDirectory(dir=module.tmpdir) as workdir:
            try:
                if copy_artifact:
                    path = build_artifact(s3, resolved, sources, workdir)
                    sha256, size = js.file_sha256(path), os.path.getsize(path)
                    metadata = {"sha256": sha256, "source-digest": digest}
                    if resolved["eula"]:
                        metadata["eula-accepted"] = "true"
                        metadata["eula-uris"] = " ".join(resolved["eula"]["uris"])
                    upload(path, key, metadata)
                for (source, objects, channel_key, channel_digest), result in zip(channels, channel_results, strict=True):
                    if result["artifact_sha256"] is None:
                        path = build_channel(s3, objects, workdir, source["channel_name"])
                        result["artifact_sha256"], result["artifact_size"] = js.file_sha256(path), os.path.getsize(path)
                        upload(path, channel_key, {"sha256": result["artifact_sha256"], "source-digest": channel_digest,
                                                   "channel-name": source["channel_name"]})
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg="cannot download the JumpStart source artifact")
            except (OSError, ValueError, tarfile.TarError) as e:
                module.fail_json(msg=f"cannot repack the JumpStart artifact: {e}")

    result = dict(
        changed=changed,
        model_id=p["model_id"],
        model_version=resolved["model_version"],
        region=region,
        instance_type=instance_type,
        image_uri=resolved["image_uri"],
        args=["serve"],
        environment=resolved["environment"],
        port=8080,
        readiness_path="/ping",
        content_types=resolved["content_types"],
        accept_types=resolved["accept_types"],
        artifact_kind=resolved["artifact_kind"],
        source_uris=[u for u in (resolved["model_uri"], resolved["script_uri"]) if u],
        source_digest=digest,
        artifact_s3_uri=artifact_uri,
        artifact_sha256=sha256,
        artifact_size=size,
        inference_config=resolved["inference_config"],
        inference_configs=resolved["inference_configs"],
        deprecated=resolved["deprecated"],
        eula=resolved["eula"],
        additional_data_sources=channel_results,
        resource_requirements=resolved["resource_requirements"],
    )
    if module._diff:
        old = {"artifact_s3_uri": artifact_uri, "sha256": before["sha256"], "source_digest": before["source_digest"],
               "encryption": before["encryption"]} if before else {}
        new = {"artifact_s3_uri": artifact_uri, "sha256": sha256 or "(computed when copied)",
               "source_digest": digest, "encryption": p["encryption"]}
        if channel_results:  # only for models that have additional data sources: the usual diff stays as it was
            old_channels = {name: {"sha256": c["sha256"], "source_digest": c["source_digest"]}
                            for name, c in channel_before.items() if c}
            new_channels = {c["channel_name"]: {"sha256": c["artifact_sha256"] or "(computed when copied)",
                                                "source_digest": c["source_digest"]} for c in channel_results}
            if before or old_channels:
                old = dict(old, additional_data_sources=old_channels)
            new["additional_data_sources"] = new_channels
        result["diff"] = dict(before=old, after=new if changed else old)
    return result


if __name__ == "__main__":
    main()

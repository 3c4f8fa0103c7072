"""edgeml.wavelength.jumpstart_export on every catalog shape of the lab catalog (lab/catalog, edgelab.catalog_spec).

The module runs in-process against the in-process AWS endpoint; the SageMaker SDK reads the committed lab catalog
through its own override variables, and the catalog's content (edgelab.catalog.content) is seeded into per-test
content, gated and destination buckets. Each shape has a clear result or a clear error naming the model, the version
and the fix.
"""

import hashlib
import io
import json
import os
import tarfile

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.edgeml.wavelength.plugins.module_utils import jumpstart as js
from ansible_collections.edgeml.wavelength.plugins.modules import jumpstart_export
from edgelab import catalog
from edgelab import catalog_spec as spec

REGION = "us-east-1"
LAB_CATALOG = spec.HERE


def tar_gz(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MODEL = tar_gz({"model.onnx": b"onnx-bytes", "labels.json": b'["negative", "positive"]'})
DRAFT_ROOT = "/opt/ml/additional-model-data-sources"


@pytest.fixture()
def buckets(uid):
    """content, gated and destination buckets, unique per test (the AWS endpoint is shared by the session)."""
    return {"content": f"jsc-{uid}", "gated": f"jsg-{uid}", "dest": f"art-{uid}"}


@pytest.fixture()
def s3(aws_url, buckets):
    client = boto3.client("s3", endpoint_url=aws_url, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    for name in buckets.values():
        client.create_bucket(Bucket=name)
    for (kind, key), body in catalog.content(MODEL).items():
        client.put_object(Bucket=buckets[kind], Key=key, Body=body)
    return client


@pytest.fixture(autouse=True)
def restore_environ():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture()
def export(aws_url, buckets, s3, capsys, tmp_path):
    """Run the module in-process and return its JSON result (failed results included)."""

    def _run(model_id, check=False, **params):
        args = {
            "model_id": model_id, "instance_type": "t3.xlarge", "bucket": buckets["dest"], "region": REGION,
            "endpoint_url": aws_url, "access_key": "testing", "secret_key": "testing",
            "jumpstart_environment": {
                "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": str(LAB_CATALOG),
                "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": str(LAB_CATALOG),
                "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE": buckets["content"],
                "AWS_JUMPSTART_GATED_CONTENT_BUCKET_OVERRIDE": buckets["gated"],
            },
            "_ansible_check_mode": check, "_ansible_diff": True, "_ansible_remote_tmp": str(tmp_path),
        }
        args.update(params)
        with patch_module_args(args), pytest.raises(SystemExit):
            jumpstart_export.main()
        return json.loads(capsys.readouterr().out)

    return _run


def refused(result, *fragments):
    assert result.get("failed") is True, result
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]
    return result["msg"]


def written(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def sdk_eula_url(model_id, key, content_bucket):
    """The EULA location in the SDK's own words (utils.get_formatted_eula_message_template)."""
    from sagemaker.core.jumpstart import utils

    os.environ["AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE"] = content_bucket
    message = utils.get_formatted_eula_message_template(model_id=model_id, region=REGION, hosting_eula_key=key)
    return message.split(" See ", 1)[1].split(" for terms of use", 1)[0]


def test_ordinary_entry_keeps_its_result(export, s3, buckets):
    result = export(spec.MODEL_ID)
    assert result["changed"] is True and result["model_version"] == "1.0.0" and result["artifact_kind"] == "prepacked"
    assert result["artifact_s3_uri"] == f"s3://{buckets['dest']}/jumpstart/{spec.MODEL_ID}/1.0.0/model.tar.gz"
    assert result["inference_config"] is None and result["inference_configs"] == []
    assert result["eula"] is None and result["additional_data_sources"] == [] and result["deprecated"] is False
    assert "additional_data_sources" not in result["diff"]["after"]
    assert "warnings" not in result


def test_script_bundle_entry_still_repacked(export, s3, buckets):
    result = export(spec.MODEL_ID, model_version="0.9.0")
    assert result["changed"] is True and result["artifact_kind"] == "tarball", result
    _, files = channel_members(s3, buckets["dest"], f"jumpstart/{spec.MODEL_ID}/0.9.0/model.tar.gz")
    assert sorted(files) == ["code/inference.py", "labels.json", "model.onnx"]


# --- 1. gated content with an EULA ------------------------------------------------------------------------------------

def test_gated_model_refused_without_accept_eula(export, s3, buckets):
    url = sdk_eula_url(spec.GATED, f"fmhMetadata/eula/{spec.GATED}-eula.txt", buckets["content"])
    assert url == f"https://{buckets['content']}.s3.us-east-1.amazonaws.com/fmhMetadata/eula/{spec.GATED}-eula.txt"
    refused(export(spec.GATED), f"JumpStart model '{spec.GATED}' version 1.0.0", "end-user license agreement", url,
            "accept_eula: true")
    assert written(s3, buckets["dest"]) == []
    # Also in check mode (the preflight): nothing gated passes without the acceptance.
    refused(export(spec.GATED, check=True), url)


def test_gated_model_exported_with_accept_eula(export, s3, buckets):
    url = sdk_eula_url(spec.GATED, f"fmhMetadata/eula/{spec.GATED}-eula.txt", buckets["content"])
    result = export(spec.GATED, accept_eula=True)
    assert result["changed"] is True, result
    assert result["eula"] == {"accepted": True, "uri": url, "uris": [url]}
    assert result["source_uris"] == [f"s3://{buckets['gated']}/{spec.GATED}/1.0.0/model.tar.gz"]  # the gated bucket
    key = f"jumpstart/{spec.GATED}/1.0.0/model.tar.gz"
    assert s3.get_object(Bucket=buckets["dest"], Key=key)["Body"].read() == MODEL
    metadata = s3.head_object(Bucket=buckets["dest"], Key=key)["Metadata"]
    assert metadata["eula-accepted"] == "true" and metadata["eula-uris"] == url
    assert export(spec.GATED, accept_eula=True)["changed"] is False


# --- 2. model packages ------------------------------------------------------------------------------------------------

def test_model_package_refused(export, s3, buckets):
    msg = refused(export(spec.MODEL_PACKAGE), f"JumpStart model '{spec.MODEL_PACKAGE}' version 1.0.0",
                  "from a model package",
                  "arn:aws:sagemaker:us-east-1:865070037744:model-package/edgeml-tc-model-package-v1-0b5c8e2f7a9d",
                  "cannot be exported to run outside SageMaker", "Choose another model")
    assert "None" not in msg
    refused(export(spec.MODEL_PACKAGE, region="us-west-2"), "arn:aws:sagemaker:us-west-2:")
    assert written(s3, buckets["dest"]) == []


# --- 3. additional model data sources ---------------------------------------------------------------------------------

def channel_members(s3, bucket, key):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return body, {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_additional_data_source_copied_beside_the_artifact(export, s3, buckets):
    checked = export(spec.DRAFT, check=True)
    assert checked["changed"] is True and checked["additional_data_sources"][0]["artifact_sha256"] is None
    assert written(s3, buckets["dest"]) == []

    result = export(spec.DRAFT)
    assert result["changed"] is True
    (channel,) = result["additional_data_sources"]
    base = f"jumpstart/{spec.DRAFT}/1.0.0/"
    assert channel["channel_name"] == "draft_model"
    assert channel["container_path"] == f"{DRAFT_ROOT}/draft_model"
    assert result["environment"]["OPTION_SPECULATIVE_DRAFT_MODEL"] == channel["container_path"]  # what the image reads
    assert channel["source_uri"] == f"s3://{buckets['content']}/{spec.DRAFT}/1.0.0/draft/"
    assert channel["s3_data_type"] == "S3Prefix" and channel["compression_type"] == "None"
    assert channel["eula_uri"] is None and result["eula"] is None
    assert channel["artifact_s3_uri"] == f"s3://{buckets['dest']}/{base}additional-model-data-sources/draft_model.tar.gz"
    body, files = channel_members(s3, buckets["dest"], base + "additional-model-data-sources/draft_model.tar.gz")
    assert files == catalog.DRAFT_FILES
    assert channel["artifact_sha256"] == hashlib.sha256(body).hexdigest() and channel["artifact_size"] == len(body)
    assert written(s3, buckets["dest"]) == [base + "additional-model-data-sources/draft_model.tar.gz",
                                            base + "model.tar.gz"]
    assert result["diff"]["after"]["additional_data_sources"]["draft_model"]["sha256"] == channel["artifact_sha256"]

    again = export(spec.DRAFT)
    assert again["changed"] is False and again["additional_data_sources"] == result["additional_data_sources"]

    # A missing channel copy alone is a change, and only it is made again (same bytes: deterministic).
    s3.delete_object(Bucket=buckets["dest"], Key=base + "additional-model-data-sources/draft_model.tar.gz")
    assert export(spec.DRAFT, check=True)["changed"] is True
    remade = export(spec.DRAFT)
    assert remade["changed"] is True and remade["additional_data_sources"] == result["additional_data_sources"]
    assert remade["diff"]["before"]["sha256"] == remade["diff"]["after"]["sha256"] == result["artifact_sha256"]

    # A changed source object changes the channel copy.
    s3.put_object(Bucket=buckets["content"], Key=f"{spec.DRAFT}/1.0.0/draft/config.json", Body=b"{}\n")
    changed = export(spec.DRAFT)
    assert changed["changed"] is True
    assert changed["additional_data_sources"][0]["artifact_sha256"] != channel["artifact_sha256"]


def test_additional_data_source_missing(export, s3, buckets):
    for name in catalog.DRAFT_FILES:
        s3.delete_object(Bucket=buckets["content"], Key=f"{spec.DRAFT}/1.0.0/draft/{name}")
    refused(export(spec.DRAFT), "additional model data source draft_model", "empty or missing")
    assert written(s3, buckets["dest"]) == []


# --- 4. inference configurations --------------------------------------------------------------------------------------

def test_inference_config_default_is_the_sdks(export, s3, buckets):
    from sagemaker.core.jumpstart import utils

    result = export(spec.CONFIGS)
    assert result["changed"] is True, result
    assert result["inference_configs"] == ["onnx-fp32", "onnx-int8", "onnx-int8-draft"]
    assert result["inference_config"] == utils.get_top_ranked_config_name(
        region=REGION, model_id=spec.CONFIGS, model_version="1.0.0") == "onnx-int8"
    assert result["artifact_s3_uri"].endswith(f"jumpstart/{spec.CONFIGS}/1.0.0/model.tar.gz")
    assert result["additional_data_sources"] == [] and "EDGEML_PRECISION" not in result["environment"]


def test_inference_config_selected(export, s3, buckets):
    result = export(spec.CONFIGS, inference_config="onnx-fp32")
    assert result["changed"] is True, result
    assert result["inference_config"] == "onnx-fp32"
    assert result["source_uris"] == [f"s3://{buckets['content']}/{spec.CONFIGS}/1.0.0/fp32/model.tar.gz"]
    assert result["environment"]["EDGEML_PRECISION"] == "fp32"
    assert result["content_types"] == ["application/x-text", "application/json"]
    # Its own prefix: another configuration of the same version never overwrites it.
    assert result["artifact_s3_uri"] == f"s3://{buckets['dest']}/jumpstart/{spec.CONFIGS}/1.0.0/onnx-fp32/model.tar.gz"
    assert export(spec.CONFIGS, inference_config="onnx-fp32")["changed"] is False


def test_inference_config_unknown_or_on_a_model_without_configs(export, s3, buckets):
    refused(export(spec.CONFIGS, inference_config="onnx-int4"), f"JumpStart model '{spec.CONFIGS}' version 1.0.0",
            "no inference configuration 'onnx-int4'", "onnx-fp32, onnx-int8, onnx-int8-draft (default onnx-int8)")
    refused(export(spec.MODEL_ID, inference_config="onnx-fp32"), f"JumpStart model '{spec.MODEL_ID}' version 1.0.0",
            "has no inference configurations", "remove inference_config")


def test_inference_config_with_a_gated_draft_model(export, s3, buckets):
    url = sdk_eula_url(spec.CONFIGS, f"fmhMetadata/eula/{spec.CONFIGS}-eula.txt", buckets["content"])
    refused(export(spec.CONFIGS, inference_config="onnx-int8-draft"),
            f"JumpStart model '{spec.CONFIGS}' version 1.0.0", "inference configuration onnx-int8-draft",
            "additional model data source draft_model", url, "accept_eula: true")
    assert written(s3, buckets["dest"]) == []
    result = export(spec.CONFIGS, inference_config="onnx-int8-draft", accept_eula=True)
    assert result["changed"] is True, result
    assert result["eula"] == {"accepted": True, "uri": None, "uris": [url]}
    (channel,) = result["additional_data_sources"]
    assert channel["source_uri"] == f"s3://{buckets['gated']}/{spec.CONFIGS}/1.0.0/draft/"  # gated provider
    assert channel["eula_uri"] == url
    assert channel["artifact_s3_uri"].endswith(
        f"/jumpstart/{spec.CONFIGS}/1.0.0/onnx-int8-draft/additional-model-data-sources/draft_model.tar.gz")
    assert result["environment"]["OPTION_SPECULATIVE_DRAFT_MODEL"] == channel["container_path"]


# --- 5. deprecated and inference-vulnerable versions ------------------------------------------------------------------

def test_deprecated_version_refused_unless_allowed(export, s3, buckets):
    refused(export(spec.DEPRECATED), f"JumpStart model '{spec.DEPRECATED}' version 2.0.0 (model_version '*')",
            "is deprecated", "its tokenizer files are incomplete", "other versions: 1.0.0", "allow_deprecated: true")
    assert written(s3, buckets["dest"]) == []
    allowed = export(spec.DEPRECATED, allow_deprecated=True)
    assert allowed["changed"] is True and allowed["model_version"] == "2.0.0" and allowed["deprecated"] is True
    assert "is deprecated in the JumpStart catalog" in json.dumps(allowed["warnings"])
    assert "exported because allow_deprecated is set" in json.dumps(allowed["warnings"])
    pinned = export(spec.DEPRECATED, model_version="1.0.0")
    assert pinned["changed"] is True and pinned["deprecated"] is False


def test_vulnerable_version_never_exported(export, s3, buckets):
    for opt_in in (False, True):
        refused(export(spec.VULNERABLE, model_version="1.0.0", allow_deprecated=opt_in),
                f"JumpStart model '{spec.VULNERABLE}' version 1.0.0", "inference-vulnerable", "transformers==4.26.0",
                "allow_deprecated does not apply", "other versions: 1.1.0")
    assert written(s3, buckets["dest"]) == []
    assert export(spec.VULNERABLE)["model_version"] == "1.1.0"


# --- 6. versions that need a newer SDK --------------------------------------------------------------------------------

def test_version_needing_a_newer_sdk(export, s3, buckets):
    refused(export(spec.NEWER_SDK, model_version="2.0.0"), f"JumpStart model '{spec.NEWER_SDK}' version 2.0.0",
            f"needs SageMaker Python SDK {spec.NEWER_SDK_VERSION} or newer", "reports 3.0.0",
            "model_version (1.0.0)")
    refused(export(spec.NEWER_SDK, model_version="2.*"), "version 2.0.0 (model_version '2.*') needs SageMaker")
    latest = export(spec.NEWER_SDK)
    assert latest["model_version"] == "1.0.0"
    assert f"2.0.0 needs SageMaker Python SDK {spec.NEWER_SDK_VERSION}" in json.dumps(latest["warnings"])
    msg = refused(export(spec.NEWER_SDK, model_version="9.9.9"), "unknown version '9.9.9'", "available: 1.0.0",
                  f"newer SageMaker Python SDK: 2.0.0 (needs SDK {spec.NEWER_SDK_VERSION})")
    assert "unknown" in msg


# --- 7. images for accelerators ---------------------------------------------------------------------------------------

def test_gpu_image_refused_on_cpu_nodes(export, s3, buckets):
    refused(export(spec.GPU_ONLY), f"JumpStart model '{spec.GPU_ONLY}' version 1.0.0", spec.GPU_IMAGE,
            "built for GPU", "run the nodes on an instance type with GPU")
    refused(export(spec.GPU_ONLY, instance_type="g4dn.xlarge", node_instance_type="t3.xlarge"),
            "nodes (t3.xlarge) have none", "leave the model's instance_type out")
    assert written(s3, buckets["dest"]) == []
    gpu = export(spec.GPU_ONLY, instance_type="g4dn.xlarge", node_instance_type="g4dn.xlarge")
    assert gpu["changed"] is True and gpu["image_uri"] == spec.GPU_IMAGE
    # The catalog's hosting requirements, the g4dn variant over the model's (as the SDK merges them).
    assert gpu["resource_requirements"] == {"min_memory_mb": spec.GPU_G4DN_MIN_MEMORY_MB, "num_accelerators": 1}
    # The main model's image for g4dn is its CPU image: fine on CPU nodes. It states no resource requirements.
    main = export(spec.MODEL_ID, instance_type="g4dn.xlarge", node_instance_type="t3.xlarge")
    assert main["changed"] is True and main["resource_requirements"] == {}


@pytest.mark.parametrize(("image", "kind"), [
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.8-cpu", "cpu"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.8-gpu", "gpu"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.4.0-tgi2.3.1-gpu-py311-cu124"
     "-ubuntu22.04", "gpu"),
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124", "gpu"),
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference-neuronx:1.13.1-neuronx-py310-sdk2.14.1"
     "-ubuntu20.04", "neuron"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.0.1-cpu-py310", "cpu"),
    ("gpu.registry.example/pytorch-inference:2.0.1-cpu-py310", "cpu"),  # the registry host does not count
    (spec.IMAGE, "cpu"),
])
def test_image_accelerator(image, kind):
    assert js.image_accelerator(image) == kind


@pytest.mark.parametrize(("instance_type", "kind"), [
    ("t3.xlarge", "cpu"), ("ml.r5.2xlarge", "cpu"), ("g4dn.2xlarge", "gpu"), ("ml.p4d.24xlarge", "gpu"),
    ("inf2.xlarge", "neuron"), ("ml.trn1.2xlarge", "neuron"),
])
def test_instance_accelerator(instance_type, kind):
    assert js.instance_accelerator(instance_type) == kind


def test_unreadable_source_archive_is_a_clean_failure(export, s3, buckets):
    s3.put_object(Bucket=buckets["content"], Key=f"{spec.MODEL_ID}/0.9.0/model.tar.gz", Body=b"not a tarball")
    refused(export(spec.MODEL_ID, model_version="0.9.0"), "cannot repack the JumpStart artifact")
    assert written(s3, buckets["dest"]) == []

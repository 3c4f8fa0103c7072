"""The lab JumpStart catalog (SDK format) in lab/catalog/; regenerate with `python -m edgelab.catalog_spec`.

The JSON files are committed; this script only keeps them consistent. Model 1.0.0 is prepacked
(hosting_use_script_uri false); 0.9.0 is the classic script-bundle shape (sourcedir.tar.gz + model.tar.gz)
so that consumers exercise the repack path.

SHAPES are further models, one per catalog shape that AWS's own specs use and that the export must handle (each
serves the same lab model and runtime image, so that every one the export accepts is deployable in the lab):
gated content behind an EULA, a model SageMaker deploys from a model package, an additional model data source
(speculative decoding draft model), inference configurations, deprecated, inference-vulnerable and newer-SDK
versions, and an image built for GPUs. The field names and value forms are those of the public specs
(sagemaker-python-sdk's JumpStartModelSpecs and its captured spec fixtures).
"""

import copy
import json

from edgelab.config import CATALOG_DIR as HERE
from edgelab.config import JUMPSTART_GATED_CONTENT_BUCKET

MODEL_ID = "edgeml-tc-minilm-l6-sentiment-int8"
IMAGE = "127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0"
# A GPU build of the runtime as the DLC tags name them (…-gpu-py311-cu121…): only the GPU-image shape points at it.
GPU_IMAGE = "127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0-gpu-py311-cu121-ubuntu22.04"
REGIONS = ["us-east-1", "us-west-2"]
INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge", "ml.c5.2xlarge",
                  "ml.t3.medium", "ml.t3.xlarge", "ml.r5.2xlarge", "ml.g4dn.xlarge", "ml.g4dn.2xlarge"]
# Gated content lives in JumpStart's private bucket (jumpstart-private-cache-prod-<region> on AWS); the lab's
# stands in through AWS_JUMPSTART_GATED_CONTENT_BUCKET_OVERRIDE.
GATED_CONTENT_BUCKET = JUMPSTART_GATED_CONTENT_BUCKET
# Where SageMaker mounts an additional model data source: /opt/ml/additional-model-data-sources/<channel_name>.
ADDITIONAL_DATA_ROOT = "/opt/ml/additional-model-data-sources"


def env_var(name: str, default, type_: str = "text") -> dict:
    return {"name": name, "type": type_, "default": default, "scope": "container",
            "required_for_model_class": name != "SAGEMAKER_CONTAINER_LOG_LEVEL"}


def spec(version: str, prepacked: bool, model_id: str = MODEL_ID) -> dict:
    prefix = f"{model_id}/{version}"
    body = {
        "model_id": model_id,
        "url": "https://github.com/edgeml/wavelength",
        "version": version,
        "min_sdk_version": "2.0.0",
        "framework": "onnxruntime",
        "framework_version": "1.32.0",
        "py_version": "py311",
        "incremental_training_supported": False,
        "training_supported": False,
        "hosting_ecr_specs": {"framework": "onnxruntime", "framework_version": "1.32.0", "py_version": "py311"},
        "hosting_artifact_key": f"{prefix}/model.tar.gz",
        "hosting_script_key": f"{prefix}/sourcedir.tar.gz",
        "hosting_use_script_uri": not prepacked,
        "inference_vulnerable": False,
        "inference_dependencies": [],
        "inference_vulnerabilities": [],
        "deprecated": False,
        "inference_environment_variables": [
            env_var("SAGEMAKER_PROGRAM", "inference.py"),
            env_var("SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/model/code"),
            env_var("SAGEMAKER_CONTAINER_LOG_LEVEL", "20"),
            env_var("SAGEMAKER_MODEL_SERVER_TIMEOUT", "3600"),
            env_var("ENDPOINT_SERVER_TIMEOUT", 3600, "int"),
            env_var("MODEL_CACHE_ROOT", "/opt/ml/model"),
            env_var("SAGEMAKER_ENV", "1"),
            env_var("SAGEMAKER_MODEL_SERVER_WORKERS", "1"),
        ],
        "predictor_specs": {
            "supported_content_types": ["application/x-text", "application/json"],
            "supported_accept_types": ["application/json;verbose", "application/json"],
            "default_content_type": "application/x-text",
            "default_accept_type": "application/json",
        },
        "default_inference_instance_type": "ml.m5.xlarge",
        "supported_inference_instance_types": INSTANCE_TYPES,
        "hosting_instance_type_variants": {
            "regional_aliases": {region: {"cpu_image_uri": IMAGE} for region in REGIONS},
            "variants": {family: {"regional_properties": {"image_uri": "$cpu_image_uri"}}
                         for family in sorted({t.split(".")[1] for t in INSTANCE_TYPES})},
        },
        "inference_volume_size": 8,
        "dynamic_container_deployment_supported": False,
    }
    if prepacked:
        body["hosting_prepacked_artifact_key"] = f"{prefix}/model.tar.gz"
        body["hosting_prepacked_artifact_version"] = version
        del body["hosting_script_key"]
    return body


VERSIONS = {"1.0.0": True, "0.9.0": False}  # version -> prepacked


# --- catalog shapes ---------------------------------------------------------------------------------------------------

GATED = "edgeml-tc-gated-eula"
MODEL_PACKAGE = "edgeml-tc-model-package"
DRAFT = "edgeml-tc-draft-channel"
CONFIGS = "edgeml-tc-inference-configs"
DEPRECATED = "edgeml-tc-deprecated"
VULNERABLE = "edgeml-tc-vulnerable"
NEWER_SDK = "edgeml-tc-newer-sdk"
GPU_ONLY = "edgeml-tc-gpu-image"
# A model served by the lab's stand-in for the SageMaker TensorFlow Serving container (lab/images/tensorflow-inference:
# root by default, writes into /sagemaker at start, loads slowly), as the product's default BERT model is.
SAGEMAKER_TFS = "edgeml-tc-sagemaker-tfs"
TFS_IMAGE = "127.0.0.1:5001/edgelab/tensorflow-inference:2.19.0-cpu"
GPU_MIN_MEMORY_MB, GPU_G4DN_MIN_MEMORY_MB = 8192, 14336
# The manifest's min_version of the version that needs a newer SDK (sagemaker-core 2.x reports itself as 3.0.0).
NEWER_SDK_VERSION = "4.0.0"


def _eula_key(model_id: str) -> str:
    # Real specs: "fmhMetadata/eula/llama3Eula.txt" (a text object in the public content bucket).
    return f"fmhMetadata/eula/{model_id}-eula.txt"


def _draft_source(model_id: str, version: str, gated: bool) -> dict:
    """A speculative-decoding draft model, as published (bucket-less key prefix, S3Prefix, no compression)."""
    source = {
        "channel_name": "draft_model",
        "artifact_version": "v1",
        "provider": {"name": "JumpStart", "classification": "gated" if gated else "ungated"},
        "s3_data_source": {"s3_uri": f"{model_id}/{version}/draft/", "compression_type": "None",
                           "s3_data_type": "S3Prefix"},
    }
    if gated:
        source["hosting_eula_key"] = _eula_key(model_id)
    return source


def _gated() -> dict:
    body = spec("1.0.0", True, GATED)
    body.update(gated_bucket=True, hosting_eula_key=_eula_key(GATED))
    return body


def _model_package() -> dict:
    """SageMaker deploys it from a model package: no artifact keys of its own (the SDK then builds .../None)."""
    body = spec("1.0.0", True, MODEL_PACKAGE)
    for key in ("hosting_artifact_key", "hosting_prepacked_artifact_key", "hosting_prepacked_artifact_version"):
        del body[key]
    body["hosting_model_package_arns"] = {
        region: f"arn:aws:sagemaker:{region}:865070037744:model-package/edgeml-tc-model-package-v1-0b5c8e2f7a9d"
        for region in REGIONS}
    return body


def _draft() -> dict:
    body = spec("1.0.0", True, DRAFT)
    body["hosting_additional_data_sources"] = {"speculative_decoding": [_draft_source(DRAFT, "1.0.0", False)]}
    body["inference_environment_variables"].append(
        env_var("OPTION_SPECULATIVE_DRAFT_MODEL", f"{ADDITIONAL_DATA_ROOT}/draft_model"))
    return body


def _configs() -> dict:
    """Three inference configurations; the ranking picks onnx-int8, the one the top-level fields describe."""
    body = spec("1.0.0", True, CONFIGS)
    prefix = f"{CONFIGS}/1.0.0"
    body["inference_configs"] = {
        "onnx-int8": {"component_names": ["onnx-int8"]},
        "onnx-fp32": {"component_names": ["onnx-fp32"]},
        "onnx-int8-draft": {"component_names": ["onnx-int8-draft"]},
    }
    body["inference_config_components"] = {
        "onnx-int8": {"hosting_prepacked_artifact_key": f"{prefix}/model.tar.gz"},
        "onnx-fp32": {
            "hosting_artifact_key": f"{prefix}/fp32/model.tar.gz",
            "hosting_prepacked_artifact_key": f"{prefix}/fp32/model.tar.gz",
            "inference_environment_variables": body["inference_environment_variables"]
            + [env_var("EDGEML_PRECISION", "fp32")],
        },
        # One component per configuration, as the public specs do (lmi, lmi-optimized): sagemaker-core 2.27 fails
        # (AttributeError) on a configuration that merges two components.
        "onnx-int8-draft": {
            "hosting_prepacked_artifact_key": f"{prefix}/model.tar.gz",
            "hosting_additional_data_sources": {"speculative_decoding": [_draft_source(CONFIGS, "1.0.0", True)]},
            "inference_environment_variables": body["inference_environment_variables"]
            + [env_var("OPTION_SPECULATIVE_DRAFT_MODEL", f"{ADDITIONAL_DATA_ROOT}/draft_model")],
        },
    }
    body["inference_config_rankings"] = {
        "overall": {"description": "Overall rankings of configs", "rankings": ["onnx-int8", "onnx-fp32",
                                                                               "onnx-int8-draft"]}}
    return body


def _deprecated(version: str) -> dict:
    body = spec(version, True, DEPRECATED)
    if version == "2.0.0":
        body.update(deprecated=True, deprecated_message=(
            f"Version 2.0.0 of {DEPRECATED} is deprecated: its tokenizer files are incomplete. "
            f"Use {MODEL_ID} instead."))
    return body


def _vulnerable(version: str) -> dict:
    body = spec(version, False, VULNERABLE)  # the script bundle carries the dependencies
    if version == "1.0.0":
        body.update(inference_vulnerable=True, inference_dependencies=["transformers==4.26.0"],
                    inference_vulnerabilities=["transformers==4.26.0"])
    return body


def _newer_sdk(version: str) -> dict:
    body = spec(version, True, NEWER_SDK)
    if version == "2.0.0":
        body["min_sdk_version"] = NEWER_SDK_VERSION
    return body


def _gpu_only() -> dict:
    """Real specs alias per accelerator ($gpu_ecr_uri_1); this one has only the GPU image, for every family. Its
    hosting resource requirements are shaped as the catalog's LLM entries give them: model-wide, and per family."""
    body = spec("1.0.0", True, GPU_ONLY)
    body["hosting_resource_requirements"] = {"min_memory_mb": GPU_MIN_MEMORY_MB, "num_accelerators": 1}
    body["hosting_instance_type_variants"] = {
        "regional_aliases": {region: {"gpu_ecr_uri_1": GPU_IMAGE} for region in REGIONS},
        "variants": {family: {"regional_properties": {"image_uri": "$gpu_ecr_uri_1"}}
                     for family in sorted({t.split(".")[1] for t in INSTANCE_TYPES})},
    }
    body["hosting_instance_type_variants"]["variants"]["g4dn"]["properties"] = {
        "resource_requirements": {"min_memory_mb": GPU_G4DN_MIN_MEMORY_MB}}
    return body


def _sagemaker_tfs() -> dict:
    """Also an additional data source (ungated), so that one model proves both: the container's pod spec and a
    channel mounted where SageMaker mounts it."""
    body = spec("1.0.0", True, SAGEMAKER_TFS)
    body["hosting_instance_type_variants"]["regional_aliases"] = {region: {"cpu_image_uri": TFS_IMAGE}
                                                                  for region in REGIONS}
    body["hosting_additional_data_sources"] = {"speculative_decoding": [_draft_source(SAGEMAKER_TFS, "1.0.0", False)]}
    return body


# (model_id, version) -> spec, in manifest order after the main model.
SHAPES = {
    (GATED, "1.0.0"): _gated(),
    (MODEL_PACKAGE, "1.0.0"): _model_package(),
    (DRAFT, "1.0.0"): _draft(),
    (CONFIGS, "1.0.0"): _configs(),
    (DEPRECATED, "1.0.0"): _deprecated("1.0.0"),
    (DEPRECATED, "2.0.0"): _deprecated("2.0.0"),
    (VULNERABLE, "1.0.0"): _vulnerable("1.0.0"),
    (VULNERABLE, "1.1.0"): _vulnerable("1.1.0"),
    (NEWER_SDK, "1.0.0"): _newer_sdk("1.0.0"),
    (NEWER_SDK, "2.0.0"): _newer_sdk("2.0.0"),
    (GPU_ONLY, "1.0.0"): _gpu_only(),
    (SAGEMAKER_TFS, "1.0.0"): _sagemaker_tfs(),
}


def specs() -> dict:
    """Every entry of the catalog: (model_id, version) -> spec."""
    entries = {(MODEL_ID, version): spec(version, prepacked) for version, prepacked in VERSIONS.items()}
    entries.update(copy.deepcopy(SHAPES))
    return entries


def spec_key(version: str, model_id: str = MODEL_ID) -> str:
    return f"community_models/{model_id}/specs_v{version}.json"


def main() -> None:
    manifest = []
    for (model_id, version), body in specs().items():
        keywords = ["text classification", "sentiment", "onnx"]
        manifest.append({"model_id": model_id, "version": version, "min_version": body["min_sdk_version"],
                         "spec_key": spec_key(version, model_id), "search_keywords": keywords})
    (HERE / "models_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for (model_id, version), body in specs().items():
        path = HERE / spec_key(version, model_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2) + "\n")


if __name__ == "__main__":
    main()

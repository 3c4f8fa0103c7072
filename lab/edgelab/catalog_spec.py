"""The lab JumpStart catalog (SDK format) in lab/catalog/; regenerate with `python -m edgelab.catalog_spec`.

The JSON files are committed; this script only keeps them consistent. Model 1.0.0 is prepacked
(hosting_use_script_uri false); 0.9.0 is the classic script-bundle shape (sourcedir.tar.gz + model.tar.gz)
so that consumers exercise the repack path.
"""

import json

from edgelab.config import CATALOG_DIR as HERE

MODEL_ID = "edgeml-tc-minilm-l6-sentiment-int8"
IMAGE = "127.0.0.1:5001/edgeml/sentiment-runtime:1.0.0"
REGIONS = ["us-east-1", "us-west-2"]
INSTANCE_TYPES = ["ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge", "ml.c5.2xlarge",
                  "ml.t3.medium", "ml.t3.xlarge", "ml.r5.2xlarge", "ml.g4dn.xlarge", "ml.g4dn.2xlarge"]


def env_var(name: str, default, type_: str = "text") -> dict:
    return {"name": name, "type": type_, "default": default, "scope": "container",
            "required_for_model_class": name != "SAGEMAKER_CONTAINER_LOG_LEVEL"}


def spec(version: str, prepacked: bool) -> dict:
    prefix = f"{MODEL_ID}/{version}"
    body = {
        "model_id": MODEL_ID,
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


def spec_key(version: str) -> str:
    return f"community_models/{MODEL_ID}/specs_v{version}.json"


def main() -> None:
    manifest = [{"model_id": MODEL_ID, "version": v, "min_version": "2.0.0", "spec_key": spec_key(v),
                 "search_keywords": ["text classification", "sentiment", "onnx"]} for v in VERSIONS]
    (HERE / "models_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for version, prepacked in VERSIONS.items():
        path = HERE / spec_key(version)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec(version, prepacked), indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Parity: the module's resolution equals the SageMaker SDK's own retrieve functions, for every catalog entry.

Runs over the small catalog of test_jumpstart_export.py and, when present, over the lab catalog (lab/catalog). The
entries the SDK itself refuses (deprecated, vulnerable, needing a newer SDK) are refused by the export too; those it
resolves but the export must refuse (model packages, GPU images on CPU types) are covered by test_jumpstart_shapes.
"""

import json
import os

import pytest
from test_jumpstart_export import CONTENT_BUCKET, REPO, js, write_catalog

LAB_CATALOG = REPO / "lab" / "catalog"


def entries(root):
    manifest = json.loads((root / "models_manifest.json").read_text())
    for header in manifest:
        spec = json.loads((root / header["spec_key"]).read_text())
        regions = sorted(spec["hosting_instance_type_variants"]["regional_aliases"])
        types = spec.get("supported_inference_instance_types") or [spec.get("default_inference_instance_type")
                                                                   or "ml.t3.xlarge"]
        for region in regions:
            for instance_type in types:
                yield header["model_id"], header["version"], region, instance_type


def sdk_resolution(model_id, version, region, instance_type):
    """What SageMaker code itself returns, called directly."""
    from sagemaker.core import accept_types, content_types, environment_variables, image_uris, model_uris, script_uris
    from sagemaker.core.jumpstart.utils import verify_model_region_and_return_specs

    kw = dict(model_id=model_id, model_version=version, region=region)
    specs = verify_model_region_and_return_specs(model_id=model_id, version=version, scope="inference",
                                                 region=region)
    return {
        "model_version": specs.version,
        "image_uri": image_uris.retrieve(framework=None, image_scope="inference", instance_type=instance_type, **kw),
        "model_uri": model_uris.retrieve(model_scope="inference", instance_type=instance_type, **kw),
        "script_uri": script_uris.retrieve(script_scope="inference", **kw) if specs.use_inference_script_uri()
        else None,
        "environment": environment_variables.retrieve_default(instance_type=instance_type, **kw),
        "content_types": content_types.retrieve_options(**kw) if specs.predictor_specs else [],
        "accept_types": accept_types.retrieve_options(**kw) if specs.predictor_specs else [],
    }


def catalogs(tmp_root):
    write_catalog(tmp_root)
    found = [("unit", tmp_root)]
    if (LAB_CATALOG / "models_manifest.json").is_file():
        found.append(("lab", LAB_CATALOG))
    return found


@pytest.fixture()
def environ():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_resolution_matches_sdk_for_every_entry(tmp_path, environ):
    checked = []
    for name, root in catalogs(tmp_path / "catalog"):
        js.apply_jumpstart_environment({
            "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": str(root),
            "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": str(root),
            "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE": CONTENT_BUCKET,
        })
        for model_id, version, region, instance_type in entries(root):
            where = (name, model_id, version, region, instance_type)
            try:
                theirs = sdk_resolution(model_id, version, region, instance_type)
            except (KeyError, ValueError):  # deprecated, vulnerable, needs a newer SDK: the export refuses it too
                with pytest.raises(js.JumpStartError):
                    js.resolve(model_id, version, region, js.sagemaker_instance_type(instance_type), accept_eula=True)
                continue
            try:
                ours = js.resolve(model_id, version, region, js.sagemaker_instance_type(instance_type),
                                  accept_eula=True)
            except js.JumpStartError as e:  # shapes the SDK resolves but nothing can run outside SageMaker/on CPUs
                assert "from a model package" in str(e) or "is built for GPU" in str(e), (where, str(e))
                continue
            assert {k: ours[k] for k in theirs} == theirs, where
            assert ours["image_uri"] and ours["model_uri"].startswith("s3://")
            checked.append((name, model_id, version, region, instance_type))
    assert len([c for c in checked if c[0] == "unit"]) >= 4
    if (LAB_CATALOG / "models_manifest.json").is_file():
        assert any(c[0] == "lab" for c in checked), "lab catalog present but no entry checked"

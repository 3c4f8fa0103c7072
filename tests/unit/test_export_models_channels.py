"""export_models: additional model data sources are fetched by the nodes beside their model (<model>.<channel>)."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.export_models import export_models

DRAFT = {"channel_name": "draft", "container_path": "/opt/ml/additional-model-data-sources/draft",
         "artifact_s3_uri": "s3://b/m/additional-model-data-sources/draft.tar.gz", "artifact_sha256": "dd"}


def test_channels_follow_their_model():
    exports = {"m": {"artifact_s3_uri": "s3://b/m.tgz", "artifact_sha256": "aa", "additional_data_sources": [DRAFT]},
               "n": {"artifact_s3_uri": "s3://b/n.tgz", "artifact_sha256": "bb", "additional_data_sources": []}}
    assert export_models(exports) == [
        {"name": "m", "artifact_s3_uri": "s3://b/m.tgz", "artifact_sha256": "aa"},
        {"name": "m.draft", "artifact_s3_uri": DRAFT["artifact_s3_uri"], "artifact_sha256": "dd"},
        {"name": "n", "artifact_s3_uri": "s3://b/n.tgz", "artifact_sha256": "bb"}]


def test_a_channel_not_copied_yet_is_planned_only_in_check_mode():
    exports = {"m": {"artifact_s3_uri": "s3://b/m.tgz", "artifact_sha256": "aa",
                     "additional_data_sources": [DRAFT | {"artifact_sha256": None}]}}
    assert export_models(exports, planned=True)[1]["artifact_sha256"] == "0" * 64
    with pytest.raises(AnsibleFilterError, match="an additional data source of m needs channel_name"):
        export_models(exports)

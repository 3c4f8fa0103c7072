"""The committed demo model (model/artifacts): checksums, recipe record, held-out accuracy (split by movie).

Uses onnxruntime + tokenizers only (the runtime's own loader); the held-out split ships as
model/artifacts/heldout.jsonl.gz, so no torch, no scattertext and no retraining are needed.
"""

import gzip
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "model" / "artifacts"
sys.path.insert(0, str(ARTIFACTS.parents[1] / "runtime"))
from edgeml_runtime.model import SentimentModel

MIN_ACCURACY = 0.83


@pytest.fixture(scope="module")
def params():
    return json.loads((ARTIFACTS / "params.json").read_text())


@pytest.fixture(scope="module")
def heldout():
    with gzip.open(ARTIFACTS / "heldout.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def model():
    return SentimentModel(ARTIFACTS, intra_op_threads=2)


def test_checksums():
    lines = (ARTIFACTS / "SHA256SUMS").read_text().splitlines()
    names = {line.split(maxsplit=1)[1] for line in lines}
    assert names >= {"model.onnx", "tokenizer.json", "labels.json", "config.json", "params.json", "heldout.jsonl.gz"}
    for line in lines:
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((ARTIFACTS / name).read_bytes()).hexdigest() == digest, name


def test_recipe_record(params, heldout):
    assert (params["seed"], params["epochs"], params["batch_size"], params["max_length"]) == (42, 2, 32, 64)
    assert params["learning_rate"] == 4e-5 and params["onnx"]["opset"] == 17
    assert json.loads((ARTIFACTS / "config.json").read_text())["max_length"] == params["max_length"]
    assert json.loads((ARTIFACTS / "labels.json").read_text()) == ["negative", "positive"]
    assert len(heldout) == params["heldout_rows"]
    assert len({r["movie"] for r in heldout}) == params["heldout_movies"]
    assert (ARTIFACTS / "model.onnx").stat().st_size < 30e6  # int8 (fp32 would be ~90 MB)


def test_tokenizer_is_configured_for_serving():
    tok = json.loads((ARTIFACTS / "tokenizer.json").read_text())
    assert tok["padding"] is None and tok["truncation"]["max_length"] == 64


def test_heldout_accuracy_as_served(model, heldout):
    """One text per request, unpadded: exactly what the runtime does for application/x-text."""
    correct = sum(int(model.predict([r["text"]])[0].argmax() == r["label"]) for r in heldout)
    assert correct / len(heldout) >= MIN_ACCURACY


def test_heldout_accuracy_batched_matches_record(model, heldout, params):
    """Padded batches of 64 (the recipe's own evaluation) reproduce the recorded figure."""
    labels = np.array([r["label"] for r in heldout])
    preds = np.concatenate(
        [model.predict([r["text"] for r in heldout[i : i + 64]]).argmax(1) for i in range(0, len(heldout), 64)]
    )
    accuracy = float((preds == labels).mean())
    assert accuracy >= MIN_ACCURACY
    assert accuracy == pytest.approx(params["accuracy_int8_onnx"], abs=5e-3)  # int8 kernels vary by CPU

"""The sentiment model: tokenizer + int8 ONNX classifier. Needs only onnxruntime, tokenizers and numpy."""

import json
import os
from pathlib import Path

import numpy as np

# Must be set before tokenizers is imported: its Rust thread pool only fights ORT for the 2 cores.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import onnxruntime as ort
from tokenizers import Tokenizer

MODEL_FILES = ("model.onnx", "tokenizer.json", "labels.json", "config.json")


class SentimentModel:
    """Loads <model_dir>/{model.onnx,tokenizer.json,labels.json,config.json}; `predict` is thread-safe."""

    def __init__(self, model_dir, intra_op_threads=1):
        d = Path(model_dir)
        missing = [f for f in MODEL_FILES if not (d / f).is_file()]
        if missing:
            raise FileNotFoundError(f"model dir {d} lacks {', '.join(missing)}")
        self.labels = json.loads((d / "labels.json").read_text())
        self.max_length = int(json.loads((d / "config.json").read_text())["max_length"])
        # Two tokenizers because padding is per-instance state: single texts are never padded
        # (padding to a fixed 128 made a request ~5x slower), batches are padded to their longest text.
        self._single = Tokenizer.from_file(str(d / "tokenizer.json"))
        self._single.enable_truncation(max_length=self.max_length)  # long texts are cut, not rejected
        self._single.no_padding()
        self._batch = Tokenizer.from_file(str(d / "tokenizer.json"))
        self._batch.enable_truncation(max_length=self.max_length)
        self._batch.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106
        so = ort.SessionOptions()
        so.intra_op_num_threads = intra_op_threads  # 1: concurrent requests run in parallel on the cores
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-wait on a shared CPU
        self._session = ort.InferenceSession(str(d / "model.onnx"), so, providers=["CPUExecutionProvider"])

    def encode(self, texts):
        if len(texts) == 1:
            enc = [self._single.encode(texts[0])]
        else:
            enc = self._batch.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
        }

    def predict(self, texts):
        """Class probabilities, shape (len(texts), len(labels))."""
        logits = self._session.run(["logits"], self.encode(texts))[0].astype(np.float64)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

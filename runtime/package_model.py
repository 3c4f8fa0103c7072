"""Build the JumpStart model tarball (prepacked: the runtime needs no code/) from model/artifacts.

    python runtime/package_model.py [--artifacts model/artifacts] [--out model.tar.gz]

Deterministic: entries sorted, mtime 0, uid/gid 0 without owner names, mode 0644, gzip header without
name/mtime. Checks the artifacts against SHA256SUMS first. Prints the tarball's sha256 (and a JSON line with
--json).
"""

import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

FILES = ("config.json", "labels.json", "model.onnx", "tokenizer.json")  # sorted; at the tarball root
REPO = Path(__file__).resolve().parent.parent


def verify(artifacts):
    """Raise if a packaged file does not match SHA256SUMS."""
    sums = dict(reversed(line.split(maxsplit=1)) for line in (artifacts / "SHA256SUMS").read_text().splitlines())
    for name in FILES:
        got = hashlib.sha256((artifacts / name).read_bytes()).hexdigest()
        if sums.get(name) != got:
            raise SystemExit(f"{artifacts / name}: sha256 {got} does not match SHA256SUMS")


def build(artifacts, out):
    artifacts, out = Path(artifacts), Path(out)
    verify(artifacts)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in FILES:
            data = (artifacts / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
        gz.write(buf.getvalue())
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", default=str(REPO / "model" / "artifacts"))
    ap.add_argument("--out", default="model.tar.gz")
    ap.add_argument("--json", action="store_true", help="print {path, sha256, size} as JSON")
    args = ap.parse_args(argv)
    digest = build(args.artifacts, args.out)
    if args.json:
        out = Path(args.out)
        print(json.dumps({"path": str(out.resolve()), "sha256": digest, "size": out.stat().st_size}))
    else:
        print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())

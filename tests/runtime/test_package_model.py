"""The JumpStart model tarball: deterministic, flat, owner-free, and checked against SHA256SUMS."""

import hashlib
import shutil
import tarfile

import package_model
import pytest
from conftest import ARTIFACTS


def test_tarball_is_deterministic_and_flat(tmp_path):
    a = package_model.build(ARTIFACTS, tmp_path / "a.tar.gz")
    b = package_model.build(ARTIFACTS, tmp_path / "b.tar.gz")
    assert a == b == hashlib.sha256((tmp_path / "a.tar.gz").read_bytes()).hexdigest()
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["config.json", "labels.json", "model.onnx", "tokenizer.json"]
        for m in members:
            assert m.isfile() and (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (0, 0, 0, "", "", 0o644)
            assert tar.extractfile(m).read() == (ARTIFACTS / m.name).read_bytes()


def test_refuses_artifacts_that_do_not_match_sha256sums(tmp_path):
    bad = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS, bad)
    (bad / "labels.json").write_text('["positive", "negative"]\n')
    with pytest.raises(SystemExit, match=r"labels\.json"):
        package_model.build(bad, tmp_path / "x.tar.gz")


def test_cli_prints_sha256(tmp_path, capsys):
    assert package_model.main(["--out", str(tmp_path / "m.tar.gz")]) == 0
    assert capsys.readouterr().out.strip() == hashlib.sha256((tmp_path / "m.tar.gz").read_bytes()).hexdigest()

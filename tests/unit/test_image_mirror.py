"""edgeml.wavelength.image_mirror and its mirror_images filter: the image stage's by-digest mirror in one module.

skopeo is a stand-in script (argv recorded, registries as a JSON file) so that the module's decisions can be checked
one by one; the real skopeo against the lab's registry runs in tests/roles/test_image_packaging.py and the e2e tests.
The ECR token comes from the in-process AWS endpoint.
"""

import base64
import json
import os
import sys
import textwrap

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.mirror_images import mirror_images

SOURCE_HOST = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
DEST = "123456789012.dkr.ecr.us-east-1.amazonaws.com/edgeml/sentiment"
DIGEST = "sha256:" + "ab" * 32

FAKE = textwrap.dedent("""
    import json, os, stat, sys
    state_path = os.environ["FAKE_SKOPEO_STATE"]
    state = json.load(open(state_path))
    argv = sys.argv[1:]
    auth = argv[argv.index("--authfile") + 1]
    mode = stat.S_IMODE(os.stat(auth).st_mode)
    state["calls"].append({"argv": argv, "auth_mode": mode, "auths": json.load(open(auth))["auths"]})
    ref = argv[-1].removeprefix("docker://")
    out, err, rc = "", "", 0
    if argv[0] == "inspect" and "--raw" not in argv:
        if ref in state["sources"]:
            out = json.dumps({"Digest": state["sources"][ref]})
        else:
            err, rc = "unauthorized: authentication required", 1
    elif argv[0] == "inspect":
        if ref in state["present"]:
            out = "{}"
        else:
            err, rc = state.get("lookup_error", "manifest unknown"), 1
    elif argv[0] == "copy":
        repo = ref.rsplit(":", 1)[0]
        state["present"].append(repo + "@" + argv[-2].split("@")[-1])
    json.dump(state, open(state_path, "w"))
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.exit(rc)
""")


@pytest.fixture()
def skopeo(tmp_path, monkeypatch):
    """A fake skopeo: returns (path, read_state); the state starts with one source image."""
    script = tmp_path / "skopeo"
    script.write_text(f"#!{sys.executable}\n{FAKE}")
    script.chmod(0o755)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"calls": [], "present": [], "sources": {f"{SOURCE_HOST}/hf-inference:2.1.0": DIGEST}}))
    monkeypatch.setenv("FAKE_SKOPEO_STATE", str(state))

    def read():
        return json.loads(state.read_text())

    def update(**changes):
        state.write_text(json.dumps(read() | changes))

    read.update = update
    return str(script), read


def images(repository_uri=DEST):
    return [{"name": "sentiment", "source": f"{SOURCE_HOST}/hf-inference:2.1.0", "version": "2.2.3",
             "repository_uri": repository_uri}]


def test_copies_a_missing_digest_then_finds_it(run, skopeo):
    path, state = skopeo
    r = run("image_mirror", images=images(), skopeo=path)
    assert r["changed"] is True and "failed" not in r
    assert r["images"] == {"sentiment": f"{DEST}@{DIGEST}"}
    assert r["mirror"][0]["tag"] == "2.2.3-" + "ab" * 6 and r["mirror"][0]["copied"] is True
    copy = state()["calls"][-1]["argv"]
    assert copy[0] == "copy" and "--all" in copy and "--preserve-digests" in copy
    assert copy[-2:] == [f"docker://{SOURCE_HOST}/hf-inference@{DIGEST}", f"docker://{DEST}:2.2.3-{'ab' * 6}"]
    # Second run: the digest is there, nothing is copied.
    calls = len(state()["calls"])
    r = run("image_mirror", images=images(), skopeo=path)
    assert r["changed"] is False and r["mirror"][0]["copied"] is False
    assert [c["argv"][0] for c in state()["calls"][calls:]] == ["inspect", "inspect"]


def test_credentials_only_in_a_private_file_removed_afterwards(run, skopeo):
    path, state = skopeo
    r = run("image_mirror", images=images(), skopeo=path)
    calls = state()["calls"]
    assert {c["auth_mode"] for c in calls} == {0o600}
    auth_files = {c["argv"][c["argv"].index("--authfile") + 1] for c in calls}
    assert len(auth_files) == 1
    auth_file = auth_files.pop()
    assert not os.path.exists(auth_file) and not os.path.exists(os.path.dirname(auth_file))
    # Entries for the ECR source registry and the destination, from the token; none in the result.
    auths = calls[0]["auths"]
    assert set(auths) == {SOURCE_HOST, DEST.split("/")[0]}
    assert base64.b64decode(auths[SOURCE_HOST]["auth"]).decode().startswith("AWS:")
    assert auths[SOURCE_HOST]["auth"] not in json.dumps(r)


def test_a_source_outside_ecr_is_read_anonymously(run, skopeo):
    path, state = skopeo
    public = "public.example.org/team/inference:1"
    state.update(sources={public: DIGEST})
    r = run("image_mirror", images=[dict(images()[0], source=public)], skopeo=path)
    assert r["images"] == {"sentiment": f"{DEST}@{DIGEST}"}
    assert set(state()["calls"][0]["auths"]) == {DEST.split("/")[0]}


def test_check_mode_reports_the_copy_and_copies_nothing(run, skopeo):
    path, state = skopeo
    r = run("image_mirror", check=True, diff=True, images=images(), skopeo=path)
    assert r["changed"] is True and r["diff"]["before"] == {"sentiment": "missing"}
    assert "copy" not in [c["argv"][0] for c in state()["calls"]] and state()["present"] == []
    # A repository that does not exist yet (check mode on a new deployment): missing, never looked up.
    r = run("image_mirror", check=True, images=images(repository_uri=""), skopeo=path)
    assert r["changed"] is True and r["images"] == {"sentiment": f"@{DIGEST}"}
    assert [c["argv"][0] for c in state()["calls"][-1:]] == ["inspect"]


def test_errors_name_the_image_and_the_cause(run, skopeo):
    path, state = skopeo
    r = run("image_mirror", images=[dict(images()[0], source=f"{SOURCE_HOST}/nothing:1")], skopeo=path)
    assert r["failed"]
    assert r["msg"].startswith(f"cannot resolve the digest of sentiment's image {SOURCE_HOST}/nothing:1")
    assert "authentication required" in r["msg"]
    state.update(lookup_error="x509: certificate signed by unknown authority")
    r = run("image_mirror", images=images(), skopeo=path)
    assert r["failed"] and "cannot look for sentiment's image" in r["msg"] and "x509" in r["msg"]
    assert "copy" not in [c["argv"][0] for c in state()["calls"]]
    r = run("image_mirror", images=images(), skopeo="no-such-skopeo-here")
    assert r["failed"] and "no-such-skopeo-here" in r["msg"]


def test_tls_verification_follows_the_options(run, skopeo):
    path, state = skopeo
    run("image_mirror", images=images(), skopeo=path, source_tls_verify=False, registry_tls_verify=True)
    argvs = [c["argv"] for c in state()["calls"]]
    assert "--tls-verify=false" in argvs[0] and "--tls-verify=true" in argvs[1]
    assert "--src-tls-verify=false" in argvs[2] and "--dest-tls-verify=true" in argvs[2]


def test_mirror_images_filter():
    models = [{"name": "a"}, {"name": "b"}]
    exports = {"a": {"image_uri": "r/a:1", "model_version": "1.0.0"}, "b": {"image_uri": "r/b:2", "model_version": 2}}
    repositories = [{"name": "p/b", "uri": "ecr/p/b"}, {"name": "p/a", "uri": ""}, {"name": "q/a", "uri": "ecr/q/a"}]
    assert mirror_images(models, exports, repositories, "p") == [
        {"name": "a", "source": "r/a:1", "version": "1.0.0", "repository_uri": ""},
        {"name": "b", "source": "r/b:2", "version": "2", "repository_uri": "ecr/p/b"}]
    with pytest.raises(AnsibleFilterError, match="model b has no export with image_uri"):
        mirror_images(models, {"a": exports["a"]}, repositories, "p")
    with pytest.raises(AnsibleFilterError):
        mirror_images("a", exports, repositories, "p")
    with pytest.raises(AnsibleFilterError, match="prefix must be"):
        mirror_images(models, exports, repositories, "")


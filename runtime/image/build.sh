#!/usr/bin/env bash
# Build the inference image edgeml/sentiment-runtime:1.0.0 offline (no Docker Hub, no Dockerfile):
#   debootstrap --variant=minbase bookworm + python3 (apt, the host's Debian mirror)
#   + onnxruntime/tokenizers/numpy wheels (host pip, the host's index, pins from runtime/requirements.txt)
#   + runtime/edgeml_runtime  -> trimmed rootfs -> `docker import` with USER/ENTRYPOINT/ENV.
# Skips the build when the image already carries the same input digest (label edgeml.input-digest).
# Env: IMAGE (default edgeml/sentiment-runtime:1.0.0), DOCKER_HOST (default the lab dockerd),
#      DEBIAN_MIRROR (default: first URI of /etc/apt/sources.list*), FORCE=1 to rebuild, CACHE_DIR.
# Needs root (debootstrap). Prints the image id.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
IMAGE=${IMAGE:-edgeml/sentiment-runtime:1.0.0}
export DOCKER_HOST=${DOCKER_HOST:-unix:///run/edgelab/docker.sock}
CACHE_DIR=${CACHE_DIR:-$repo/.cache/runtime-image}
SUITE=bookworm
APT_PACKAGES=python3-minimal,libpython3.11-stdlib,libstdc++6,libgomp1
UID_GID=10001

# Runtime pins come from runtime/requirements.txt (also installed in the test venv), so they cannot drift.
pins=$(grep -E '^(onnxruntime|tokenizers|numpy)==' "$repo/runtime/requirements.txt" | sort)
[ "$(echo "$pins" | wc -l)" = 3 ] || { echo "runtime/requirements.txt must pin onnxruntime, tokenizers, numpy" >&2; exit 1; }

# One build at a time (tests and the lab may call this concurrently); the loser then finds the image current.
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock"
flock 9

digest=$( { echo "$pins"; echo "$SUITE $APT_PACKAGES"; cat "$here/build.sh";
            cd "$repo/runtime" && find edgeml_runtime -name '*.py' | sort | xargs sha256sum; } | sha256sum | cut -c1-64)
current=$(docker image inspect -f '{{index .Config.Labels "edgeml.input-digest"}}' "$IMAGE" 2>/dev/null || true)
previous=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if [ "${FORCE:-0}" != 1 ] && [ "$current" = "$digest" ]; then
  echo "$IMAGE is up to date (input digest $digest)" >&2
  docker image inspect -f '{{.Id}}' "$IMAGE"
  exit 0
fi

mirror=${DEBIAN_MIRROR:-$(grep -hoE '^(URIs:|deb) *http[^ ]*debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
  | grep -v security | head -1 | awk '{print $NF}' || true)}
mirror=${mirror:-http://deb.debian.org/debian}

# 1. Base rootfs, cached as a tarball keyed by suite + package list (debootstrap takes a minute or two).
base="$CACHE_DIR/base-$(echo "$SUITE $APT_PACKAGES $mirror" | sha256sum | cut -c1-16).tar"
work=$(mktemp -d "$CACHE_DIR/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
if [ ! -s "$base" ]; then
  debootstrap --variant=minbase --include="$APT_PACKAGES" "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$root" -cf "$base.tmp" . && mv "$base.tmp" "$base"
else
  mkdir -p "$root" && tar -C "$root" -xf "$base"
fi

# 2. Python packages with the host's pip into the image's path: no pip (nor CA bundle) in the image.
# --no-deps: onnxruntime's deps (protobuf, sympy, flatbuffers, coloredlogs) serve its tooling only, and
# tokenizers' huggingface_hub serves from_pretrained downloads; inference needs none of them.
lib="$root/opt/edgeml/lib"
mkdir -p "$lib"
# shellcheck disable=SC2086
python3 -m pip install -q --root-user-action=ignore --no-deps --only-binary=:all: --no-compile --target "$lib" \
  --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 $pins 2>&1 | grep -v '^WARNING: Location' >&2 || true
for p in onnxruntime tokenizers numpy; do [ -d "$lib/$p" ] || { echo "pip did not install $p" >&2; exit 1; }; done
cp -r "$repo/runtime/edgeml_runtime" "$lib/"
printf '#!/bin/sh\nexec /usr/bin/python3 -m edgeml_runtime "$@"\n' >"$root/usr/local/bin/serve"
chmod 755 "$root/usr/local/bin/serve"

# 3. Trim: docs, man pages, locales, apt/dpkg caches, package tooling data, tests, headers, bytecode caches.
rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,linda,common-licenses} "$root"/var/cache/* \
  "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/usr/include "$root"/tmp/* \
  "$lib"/bin "$lib"/*/tests "$lib"/numpy/*/tests "$lib"/onnxruntime/{tools,transformers,quantization,datasets} \
  "$lib"/numpy/_core/include "$lib"/numpy/{f2py,_pyinstaller,typing,doc}
find "$root" -name __pycache__ -prune -exec rm -rf {} +
find "$lib" \( -name '*.pyi' -o -name '*.c' -o -name '*.h' \) -delete
# Precompile with the image's python so the non-root user's cold start compiles nothing; hash-based
# pycs stay valid although the tarball below resets every mtime.
chroot "$root" /usr/bin/python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash \
  /opt/edgeml/lib /usr/lib/python3.11 >/dev/null || true

# 4. Non-root user and the SageMaker model mount point.
echo "edgeml:x:$UID_GID:$UID_GID:edgeml runtime:/home/edgeml:/usr/sbin/nologin" >>"$root/etc/passwd"
echo "edgeml:x:$UID_GID:" >>"$root/etc/group"
echo "edgeml:!:19000::::::" >>"$root/etc/shadow"
mkdir -p "$root/home/edgeml" "$root/opt/ml/model"
chown "$UID_GID:$UID_GID" "$root/home/edgeml"

# 5. Import. Fixed mtimes and sorted entries keep the layer stable for identical inputs.
tar -C "$root" --sort=name --mtime=@0 --numeric-owner -cf "$work/rootfs.tar" .
docker import \
  --change "USER $UID_GID:$UID_GID" \
  --change "WORKDIR /home/edgeml" \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin PYTHONPATH=/opt/edgeml/lib PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HOME=/home/edgeml' \
  --change 'EXPOSE 8080' \
  --change 'ENTRYPOINT ["/usr/bin/python3", "-m", "edgeml_runtime"]' \
  --change 'CMD ["serve"]' \
  --change "LABEL edgeml.input-digest=$digest org.opencontainers.image.title=edgeml-sentiment-runtime org.opencontainers.image.version=1.0.0" \
  --message "edgeml sentiment runtime (input digest $digest)" \
  "$work/rootfs.tar" "$IMAGE" >/dev/null
new=$(docker image inspect -f '{{.Id}}' "$IMAGE")
# Drop the image this build replaced (if nothing uses it), so rebuilds do not pile up dangling layers.
[ -n "$previous" ] && [ "$previous" != "$new" ] && docker rmi "$previous" >/dev/null 2>&1 || true
echo "$new"

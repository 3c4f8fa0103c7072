#!/usr/bin/env bash
# Installs the Debian packages the lab, the collection and the tests (dig) need, only when one is missing (needs root).
set -euo pipefail
pkgs=(docker.io docker-registry skopeo debootstrap iproute2 iptables make bind9-dnsutils)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

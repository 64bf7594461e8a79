# Shared set-up for the scripts: packages, toolchain and target directory.
# shellcheck shell=bash

# Installs the Debian packages named, with apt-get, when any is missing.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust 1.85 or newer (https://rustup.rs), then run this again" >&2
    exit 1
  fi
}

# Cargo's target directory lives outside the checkout so rebuilds are fast.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rsvault/target}"

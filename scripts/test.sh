#!/usr/bin/env bash
# Runs every check and test. Installs what the tests need (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
ensure_rust
ensure_build_deps
# qemu-system-x86: the live VMs of the QEMU tests (under TCG); with
# qemu-guest-agent and busybox-static, the small Linux guest they boot
# (tests/guest/build-guest.sh). Installed first: Debian's qemu-system-x86 may
# replace a newer qemu-utils from backports, which the next line puts back.
ensure_packages qemu-system-x86 qemu-guest-agent busybox-static
# qemu-utils: qemu-img/qemu-io make the test images; e2fsprogs: mkfs.ext4,
# e2fsck and debugfs; python3-venv: the virtualenvs of the Azure SDK and CLI
# tests; openssl: the certificate of the CLI tests' TLS relay.
ensure_packages qemu-utils e2fsprogs python3 python3-venv tzdata openssl
# The web portal's tests: Debian's Chromium (with CJK fonts for the Japanese
# screenshots), driven by playwright-core from npm.
ensure_packages chromium fonts-noto-cjk nodejs
# PostgreSQL: the second engine of the metadata store. A throw-away cluster
# (see scripts/common.sh) serves the store's conformance suite in cargo test
# and the Python suite's second run; it is stopped on exit.
ensure_packages postgresql
# Object storage: moto's S3 server and Azurite (Azure Blob) on loopback
# ports, for the s3:// and az:// backends' tests in cargo test (which
# require them when CI=true); stopped on exit like PostgreSQL.
# libvirt: the libvirt hypervisor's tests define TCG domains on a system
# libvirtd (started here when none runs; stopped on exit).
trap 'stop_test_postgres; stop_test_storage; stop_test_libvirt' EXIT
start_test_postgres
start_test_storage
start_test_libvirt
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The HTTP layer's cargo-fuzz target, briefly (libFuzzer with AddressSanitizer;
# RUSTC_BOOTSTRAP lets the stable toolchain take the sanitizer flags). The
# seeded fuzz test of the same requests (crates/rsvault-server/tests/http_fuzz.rs)
# ran above in any case.
cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz
(cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$CARGO_TARGET_DIR-fuzz" \
  cargo fuzz run http_routes -- -max_total_time=30 -rss_limit_mb=4096)

# The vault server driven by Azure's own Python SDKs from PyPI.
venv="${RSVAULT_VENV:-$HOME/.cache/rsvault/venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q -r tests/python/requirements.txt
# The real Azure CLI (tests/python/test_az.py), in a virtualenv of its own:
# its pins differ from the SDKs' above.
az_venv="${RSVAULT_AZ_VENV:-$HOME/.cache/rsvault/az-venv}"
[ -x "$az_venv/bin/python" ] || python3 -m venv "$az_venv"
"$az_venv/bin/pip" install -q -r tests/python/requirements-az.txt
export RSVAULT_AZ="$az_venv/bin/az"
cargo build --locked -p rsvault
# The suite runs twice at once: with SQLite, and with every server's
# metadata in PostgreSQL (a database per data directory on the test
# cluster). Every test makes its own ports, directories, libvirt domains
# and network namespaces (named by its process), so the runs share
# nothing; the second starts halfway through the list of files, so that
# the two runs' guest-booting tests seldom meet.
export RSVAULT_BIN="$CARGO_TARGET_DIR/debug/rsvault"
# The small test guest, built (or found up to date) once, before both runs.
bash tests/guest/build-guest.sh "${RSVAULT_GUEST_DIR:-$HOME/.cache/rsvault/guest}" >/dev/null
suite_logs=$(mktemp -d)
mapfile -t suite < <(ls tests/python/test_*.py | sort)
half=$(( ${#suite[@]} / 2 ))
rotated=("${suite[@]:half}" "${suite[@]:0:half}")
"$venv/bin/python" -m pytest -q -p no:cacheprovider "${suite[@]}" > "$suite_logs/sqlite.log" 2>&1 &
sqlite_run=$!
RSVAULT_TEST_DATABASE=postgres "$venv/bin/python" -m pytest -q -p no:cacheprovider "${rotated[@]}" \
  > "$suite_logs/postgres.log" 2>&1 &
postgres_run=$!
suite_rc=0
wait "$sqlite_run" || suite_rc=1
wait "$postgres_run" || suite_rc=1
echo "== Python suite, SQLite"; cat "$suite_logs/sqlite.log"
echo "== Python suite, PostgreSQL"; cat "$suite_logs/postgres.log"
rm -rf "$suite_logs"
[ "$suite_rc" = 0 ]

# The web portal in real headless Chromium, in Japanese and English
# (screenshots of every step in tests/portal/artifacts/).
npm ci --prefix tests/portal --no-audit --no-fund --loglevel=error
# The portal's servers speak HTTPS with a certificate of a test CA that
# node trusts (NODE_EXTRA_CA_CERTS); the browser is told to accept it.
portal_tls=$(mktemp -d)
trap 'rm -rf "$portal_tls"; stop_test_postgres; stop_test_storage; stop_test_libvirt' EXIT
bash scripts/test-tls.sh "$portal_tls"
RSVAULT_TLS_CERT="$portal_tls/server.crt" RSVAULT_TLS_KEY="$portal_tls/server.key" \
  NODE_EXTRA_CA_CERTS="$portal_tls/ca.crt" RSVAULT_BIN="$CARGO_TARGET_DIR/debug/rsvault" node --test tests/portal/

#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need
# (Debian packages for headless rendering, Python packages for the interop
# tests), then checks formatting and lints, builds once, and runs every test.
# Prints how long the build and the tests took.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

log "installing test dependencies"
need_apt=()
command -v xvfb-run >/dev/null 2>&1 || need_apt+=(xvfb)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
[ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
# Everything the tests need is installed: a test that finds a tool missing
# now fails instead of printing SKIPPED and passing (tests/common/skip.rs).
export VIGIE_TEST_ENV=complete

log "cargo fmt --check"
cargo fmt --all -- --check

start=$(date +%s)
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo build --workspace --all-targets"
cargo build --workspace --all-targets --locked
built=$(date +%s)

log "cargo test --workspace"
cargo test --workspace --locked
done_at=$(date +%s)

printf '\n== timings: build %ss (clippy included), tests %ss\n' "$((built - start))" "$((done_at - built))"

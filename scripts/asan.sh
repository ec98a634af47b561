#!/usr/bin/env bash
# Runs a command with the sanitizer build of the addon (npm run build:asan): ASan's runtime preloaded into
# node (node itself is not instrumented), the addon taken from build-asan/, and every child process (the CLI,
# its shard workers) inheriting both. Leak checking is off: node's own allocations at exit are not ours.
#   scripts/asan.sh npx jest dist/test/native     scripts/asan.sh node dist/cli/netstar.js run …
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
addon=$root/build-asan/Release/netstar.node
[ -f "$addon" ] || { echo "asan: $addon missing: run npm run build:asan" >&2; exit 2; }
LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:halt_on_error=1:allow_user_segv_handler=1:handle_segv=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
NETSTAR_ADDON=$addon exec "$@"

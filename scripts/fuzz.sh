#!/usr/bin/env bash
# libFuzzer targets for the native code that reads packets (clang, ASan + UBSan).
#   npm run fuzz -- <target|all> [--seconds N] [--jobs N]
# Builds build/fuzz/<target> from fuzz/<target>_fuzz.cc, runs it for N seconds (default 60) on a copy of the
# seed corpus fuzz/corpus/<target> (new inputs stay in build/fuzz/corpus-<target>; the repo's seeds are not
# touched). Exit 0 when no crash, leak or sanitizer report; else libFuzzer's exit code and the crashing input
# in build/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-all}; shift || true
seconds=60
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    *) echo "fuzz: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (npm run setup installs clang and libclang-rt-14-dev)" >&2; exit 2; }
targets=()
if [ "$target" = all ]; then for f in fuzz/*_fuzz.cc; do t=$(basename "$f" _fuzz.cc); targets+=("$t"); done
else [ -f "fuzz/${target}_fuzz.cc" ] || { echo "fuzz: no target '$target' (have: $(ls fuzz/*_fuzz.cc | xargs -n1 basename | sed 's/_fuzz.cc//' | tr '\n' ' '))" >&2; exit 2; }; targets=("$target"); fi
mkdir -p build/fuzz
for t in "${targets[@]}"; do
  bin=build/fuzz/$t
  if [ ! -x "$bin" ] || [ "fuzz/${t}_fuzz.cc" -nt "$bin" ] || [ -n "$(find native/src -newer "$bin" -print -quit)" ]; then
    echo "fuzz: building $t"
    # shellcheck disable=SC2046
    clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      $(pkg-config --cflags libdpdk) -DALLOW_EXPERIMENTAL_API "fuzz/${t}_fuzz.cc" -o "$bin" $(pkg-config --libs libdpdk)
  fi
  corpus=build/fuzz/corpus-$t
  mkdir -p "$corpus"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz: running $t for ${seconds}s"
  log=build/fuzz/$t.log
  rc=0
  (cd build/fuzz && "./$t" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="./crash-$t-" "corpus-$t") >"$log" 2>&1 || rc=$?
  grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)|ERROR|SUMMARY|runtime error|Test unit written" "$log" || true
  [ "$rc" -eq 0 ] || { echo "fuzz: $t failed (exit $rc); inputs in build/fuzz/crash-$t-*" >&2; exit "$rc"; }
done

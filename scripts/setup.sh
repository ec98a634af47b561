#!/usr/bin/env bash
# One-command set-up on a fresh Debian 12 machine, as root: system packages, npm dependencies, native
# addon, TypeScript. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(dpdk dpdk-dev libdpdk-dev pkg-config cmake g++ make clang libclang-rt-14-dev hping3 iptables python3 iproute2 iputils-ping ethtool
  netcat-openbsd curl iperf3 tshark tcpdump python3-scapy wrk jq procps psmisc prometheus nginx tcpflow libndpi-bin redis-server)

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, network namespaces and DPDK need it): sudo npm run setup"
command -v apt-get >/dev/null || die "apt-get not found: this set-up supports Debian 12 (bookworm)"
command -v node >/dev/null || die "node not found: install Node.js 20"
node -e 'process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)' || die "Node.js >= 20 needed, found $(node -v)"

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer for it.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections || true
  apt-get update -q || die "apt-get update failed (no network or bad sources?)"
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    for p in "${missing[@]}"; do
      apt-get install -y -q --no-install-recommends "$p" >/dev/null 2>&1 || die "cannot install package '$p'"
    done
  fi
else
  say "system packages present"
fi
pkg-config --exists libdpdk || die "pkg-config cannot find libdpdk after installing libdpdk-dev"
say "DPDK $(pkg-config --modversion libdpdk)"

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
say "building native addon"
npx cmake-js compile --out build >/tmp/netstar-native-build.log 2>&1 || { tail -40 /tmp/netstar-native-build.log; die "native build failed (full log: /tmp/netstar-native-build.log)"; }
say "building the memif helper addon (the TS memif client for processes without an EAL)"
npx cmake-js compile --directory apps/l3engine/memif/native --out build/memif >/tmp/netstar-memif-build.log 2>&1 || { tail -40 /tmp/netstar-memif-build.log; die "memif helper build failed (full log: /tmp/netstar-memif-build.log)"; }
say "building TypeScript"
rm -rf dist
npx tsc -p tsconfig.json
chmod +x dist/cli/netstar.js
say "done: npm test runs the tests, npm start runs the demo"

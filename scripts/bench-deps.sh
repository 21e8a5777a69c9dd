#!/usr/bin/env bash
# The outside programs the benchmarks compare against that npm test does not need: dnsperf (the
# load generator of bench/dns.ts) and Knot DNS's knotd (its baseline). As root on Debian they are
# installed; otherwise this prints the command to run. bench/dns.ts runs this when one is missing.
# Usage: scripts/bench-deps.sh [--check]   (--check: only report, never install)
set -u

# tool to look for (PATH or /usr/sbin)  →  Debian package that provides it
declare -A PACKAGE=(
  [dnsperf]=dnsperf
  [knotd]=knot
)

missing=()
for tool in "${!PACKAGE[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${PACKAGE[$tool]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bench-deps: dnsperf and knotd present"
  exit 0
fi

install_cmd="apt-get install -y ${missing[*]}"
can_install=0
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -f /etc/debian_version ] && can_install=1
if [ "${1:-}" = "--check" ] || [ $can_install -eq 0 ]; then
  echo "bench-deps: missing ${missing[*]}"
  echo "bench-deps: install them with (as root, Debian):"
  echo "  apt-get update && $install_cmd"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "bench-deps: installing ${missing[*]}"
apt-get install -y "${missing[@]}" >/dev/null || { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; } || {
  echo "bench-deps: apt-get failed; run: apt-get update && $install_cmd"
  exit 1
}
echo "bench-deps: installed ${missing[*]}"

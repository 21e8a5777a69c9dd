#!/usr/bin/env bash
# Checks the system tools the interop suites use and, as root on Debian, installs what is missing.
# Otherwise it prints the exact command to run; the suites that need a missing tool then report skipped
# (and fail under CI=true, where nothing may be skipped).
# Usage: scripts/system-deps.sh [--check]   (--check: only report, never install)
set -u

# tool to look for  →  Debian package that provides it
declare -A PACKAGE=(
  [ssh]=openssh-client
  [sshd]=openssh-server
  [script]=bsdutils
  [git]=git
  [dig]=dnsutils
  [chromium]=chromium
  [b3sum]=b3sum
)
BACKPORTS_PACKAGES=(mesa-vulkan-drivers)

missing=()
for tool in "${!PACKAGE[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${PACKAGE[$tool]}")
done
# Python modules the suites use through Debian's own python3 (/usr/bin/python3: PyPI is not reachable),
# e.g. an Ed25519 signature made outside the project for the pkarr tests.
declare -A PYTHON_MODULE=(
  [cryptography]=python3-cryptography
)
for module in "${!PYTHON_MODULE[@]}"; do
  /usr/bin/python3 -c "import $module" >/dev/null 2>&1 || missing+=("${PYTHON_MODULE[$module]}")
done

# WebGPU's software adapter needs Mesa's lavapipe 25.x (bookworm-backports); bookworm's 22.x lacks what Dawn needs.
lavapipe_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null) || return 1
  [ "${v%%.*}" -ge 25 ] 2>/dev/null
}
need_backports=0
lavapipe_ok || need_backports=1

if [ ${#missing[@]} -eq 0 ] && [ $need_backports -eq 0 ]; then
  echo "system-deps: all interop tools present"
  exit 0
fi

install_cmd="apt-get install -y ${missing[*]}"
[ $need_backports -eq 1 ] && install_cmd="$install_cmd; apt-get install -y -t bookworm-backports ${BACKPORTS_PACKAGES[*]}"

can_install=0
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && grep -q bookworm /etc/os-release 2>/dev/null && can_install=1
if [ "${1:-}" = "--check" ] || [ $can_install -eq 0 ]; then
  echo "system-deps: missing ${missing[*]}$([ $need_backports -eq 1 ] && echo ' mesa-vulkan-drivers(>=25, bookworm-backports)')"
  echo "system-deps: install them with (as root, Debian bookworm; backports must be in your apt sources):"
  echo "  apt-get update && $install_cmd"
  echo "system-deps: the suites that need them will be skipped"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if [ $need_backports -eq 1 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # Add backports from the same mirror the machine already uses (first stanza of debian.sources,
  # or the first bookworm line of sources.list), so no host is hard-coded here.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    awk '/^$/{exit} {print}' /etc/apt/sources.list.d/debian.sources \
      | sed -e 's/^Suites:.*/Suites: bookworm-backports/' >/etc/apt/sources.list.d/alknet-backports.sources
  else
    grep -m1 -E '^deb .* bookworm ' /etc/apt/sources.list \
      | sed -e 's/ bookworm / bookworm-backports /' >/etc/apt/sources.list.d/alknet-backports.list
  fi
fi
echo "system-deps: installing ${missing[*]} $([ $need_backports -eq 1 ] && echo mesa-vulkan-drivers from bookworm-backports)"
apt-get update -qq >/dev/null || { echo "system-deps: apt-get update failed"; exit 1; }
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { echo "system-deps: apt-get install ${missing[*]} failed"; exit 1; }
fi
if [ $need_backports -eq 1 ]; then
  apt-get install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORTS_PACKAGES[@]}" >/dev/null \
    || { echo "system-deps: installing mesa-vulkan-drivers from bookworm-backports failed"; exit 1; }
fi
echo "system-deps: done"

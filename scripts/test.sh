#!/usr/bin/env bash
# `npm test`: system tools first (installed as root on Debian), then every suite with Node's test runner.
# Under CI=true a suite that would skip for a missing tool or ../shared/vectors file fails instead
# (see test/support/tools.ts and test/support/vectors.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
[ -d node_modules ] || { echo "npm test: run 'npm ci' first"; exit 1; }
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if [ $# -gt 0 ]; then files=("$@"); fi
exec node --import tsx --expose-gc --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"

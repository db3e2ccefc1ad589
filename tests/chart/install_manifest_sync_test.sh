#!/usr/bin/env bash
# deploy/install.yaml and the chart's copy of crds/ are what
# scripts/generate-install.sh would write now.
set -euo pipefail
# shellcheck source=tests/chart/lib.sh
source "$(dirname "$0")/lib.sh"
need_helm
PLANO_HELM=$HELM "$ROOT/scripts/generate-install.sh" --check || fail "generated files are stale"

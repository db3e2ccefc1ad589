#!/usr/bin/env bash
# values.schema.json: misspelled keys (at any depth), wrong types, values
# outside an enum and mode-dependent requirements are refused by helm before
# anything is rendered; and values-all-options.yaml sets every key of
# values.yaml, so the dry-run test really covers every option.
set -euo pipefail
# shellcheck source=tests/chart/lib.sh
source "$(dirname "$0")/lib.sh"
need_helm

# rejects WHAT EXPECTED-TEXT HELM-ARGS...: rendering must fail, naming the problem.
rejects() {
  local what=$1 expect=$2 out
  shift 2
  if out=$("$HELM" template t "$CHART" "$@" 2>&1); then
    fail "$what: accepted, but the schema must refuse it"
  fi
  grep -qF -- "$expect" <<<"$out" || { printf '%s\n' "$out" >&2; fail "$what: refused, but the error does not mention '$expect'"; }
  log "ok: refuses $what"
}

# Misspelled keys, as --set and as a values file (what users write).
rejects "a misspelled top-level key" "additional properties 'imagee' not allowed" --set imagee.tag=x
rejects "a misspelled nested key" "additional properties 'replica' not allowed" --set operator.replica=3
rejects "a misspelled deep key" "additional properties 'mod' not allowed" --set webhook.certificates.mod=certManager
cat > "$WORK/typo.yaml" <<'YAML'
networkPolicy:
  enabled: true
  metricFrom: []
YAML
rejects "a misspelled key in a values file" "additional properties 'metricFrom' not allowed" -f "$WORK/typo.yaml"
cat > "$WORK/snake.yaml" <<'YAML'
webhook:
  pod_disruption_budget: {enabled: false}
YAML
rejects "a snake_case key" "additional properties 'pod_disruption_budget' not allowed" -f "$WORK/snake.yaml"

# Wrong types.
rejects "a string where an integer belongs" "got string, want integer" --set-string operator.replicas=two
rejects "a string where a boolean belongs" "got string, want boolean" --set-string metrics.enabled=yes
printf 'image:\n  tag: 1.5\n' > "$WORK/number-tag.yaml"
rejects "a number where a string belongs (unquoted tag 1.5)" "got number, want string" -f "$WORK/number-tag.yaml"
rejects "a list where an object belongs" "want object" --set 'operator.nodeSelector={a,b}'
rejects "a non-string label value" "got number, want string" --set commonLabels.team=7
rejects "zero replicas" "minimum" --set webhook.replicas=0

# Enums and patterns.
rejects "an unknown certificate mode" "selfManaged" --set webhook.certificates.mode=selfmanaged
rejects "an unknown failure policy" "Fail" --set webhook.failurePolicy=fail
rejects "an unknown log format" "json" --set logging.format=yaml
rejects "a malformed CPU quantity" "resources" --set operator.resources.limits.cpu=lots
rejects "an invalid namespace name" "watchNamespace" --set watchNamespace=Team_A
rejects "an extraArg that is not a flag" "extraArgs" --set 'operator.extraArgs={verbose}'
rejects "an imagePullSecret object without a name" "imagePullSecrets" --set-json 'imagePullSecrets=[{"nmae":"regcred"}]'
rejects "an empty imagePullSecret name" "imagePullSecrets" --set-json 'imagePullSecrets=[""]'
rejects "a security context that is not an object" "got array, want object" --set 'podSecurityContext={a}'
rejects "a percentage PDB budget without %" "maxUnavailable" --set-string operator.podDisruptionBudget.maxUnavailable=50
rejects "a misspelled uninstall key" "additional properties 'keepLease' not allowed" --set uninstall.keepLease=true

# Requirements that depend on other values.
rejects "existingSecret mode without a Secret name" "existingSecret/name" --set webhook.certificates.mode=existingSecret
rejects "an issuerRef kind without a name" "'name' required" --set webhook.certificates.certManager.issuerRef.kind=ClusterIssuer

# Defaults and every test values file are accepted.
for values in "" "$TESTS"/values-*.yaml; do
  "$HELM" template t "$CHART" ${values:+-f "$values"} >/dev/null || fail "schema refuses ${values:-the defaults}"
done
log "ok: defaults and tests/chart/values-*.yaml are accepted"

# Coverage: every leaf of values.yaml is set in values-all-options.yaml. The
# key paths come from a throwaway chart whose one template walks .Values and
# prints them as YAML comments (helm parses what templates print).
mkdir -p "$WORK/paths/templates"
printf 'apiVersion: v2\nname: paths\nversion: 0.0.0\n' > "$WORK/paths/Chart.yaml"
cat > "$WORK/paths/templates/paths.txt" <<'TPL'
{{- define "walk" -}}
{{- range $key, $value := .value }}
{{- if and (kindIs "map" $value) $value }}
{{- include "walk" (dict "prefix" (printf "%s%s." $.prefix $key) "value" $value) }}
{{- else }}
# {{ printf "%s%s" $.prefix $key }}
{{- end }}
{{- end }}
{{- end -}}
{{- include "walk" (dict "prefix" "" "value" .Values) }}
TPL
paths() { "$HELM" template p "$WORK/paths" -f "$1" | sed -n 's/^# \([^ ]*\)$/\1/p' | sort -u; }
paths "$CHART/values.yaml" > "$WORK/default.paths"
paths "$TESTS/values-all-options.yaml" > "$WORK/all.paths"
[[ -s $WORK/default.paths ]] || fail "could not list the keys of values.yaml"
missing=()
while read -r p; do
  # An empty map or list default counts as covered when anything is set under it.
  grep -qx -F -- "$p" "$WORK/all.paths" || grep -q -F -- "$p." "$WORK/all.paths" || missing+=("$p")
done < "$WORK/default.paths"
((${#missing[@]} == 0)) || fail "values-all-options.yaml does not set: ${missing[*]}"
log "ok: values-all-options.yaml sets all $(wc -l < "$WORK/default.paths") keys of values.yaml"

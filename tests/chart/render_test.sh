#!/usr/bin/env bash
# What the chart renders, checked object by object: the webhook configuration's contract, the
# pods' security settings and probes, names that must agree between objects and the operator's
# flags, each certificate mode, watchNamespace, and deterministic output (no random or
# cluster-dependent template functions).
set -euo pipefail
# shellcheck source=tests/chart/lib.sh
source "$(dirname "$0")/lib.sh"
need_helm
# PyYAML from the virtualenv scripts/setup.sh creates (Plano's validator depends on it).
PYTHON=${PLANO_VENV:-$ROOT/.cache/venv}/bin/python
"$PYTHON" -c 'import yaml' 2>/dev/null || fail "no Python with PyYAML at $PYTHON; run scripts/setup.sh"

# Determinism: nothing in the templates may depend on randomness, time or the live cluster.
if grep -nE '\b(genCA|genPrivateKey|genSelfSignedCert|genSignedCert|randAlpha|randAlphaNum|randNumeric|randAscii|randBytes|uuidv4|lookup|now|date|dateInZone|unixEpoch)\b' \
  -r "$CHART/templates"; then
  fail "a template uses a non-deterministic function (above)"
fi
"$HELM" template plano-operator "$CHART" -n plano-operator -f "$TESTS/values-all-options.yaml" > "$WORK/a.yaml"
"$HELM" template plano-operator "$CHART" -n plano-operator -f "$TESTS/values-all-options.yaml" > "$WORK/b.yaml"
cmp -s "$WORK/a.yaml" "$WORK/b.yaml" || fail "two renders of the same values differ"
log "ok: deterministic"

render() { # NAME HELM-ARGS...
  local name=$1
  shift
  "$HELM" template plano-operator "$CHART" --namespace plano-operator "$@" > "$WORK/$name.yaml" || fail "helm template $*"
}
render defaults
render cert-manager --set webhook.certificates.mode=certManager
render existing-secret -f "$TESTS/values-existing-secret.yaml"
render watch-namespace --set watchNamespace=team-a
render all -f "$TESTS/values-all-options.yaml"
render no-aggregation --set rbac.aggregateToDefaultRoles=false
render security-overrides --set podSecurityContext.runAsUser=10001 --set containerSecurityContext.readOnlyRootFilesystem=false \
  --set containerSecurityContext.capabilities=null
render pull-secrets --set-json 'imagePullSecrets=[{"name":"registry-credentials"},"mirror-credentials"]'
render operator-standbys --set operator.replicas=3
render operator-standbys-no-pdb --set operator.replicas=3 --set operator.podDisruptionBudget.enabled=false
render keep-on-uninstall --set uninstall.keepLeaseAndWebhookSecret=true

"$PYTHON" - "$WORK" <<'PY' || fail "rendered objects (above)"
import sys, yaml

work = sys.argv[1]
problems = []

def load(name):
    docs = [d for d in yaml.safe_load_all(open(f"{work}/{name}.yaml")) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}

def check(cond, what):
    if not cond:
        problems.append(what)

def get(objs, kind, name):
    o = objs.get((kind, name))
    check(o is not None, f"missing {kind}/{name}")
    return o or {}

def args_of(deploy):
    return deploy["spec"]["template"]["spec"]["containers"][0]["args"]

def flag(args, name):
    for a in args:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None

def volume_secret(deploy):
    for v in deploy["spec"]["template"]["spec"]["volumes"]:
        if v["name"] == "tls":
            return v["secret"]
    return {}

# --- defaults ---
d = load("defaults")
kinds = sorted({k for k, _ in d})
check(kinds == sorted(["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment", "Lease", "Pod",
                        "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount",
                        "ValidatingWebhookConfiguration"]), f"default kinds: {kinds}")

vwc = get(d, "ValidatingWebhookConfiguration", "plano-operator")
hooks = vwc.get("webhooks", [])
check(len(hooks) == 1, "one webhook")
w = hooks[0] if hooks else {}
check(w.get("sideEffects") == "None", "sideEffects None")
check(w.get("admissionReviewVersions") == ["v1"], "admissionReviewVersions [v1]")
check(w.get("timeoutSeconds") == 5, "timeoutSeconds 5")
check(w.get("failurePolicy") == "Fail", "failurePolicy Fail")
svc = w.get("clientConfig", {}).get("service", {})
check(svc == {"name": "plano-operator-webhook", "namespace": "plano-operator", "path": "/validate", "port": 443},
      f"clientConfig.service {svc}")
check("caBundle" not in w.get("clientConfig", {}), "no caBundle in selfManaged mode (the operator owns it)")
check("namespaceSelector" not in w, "no namespaceSelector by default")
rules = w.get("rules", [])
check(rules == [{"apiGroups": ["plano-operator.io"], "apiVersions": ["v1alpha1"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["planogateways", "modelproviders"], "scope": "Namespaced"}], f"rules {rules}")

service = get(d, "Service", "plano-operator-webhook")
check(service.get("spec", {}).get("ports") == [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}],
      "webhook Service 443 -> https")

op = get(d, "Deployment", "plano-operator-operator")
wh = get(d, "Deployment", "plano-operator-webhook")
for dep in (op, wh):
    name = dep["metadata"]["name"]
    pod = dep["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True and isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0,
          f"{name}: non-root pod")
    check(psc.get("seccompProfile") == {"type": "RuntimeDefault"}, f"{name}: seccomp RuntimeDefault")
    check(pod.get("automountServiceAccountToken") is True, f"{name}: token mounted (the SA does not automount)")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        check(sc.get("readOnlyRootFilesystem") is True, f"{name}: read-only root")
        check(sc.get("allowPrivilegeEscalation") is False, f"{name}: no privilege escalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: drop ALL")
        res = c.get("resources", {})
        check(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory"), f"{name}: requests")
        check(res.get("limits", {}).get("cpu") and res.get("limits", {}).get("memory"), f"{name}: limits")
        check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", f"{name}: liveness /healthz")
        check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", f"{name}: readiness /readyz")
    sa = get(d, "ServiceAccount", pod["serviceAccountName"])
    check(sa.get("automountServiceAccountToken") is False, f"{name}: its ServiceAccount does not automount")

# Today's security settings are the defaults of podSecurityContext and containerSecurityContext,
# for both components and the test pod.
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True,
                      "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
def pod_spec(o):
    return o["spec"]["template"]["spec"] if o.get("kind") == "Deployment" else o.get("spec", {})
test_pod = get(d, "Pod", "plano-operator-test")
for o in (op, wh, test_pod):
    spec = pod_spec(o)
    check(spec.get("securityContext") == POD_SECURITY, f"{o['metadata']['name']}: default pod securityContext {spec.get('securityContext')}")
    check(all(c.get("securityContext") == CONTAINER_SECURITY for c in spec.get("containers", [])),
          f"{o['metadata']['name']}: default container securityContext")
    check("imagePullSecrets" not in spec, f"{o['metadata']['name']}: no imagePullSecrets by default")

# helm test: a hook pod (never installed by `helm install`) that checks discovery and the webhook Service.
check(test_pod.get("metadata", {}).get("annotations", {}).get("helm.sh/hook") == "test", "the test pod is a test hook")
check(test_pod.get("spec", {}).get("restartPolicy") == "Never", "the test pod runs once")
test_env = {e["name"]: e.get("value") for e in test_pod.get("spec", {}).get("containers", [{}])[0].get("env", [])}
check(test_env.get("WEBHOOK_URL") == "https://plano-operator-webhook.plano-operator.svc:443/validate",
      f"the test pod calls the webhook Service: {test_env.get('WEBHOOK_URL')}")
check(test_pod.get("spec", {}).get("containers", [{}])[0].get("image") == "docker.io/curlimages/curl:8.11.1", "test image")

# The Lease is the chart's (empty; the operator fills it in), so uninstall deletes it.
lease = get(d, "Lease", "plano-operator")
check(lease.get("metadata", {}).get("namespace") == "plano-operator", "Lease in the release namespace")
check(lease.get("spec") == {}, f"the chart sets no Lease spec field (the operator's): {lease.get('spec')}")
check("helm.sh/resource-policy" not in lease.get("metadata", {}).get("annotations", {}), "the Lease goes on uninstall")
check(flag(args_of(op), "webhook-secret-owned-by-configuration") == "true", "the webhook configuration owns the Secret")
check(("PodDisruptionBudget", "plano-operator-operator") not in d, "no operator PDB with one replica")

# Printer columns for kubectl get -o wide (priority 1).
for crd, wide in (("planogateways.plano-operator.io", ["Image", "Replicas", "ConfigHash"]),
                  ("modelproviders.plano-operator.io", ["BaseURL", "Passthrough", "KeySecret"])):
    columns = get(d, "CustomResourceDefinition", crd).get("spec", {}).get("versions", [{}])[0].get("additionalPrinterColumns", [])
    check([c["name"] for c in columns if c.get("priority") == 1] == wide, f"{crd}: -o wide columns {columns}")

# --- overrides of the security settings: merged over the defaults, null drops a key ---
s = load("security-overrides")
for o in (get(s, "Deployment", "plano-operator-operator"), get(s, "Deployment", "plano-operator-webhook"), get(s, "Pod", "plano-operator-test")):
    spec = pod_spec(o)
    check(spec.get("securityContext") == dict(POD_SECURITY, runAsUser=10001), f"{o['metadata']['name']}: pod securityContext override")
    want = {k: v for k, v in CONTAINER_SECURITY.items() if k != "capabilities"}
    want["readOnlyRootFilesystem"] = False
    check(all(c.get("securityContext") == want for c in spec.get("containers", [])), f"{o['metadata']['name']}: container securityContext override")

# --- imagePullSecrets: objects, and plain names turned into objects ---
p = load("pull-secrets")
for o in (get(p, "Deployment", "plano-operator-operator"), get(p, "Deployment", "plano-operator-webhook"), get(p, "Pod", "plano-operator-test")):
    check(pod_spec(o).get("imagePullSecrets") == [{"name": "registry-credentials"}, {"name": "mirror-credentials"}],
          f"{o['metadata']['name']}: imagePullSecrets {pod_spec(o).get('imagePullSecrets')}")

# --- operator standbys get a PodDisruptionBudget, unless turned off ---
sb = load("operator-standbys")
op_pdb = get(sb, "PodDisruptionBudget", "plano-operator-operator")
check(op_pdb.get("spec", {}).get("maxUnavailable") == 1, "operator PDB maxUnavailable 1")
check(op_pdb.get("spec", {}).get("selector", {}).get("matchLabels") ==
      get(sb, "Deployment", "plano-operator-operator")["spec"]["selector"]["matchLabels"], "the operator PDB selects the operator pods")
check(("PodDisruptionBudget", "plano-operator-operator") not in load("operator-standbys-no-pdb"), "operator PDB can be turned off")

# --- keep the Lease and the webhook Secret on uninstall ---
k = load("keep-on-uninstall")
check(get(k, "Lease", "plano-operator").get("metadata", {}).get("annotations", {}).get("helm.sh/resource-policy") == "keep",
      "keepLeaseAndWebhookSecret: the Lease is kept")
check(flag(args_of(get(k, "Deployment", "plano-operator-operator")), "webhook-secret-owned-by-configuration") == "false",
      "keepLeaseAndWebhookSecret: the Secret gets no owner")

oa, wa = args_of(op), args_of(wh)
check(oa[0] == "operator" and wa[0] == "webhook", "subcommands")
check(flag(oa, "leader-elect") == "true", "leader election on")
check(flag(oa, "webhook-cert-mode") == "self-managed", "operator issues the certificate by default")
check(flag(oa, "webhook-service") == "plano-operator-webhook", "--webhook-service names the Service")
check(flag(oa, "webhook-configuration") == "plano-operator", "--webhook-configuration names the VWC")
check(flag(oa, "webhook-namespace") == "plano-operator", "--webhook-namespace is the release namespace")
check(flag(oa, "webhook-secret") == volume_secret(wh).get("secretName"), "--webhook-secret is the Secret the webhook mounts")
check(volume_secret(wh).get("optional") is True, "selfManaged: the webhook starts before the Secret exists")
check(flag(wa, "tls-cert-file") == "/tls/tls.crt" and flag(wa, "tls-key-file") == "/tls/tls.key", "webhook TLS files")
check(flag(wa, "request-timeout-seconds") == "5", "a request may take the API server's timeout to arrive, no longer")
check(flag(wa, "body-budget-mib") == "32", "webhook body budget 32 MiB")
check(wh["spec"]["replicas"] == 2, "two webhook replicas")
check(op["spec"]["replicas"] == 1, "one operator replica")
spread = wh["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
check(any(t["topologyKey"] == "kubernetes.io/hostname" for t in spread), "webhook spread across nodes")
pdb = get(d, "PodDisruptionBudget", "plano-operator-webhook")
check(pdb.get("spec", {}).get("selector", {}).get("matchLabels") == wh["spec"]["selector"]["matchLabels"],
      "the PDB selects the webhook pods")

lease_role = get(d, "Role", "plano-operator-operator-leader-election")
check(lease_role.get("metadata", {}).get("namespace") == "plano-operator", "Lease Role in the release namespace")
named = [r for r in lease_role.get("rules", []) if r.get("resourceNames")]
check(named and named[0]["resourceNames"] == [flag(oa, "lease-name")], "Lease Role names --lease-name")
check(get(d, "ClusterRoleBinding", "plano-operator-operator").get("roleRef", {}).get("name") == "plano-operator-operator",
      "operator rights bound cluster-wide by default")
for crd in ("planogateways.plano-operator.io", "modelproviders.plano-operator.io"):
    o = get(d, "CustomResourceDefinition", crd)
    check(o.get("metadata", {}).get("annotations", {}).get("helm.sh/resource-policy") == "keep", f"{crd}: keep")
# Nothing but the CRDs is cluster-scoped apart from RBAC and the webhook configuration.
for (kind, name), o in d.items():
    if kind in ("Deployment", "Service", "ServiceAccount", "Role", "RoleBinding", "PodDisruptionBudget"):
        check(o["metadata"].get("namespace") == "plano-operator", f"{kind}/{name} in the release namespace")

# --- certManager ---
c = load("cert-manager")
vwc = get(c, "ValidatingWebhookConfiguration", "plano-operator")
cert = get(c, "Certificate", "plano-operator-webhook-serving")
check(vwc.get("metadata", {}).get("annotations", {}).get("cert-manager.io/inject-ca-from")
      == "plano-operator/plano-operator-webhook-serving", "inject-ca-from names the Certificate")
check("caBundle" not in vwc["webhooks"][0]["clientConfig"], "certManager: no caBundle")
check(cert.get("spec", {}).get("secretName") == volume_secret(get(c, "Deployment", "plano-operator-webhook")).get("secretName"),
      "the Certificate writes the Secret the webhook mounts")
check("plano-operator-webhook.plano-operator.svc" in cert.get("spec", {}).get("dnsNames", []), "Certificate DNS name")
check(cert.get("spec", {}).get("issuerRef", {}).get("name") == "plano-operator-webhook-selfsigned", "self-signed Issuer")
get(c, "Issuer", "plano-operator-webhook-selfsigned")
check(flag(args_of(get(c, "Deployment", "plano-operator-operator")), "webhook-cert-mode") == "none", "certManager: --webhook-cert-mode=none")
check(("Role", "plano-operator-operator-webhook-certificates") not in c, "certManager: no certificate Role")
cluster_rules = get(c, "ClusterRole", "plano-operator-operator-cluster").get("rules", [])
check(all("validatingwebhookconfigurations" not in r["resources"] for r in cluster_rules), "certManager: no VWC rights")

# --- existingSecret ---
e = load("existing-secret")
w = get(e, "ValidatingWebhookConfiguration", "plano-operator")["webhooks"][0]
check(w["clientConfig"].get("caBundle", "").startswith("LS0t"), "existingSecret: caBundle from values")
check(volume_secret(get(e, "Deployment", "plano-operator-webhook")).get("secretName") == "my-webhook-tls", "existing Secret mounted")
check("optional" not in volume_secret(get(e, "Deployment", "plano-operator-webhook")), "existing Secret is required")
check(flag(args_of(get(e, "Deployment", "plano-operator-operator")), "webhook-cert-mode") == "none", "existingSecret: mode none")

# --- watchNamespace ---
n = load("watch-namespace")
for who in ("operator", "webhook"):
    rb = get(n, "RoleBinding", f"plano-operator-{who}")
    check(rb.get("metadata", {}).get("namespace") == "team-a", f"{who} rights bound in team-a only")
    check(("ClusterRoleBinding", f"plano-operator-{who}") not in n, f"{who}: no cluster-wide binding of namespaced rights")
    check(flag(args_of(get(n, "Deployment", f"plano-operator-{who}")), "watch-namespace") == "team-a", f"{who}: --watch-namespace")
w = get(n, "ValidatingWebhookConfiguration", "plano-operator")["webhooks"][0]
check(w.get("namespaceSelector") == {"matchLabels": {"kubernetes.io/metadata.name": "team-a"}}, "webhook reviews team-a only")

# --- people's roles: ModelProviders into admin/edit, reading both kinds into view ---
def aggregated_into(role):
    return sorted(k.rsplit("-", 1)[1] for k, v in role.get("metadata", {}).get("labels", {}).items()
                  if k.startswith("rbac.authorization.k8s.io/aggregate-to-") and v == "true")
edit = get(d, "ClusterRole", "plano-operator-edit")
check(aggregated_into(edit) == ["admin", "edit"], f"plano-operator-edit aggregates into admin and edit only: {aggregated_into(edit)}")
check(edit.get("rules") == [{"apiGroups": ["plano-operator.io"], "resources": ["modelproviders"],
                             "verbs": ["create", "delete", "deletecollection", "patch", "update"]}],
      f"plano-operator-edit writes ModelProviders only: {edit.get('rules')}")
view = get(d, "ClusterRole", "plano-operator-view")
check(aggregated_into(view) == ["admin", "edit", "view"], f"plano-operator-view aggregates into all three: {aggregated_into(view)}")
check(all(r.get("verbs") == ["get", "list", "watch"] for r in view.get("rules", [])), "plano-operator-view only reads")
off = load("no-aggregation")
check(not any(k == ("ClusterRole", n) for k in off for n in ("plano-operator-edit", "plano-operator-view")),
      "rbac.aggregateToDefaultRoles=false renders no roles for people")

# --- every option ---
a = load("all")
for kind in ("ServiceMonitor", "NetworkPolicy", "Certificate", "Issuer"):
    check(any(k == kind for k, _ in a), f"all options: a {kind}")
for (kind, name), o in a.items():
    check(o["metadata"].get("labels", {}).get("example.com/team") == "platform", f"{kind}/{name}: commonLabels")
    check(o["metadata"].get("annotations", {}).get("example.com/owner") == "platform-team", f"{kind}/{name}: commonAnnotations")
img = get(a, "Deployment", "plano-all-operator")["spec"]["template"]["spec"]["containers"][0]["image"]
check(img.endswith("@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), "digest wins over tag")

if problems:
    print("\n".join("  - " + p for p in problems))
    sys.exit(1)
print(f"checked {sum(len(load(n)) for n in ('defaults', 'cert-manager', 'existing-secret', 'watch-namespace', 'all', 'no-aggregation', 'security-overrides', 'pull-secrets', 'operator-standbys', 'keep-on-uninstall'))} rendered objects")
PY
log "ok: rendered objects"

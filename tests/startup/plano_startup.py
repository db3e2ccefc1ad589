"""Plays Plano's container start-up on a rendered plano_config.yaml and checks what the gateway
would really run with.

Follows katanemo/plano 0.4.36 config/supervisord.conf (the first program, run in /app):
  python -m planoai.config_generator                      (planoai/config_generator.py)
  envsubst < /app/plano_config_rendered.yaml > /app/plano_config_rendered.env_sub.yaml
  envsubst < /etc/envoy/envoy.yaml > /etc/envoy.env_sub.yaml
with the pod's environment: the keys Secret (envFrom) plus the variables every pod has. The generator
writes the config with yaml.dump and the Envoy config from planoai/data/envoy.template.yaml, which
embeds the same yaml.dump text in literal blocks (configuration.value of the wasm filters) and puts
listener address/timeout and a provider's http_host into Envoy's own YAML unquoted.

Then it reads both results with PyYAML and checks, against the tenants' objects:
- the config holds exactly the providers declared for the gateway (by name), plus only Plano's own
  internal ones (internal: true);
- every provider field a tenant wrote arrives byte for byte (name, model, base_url, http_host,
  provider_interface, headers, routing preferences, passthrough_auth, default, aliases);
- each provider with a key gets exactly its own key as access_key; providers without one have none;
  no key value appears anywhere else in either file; distinct Secret keys get distinct variables;
- the gateway's listeners (name, address, timeout) arrive byte for byte, in the config and in Envoy;
- the gateway's tracing arrives as written, and Envoy's collector cluster reaches its endpoint;
- the gateway's state storage arrives as declared, its Postgres connection string as the value of
  the Secret key it references, found nowhere else;
- the gateway's rate limits arrive in order, each model as the model_id Plano compares;
- each routing preference holds every model of the providers naming it, with their selection
  policy; the metrics sources arrive as declared, and brightstaff's gate passes (cheapest needs a
  cost source, fastest a latency source);
- the routing model is the provider the gateway names, brightstaff would route with that provider,
  and Plano adds no hosted router (plano-orchestrator, archfc.katanemo.dev);
- in Envoy's YAML, each base_url's host is a cluster's address and each http_host its hostname.

usage: plano_startup.py --config plano_config.yaml [--gateway NS/NAME] --objects FILE [--objects FILE...]
                        [--keys FILE] [--secrets FILE...]
  --objects  PlanoGateway/ModelProvider manifests: YAML (many documents) or JSON (an object or a
             List, as `kubectl get -o json` prints it)
  --keys     the pod's key variables: a JSON map {VARIABLE: value} or the keys Secret's JSON
             (base64 `data`, as `kubectl get secret -o json` prints it). Without it, each variable of
             the config gets its tenant Secret's value from --secrets, or a made-up one.
  --secrets  the tenants' Secrets (same formats as --objects), to check each access_key against the
             value of the very Secret key its provider references
Exit 0 when everything holds; otherwise 1 with one line per problem. Needs the pinned planoai (run
with .cache/venv/bin/python) and /usr/bin/envsubst (Debian's gettext-base).
"""
import argparse
import base64
import json
import os
import re
import secrets as random_source
import subprocess
import sys
import tempfile
import urllib.parse

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
from plano_validate import KeyCheckingLoader  # noqa: E402  (repeated or non-string keys are refused)

ENVSUBST = "/usr/bin/envsubst"
# Variables a Plano pod has besides its keys (the image runs as root; PLANO_CONFIG_FILE is set by the
# operator's Deployment); values as in a pod named like the operator names them.
POD_ENVIRONMENT = {
    "HOME": "/root",
    "HOSTNAME": "gateway-plano-6d5f8b7c9-x2x7q",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PLANO_CONFIG_FILE": "/app/plano_config.yaml",
}
# Headers Plano's generator adds to a chatgpt provider itself (config_generator.py).
GENERATOR_HEADERS = {"ChatGPT-Account-Id", "originator", "user-agent", "session_id"}
# A key shorter than this is only looked for as a whole string: as a substring it would be found
# in unrelated text ("0" in "0.0.0.0").
MIN_SEARCHED_KEY = 8
# The name the gateway's Postgres connection string goes by among the providers' keys (no provider
# can be called so: its name would hold a space).
STATE_STORAGE = "<state storage>"
VARIABLE = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")


class Problems:
    def __init__(self):
        self.lines = []

    def add(self, where, message):
        self.lines.append(f"{where}: {message}")


# ---- inputs -------------------------------------------------------------------------------------

def read_documents(path):
    """Objects of a manifest file: YAML documents, or JSON (an object or a List's items)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:  # YAML, which may also be JSON documents separated by ---
        docs = [d for d in yaml.safe_load_all(text) if d]
    out = []
    for d in docs:
        if isinstance(d, list):
            out.extend(d)
        elif d.get("kind", "").endswith("List"):
            out.extend(d.get("items") or [])
        else:
            out.append(d)
    return out


def secret_values(secret):
    values = {k: base64.b64decode(v).decode("utf-8") for k, v in (secret.get("data") or {}).items()}
    values.update(secret.get("stringData") or {})
    return values


def read_keys(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("kind") == "Secret":
        return secret_values(doc)
    return {str(k): str(v) for k, v in doc.items()}


def namespace_of(obj):
    return obj.get("metadata", {}).get("namespace", "default")


def declared_objects(paths, gateway_key):
    """The gateway and the ModelProviders attached to it."""
    gateway, providers = None, []
    for path in paths:
        for obj in read_documents(path):
            meta = obj.get("metadata", {})
            if obj.get("kind") == "PlanoGateway" and f"{namespace_of(obj)}/{meta.get('name')}" == gateway_key:
                gateway = obj
            elif obj.get("kind") == "ModelProvider":
                ref = obj.get("spec", {}).get("gatewayRef", {})
                if f"{ref.get('namespace', namespace_of(obj))}/{ref.get('name')}" == gateway_key:
                    providers.append(obj)
    return gateway, providers


def tenant_secret_values(paths):
    """(namespace, secret, key) -> value for every Secret given."""
    values = {}
    for path in paths:
        for obj in read_documents(path):
            if obj.get("kind") == "Secret":
                for key, value in secret_values(obj).items():
                    values[(namespace_of(obj), obj["metadata"]["name"], key)] = value
    return values


def plano_name(provider):
    spec = provider["spec"]
    return spec.get("name", spec["model"])


def secret_ref(provider):
    ref = provider["spec"].get("accessKeySecretRef")
    return (namespace_of(provider), ref["name"], ref["key"]) if ref else None


# ---- start-up -----------------------------------------------------------------------------------

def run_start_up(config_path, environment, work):
    """The image's first program; returns the two substituted files' text, or raises with why."""
    import planoai
    data = os.path.join(os.path.dirname(planoai.__file__), "data")
    files = {
        "PLANO_CONFIG_FILE": os.path.abspath(config_path),
        "PLANO_CONFIG_SCHEMA_FILE": os.path.join(data, "plano_config_schema.yaml"),
        "TEMPLATE_ROOT": data,
        "ENVOY_CONFIG_TEMPLATE_FILE": "envoy.template.yaml",
        "PLANO_CONFIG_FILE_RENDERED": os.path.join(work, "plano_config_rendered.yaml"),
        "ENVOY_CONFIG_FILE_RENDERED": os.path.join(work, "envoy.yaml"),
    }
    # The generator runs with the pod's whole environment (it reads CHATGPT_ACCOUNT_ID and
    # OTEL_TRACING_GRPC_ENDPOINT from it), so it gets the keys too.
    generator = subprocess.run([sys.executable, "-m", "planoai.config_generator"], cwd=work,
                               env={**environment, **files},
                               capture_output=True, text=True)
    if generator.returncode != 0:
        raise RuntimeError("planoai.config_generator failed (the container would exit): "
                           + (generator.stdout + generator.stderr).strip()[-2000:])
    out = []
    for rendered in (files["PLANO_CONFIG_FILE_RENDERED"], files["ENVOY_CONFIG_FILE_RENDERED"]):
        with open(rendered, "rb") as f:
            substituted = subprocess.run([ENVSUBST], input=f.read(), env=environment, capture_output=True)
        if substituted.returncode != 0:
            raise RuntimeError(f"envsubst failed on {os.path.basename(rendered)}: {substituted.stderr.decode()}")
        out.append(substituted.stdout.decode("utf-8"))
    return out


def embedded_configs(envoy):
    """The configs Envoy's wasm filters carry (google.protobuf.StringValue), with where they are;
    each is replaced by a marker in `envoy` so the rest can be searched on its own."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if node.get("@type") == "type.googleapis.com/google.protobuf.StringValue" and isinstance(node.get("value"), str):
                found.append((path + ".value", node["value"]))
                node["value"] = "<embedded config>"
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(envoy, "envoy")
    return found


# ---- checks -------------------------------------------------------------------------------------

def expected_provider(provider):
    """The model_providers entry Plano's generator makes of a tenant's provider (config_generator.py:
    model becomes the model_id, provider_interface the model's prefix unless given)."""
    spec = provider["spec"]
    prefix, model_id = spec["model"].split("/", 1)
    out = {
        "name": plano_name(provider),
        "model": model_id,
        "provider_interface": spec.get("providerInterface", prefix),
        "default": bool(spec.get("default", False)),
        "passthrough_auth": bool(spec.get("passthroughAuth", False)),
        "headers": dict(spec.get("headers") or {}),
    }
    if "baseURL" in spec:
        out["base_url"] = spec["baseURL"]
    if "httpHost" in spec:
        out["http_host"] = spec["httpHost"]
    return out


def check_providers(entries, providers, keys_by_name, where, problems):
    """`entries`: a model_providers list as Plano would read it."""
    if not isinstance(entries, list):
        problems.add(where, f"is {type(entries).__name__}, not a list")
        return
    by_name = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            problems.add(f"{where}[{i}]", f"is not a provider with a name: {e!r:.200}")
            continue
        if e["name"] in by_name:
            problems.add(f"{where}[{i}]", f"name {e['name']!r} appears twice")
        by_name[e["name"]] = e
    declared = {plano_name(p): p for p in providers}
    for name, e in by_name.items():
        if name not in declared and e.get("internal") is not True:
            problems.add(where, f"holds provider {name!r}, which no tenant declared")
    for name, provider in declared.items():
        at = f"{where}[name={name!r}]"
        e = by_name.get(name)
        if e is None:
            problems.add(where, f"lacks provider {name!r} (ModelProvider {namespace_of(provider)}/{provider['metadata']['name']})")
            continue
        want = expected_provider(provider)
        for field in ("model", "provider_interface", "base_url", "http_host"):
            if e.get(field) != want.get(field):
                problems.add(f"{at}.{field}", f"is {e.get(field)!r}, the tenant wrote {want.get(field)!r}")
        for field in ("default", "passthrough_auth"):
            if bool(e.get(field, False)) is not want[field] or not isinstance(e.get(field, False), bool):
                problems.add(f"{at}.{field}", f"is {e.get(field)!r}, the tenant wrote {want[field]!r}")
        check_headers(e.get("headers") or {}, want["headers"], e.get("provider_interface"), f"{at}.headers", problems)
        key = keys_by_name.get(name)
        if key is None and "access_key" in e:
            problems.add(f"{at}.access_key", "is set, but the provider has no key")
        elif key is not None and e.get("access_key") != key:
            problems.add(f"{at}.access_key", "is not the provider's own key byte for byte "
                         f"(length {len(str(e.get('access_key') or ''))}, expected {len(key)})")
        unknown = set(e) - {"name", "model", "provider_interface", "base_url", "http_host", "headers", "default",
                            "passthrough_auth", "access_key", "endpoint", "port", "protocol", "cluster_name",
                            "base_url_path_prefix"}
        if unknown:
            problems.add(at, f"has fields no tenant field makes: {sorted(unknown)}")


def check_headers(got, want, interface, where, problems):
    if not isinstance(got, dict):
        problems.add(where, f"is {type(got).__name__}, not a map")
        return
    for name, value in want.items():
        if name not in got:
            problems.add(where, f"lacks header {name!r}")
        elif got[name] != value:
            problems.add(f"{where}.{name}", f"is {got[name]!r}, the tenant wrote {value!r}")
    for name in set(got) - set(want):
        if not (name in GENERATOR_HEADERS and interface == "chatgpt"):
            problems.add(where, f"holds header {name!r}, which the tenant did not write")


def check_preferences(config, providers, where, problems):
    want = {}
    for p in providers:
        for pref in p["spec"].get("routingPreferences") or []:
            want.setdefault(pref["name"], (pref["description"], [], pref.get("prefer", "None")))[1].append(p["spec"]["model"])
    got = config.get("routing_preferences") or []
    seen = set()
    for i, pref in enumerate(got):
        name = pref.get("name") if isinstance(pref, dict) else None
        at = f"{where}.routing_preferences[{i}]"
        if name not in want:
            problems.add(at, f"name {name!r} is no tenant's routing preference")
            continue
        seen.add(name)
        if pref.get("description") != want[name][0]:
            problems.add(f"{at}.description", f"is {pref.get('description')!r}, the tenant wrote {want[name][0]!r}")
        if sorted(pref.get("models") or []) != sorted(want[name][1]):
            problems.add(f"{at}.models", f"is {pref.get('models')!r}, expected {want[name][1]!r}")
        prefer = (pref.get("selection_policy") or {}).get("prefer", "none")
        if prefer != want[name][2].lower():
            problems.add(f"{at}.selection_policy", f"prefers {prefer!r}, the tenant wrote {want[name][2]!r}")
    for name in set(want) - seen:
        problems.add(f"{where}.routing_preferences", f"lacks {name!r}")


def check_aliases(config, providers, where, problems):
    """model_aliases: each tenant's alias, targeting its provider's model, and nothing else."""
    want = {alias: p["spec"]["model"] for p in providers for alias in p["spec"].get("aliases") or []}
    got = config.get("model_aliases") or {}
    if not isinstance(got, dict):
        problems.add(f"{where}.model_aliases", f"is {type(got).__name__}, not a map")
        return
    for alias, entry in got.items():
        if alias not in want:
            problems.add(f"{where}.model_aliases", f"holds {alias!r}, which is no tenant's alias")
        elif not isinstance(entry, dict) or entry != {"target": want[alias]}:
            problems.add(f"{where}.model_aliases[{alias!r}]", f"is {entry!r}, the tenant's provider has model {want[alias]!r}")
    for alias in set(want) - set(got):
        problems.add(f"{where}.model_aliases", f"lacks {alias!r}")


def expected_tracing(gateway):
    """The tracing section the gateway asks for, as Plano's generator leaves it; None when it asks for none."""
    t = gateway["spec"].get("tracing")
    if t is None:
        return None
    out = {"random_sampling": t.get("samplingPercent", 100), "opentracing_grpc_endpoint": t["endpoint"]}
    if "traceInternal" in t:
        out["trace_arch_internal"] = t["traceInternal"]
    attributes = t.get("spanAttributes") or {}
    span = {k: attributes[key] for k, key in (("header_prefixes", "headerPrefixes"), ("static", "static")) if attributes.get(key)}
    if span:
        out["span_attributes"] = span
    return out


def check_state_storage(config, gateway, connection_string, where, problems):
    storage = gateway["spec"].get("stateStorage")
    want = None if storage is None else {"type": storage["type"].lower()}
    if connection_string is not None:
        want["connection_string"] = connection_string
    got = config.get("state_storage")
    if got != want:
        # Never print a connection string: it holds a password.
        problems.add(f"{where}.state_storage", f"holds {sorted(got) if isinstance(got, dict) else got!r}, not the gateway's "
                     f"{storage and storage['type']} storage with its own connection string")


def expected_rate_limits(gateway):
    """Plano's ratelimits for the gateway's rateLimits, in order: each model as the model_id Plano's
    filter compares with the model a request resolves to."""
    return [{"model": l["model"].split("/", 1)[1], "selector": dict(l["selector"]), "limit": dict(l["limit"])}
            for l in gateway["spec"].get("rateLimits") or []]


def check_rate_limits(config, gateway, where, problems):
    want = expected_rate_limits(gateway)
    got = config.get("ratelimits") or []
    if got != want:
        problems.add(f"{where}.ratelimits", f"is {got!r}, the gateway says {want!r} (Plano compares each model's model_id)")


def check_routing(config, gateway, providers, where, problems):
    """The routing model is the provider the gateway names, and Plano adds no hosted router for it: routed
    prompts stay with that provider (brightstaff picks the first provider whose model is the routing
    model's model_id, main.rs)."""
    routing = gateway["spec"].get("routing")
    got = (config.get("overrides") or {}).get("llm_routing_model")
    entries = [e for e in config.get("model_providers") or [] if isinstance(e, dict)]
    hosted = [e.get("name") for e in entries if e.get("name") == "plano-orchestrator"]
    if routing is None:
        if got is not None:
            problems.add(f"{where}.overrides.llm_routing_model", f"is {got!r}, but the gateway names no routing model")
        return
    ref = routing["modelProviderRef"]
    key = f"{ref.get('namespace', namespace_of(gateway))}/{ref['name']}"
    router = next((p for p in providers if f"{namespace_of(p)}/{p['metadata']['name']}" == key), None)
    if router is None:
        problems.add(f"{where}.overrides", f"the gateway's routing model, ModelProvider {key}, is not among its providers")
        return
    if got != router["spec"]["model"]:
        problems.add(f"{where}.overrides.llm_routing_model", f"is {got!r}, the gateway's routing provider {key} has model "
                     f"{router['spec']['model']!r}")
    if hosted:
        problems.add(f"{where}.model_providers", "holds Plano's hosted router plano-orchestrator (archfc.katanemo.dev): "
                     "routed prompts leave the cluster")
    model_id = str(got or "").split("/", 1)[-1]
    chosen = next((e.get("name") for e in entries if e.get("model") == model_id), None)
    if chosen != plano_name(router):
        problems.add(f"{where}.overrides.llm_routing_model", f"brightstaff would route with provider {chosen!r}, not "
                     f"{plano_name(router)!r} of ModelProvider {key}")
    length = routing.get("contextLength")
    if (config.get("overrides") or {}).get("orchestrator_model_context_length") != length:
        problems.add(f"{where}.overrides.orchestrator_model_context_length",
                     f"is {(config.get('overrides') or {}).get('orchestrator_model_context_length')!r}, the gateway says {length!r}")


def expected_metrics_sources(gateway):
    """Plano's model_metrics_sources for the gateway's modelMetrics: cost, then latency."""
    metrics = gateway["spec"].get("modelMetrics") or {}
    out = []
    if "cost" in metrics:
        c = metrics["cost"]
        entry = {"type": "cost", "provider": c["provider"]}
        for key, field in (("url", "url"), ("refresh_interval", "refreshIntervalSeconds"), ("model_aliases", "modelAliases")):
            if c.get(field):
                entry[key] = c[field]
        out.append(entry)
    if "latency" in metrics:
        l = metrics["latency"]
        entry = {"type": "latency", "provider": "prometheus", "url": l["url"], "query": l["query"]}
        if l.get("refreshIntervalSeconds"):
            entry["refresh_interval"] = l["refreshIntervalSeconds"]
        out.append(entry)
    return out


def check_model_metrics(config, gateway, where, problems):
    """The metrics sources arrive as the gateway declares them, and brightstaff's start-up gate (main.rs)
    passes: a preference preferring cheapest needs a cost source, fastest a latency source."""
    got = config.get("model_metrics_sources") or []
    want = expected_metrics_sources(gateway)
    if got != want:
        problems.add(f"{where}.model_metrics_sources", f"is {got!r}, the gateway says {want!r}")
    types = [s.get("type") for s in got if isinstance(s, dict)]
    for i, pref in enumerate(config.get("routing_preferences") or []):
        prefer = ((pref or {}).get("selection_policy") or {}).get("prefer")
        needed = {"cheapest": "cost", "fastest": "latency"}.get(prefer)
        if needed and needed not in types:
            problems.add(f"{where}.routing_preferences[{i}].selection_policy",
                         f"brightstaff refuses to start: prefer: {prefer} without a {needed} metrics source")
    for kind in ("cost", "latency"):
        if types.count(kind) > 1:
            problems.add(f"{where}.model_metrics_sources", f"brightstaff refuses to start: more than one {kind} source")


def check_tracing(config, gateway, where, problems):
    want = expected_tracing(gateway)
    if config.get("tracing") != want:
        problems.add(f"{where}.tracing", f"is {config.get('tracing')!r}, the gateway says {want!r}")


def check_listeners(config, gateway, where, problems):
    got = {l.get("name"): l for l in config.get("listeners") or [] if isinstance(l, dict)}
    for i, l in enumerate(gateway["spec"].get("listeners") or []):
        at = f"{where}.listeners[name={l['name']!r}]"
        e = got.get(l["name"])
        if e is None:
            problems.add(f"{where}.listeners", f"lacks listener {l['name']!r} (spec.listeners[{i}].name); it holds {sorted(map(str, got))}")
            continue
        for field, want in (("address", l.get("address", "0.0.0.0")), ("timeout", l.get("timeout")), ("port", l.get("port"))):
            if want is not None and e.get(field) != want:
                problems.add(f"{at}.{field}", f"is {e.get(field)!r}, the gateway says {want!r}")


def model_listener(gateway):
    return next((l for l in gateway["spec"].get("listeners") or [] if l.get("type", "model") == "model"), None)


def check_config(config, gateway, providers, keys_by_name, where, problems):
    if not isinstance(config, dict):
        problems.add(where, f"is {type(config).__name__}, not a mapping")
        return
    check_providers(config.get("model_providers"), providers, keys_by_name, f"{where}.model_providers", problems)
    check_preferences(config, providers, where, problems)
    check_aliases(config, providers, where, problems)
    if gateway:
        check_listeners(config, gateway, where, problems)
        check_tracing(config, gateway, where, problems)
        check_state_storage(config, gateway, keys_by_name.get(STATE_STORAGE), where, problems)
        check_rate_limits(config, gateway, where, problems)
        check_routing(config, gateway, providers, where, problems)
        check_model_metrics(config, gateway, where, problems)
        # The generator hangs the providers under the model listener too; Plano reads them there.
        for i, l in enumerate(config.get("listeners") or []):
            if isinstance(l, dict) and l.get("type") == "model":
                check_providers(l.get("model_providers") or [], providers, keys_by_name,
                                f"{where}.listeners[{i}].model_providers", problems)


def cluster_endpoints(envoy, name=None):
    """The endpoints of Envoy's clusters (of the one named `name`, when given)."""
    return [ep.get("endpoint") or {} for c in (envoy.get("static_resources") or {}).get("clusters") or []
            if isinstance(c, dict) and name in (None, c.get("name"))
            for group in (c.get("load_assignment") or {}).get("endpoints") or [] for ep in group.get("lb_endpoints") or []]


def socket_address(endpoint):
    return (endpoint.get("address") or {}).get("socket_address") or {}


def check_envoy(envoy, gateway, providers, problems):
    """What the template writes unquoted into Envoy's own YAML."""
    listeners = (envoy.get("static_resources") or {}).get("listeners") or []
    egress = next((l for l in listeners if isinstance(l, dict) and l.get("name") == "egress_traffic"), None)
    model = model_listener(gateway) if gateway else None
    if egress is None:
        problems.add("envoy", "has no egress_traffic listener")
    elif model:
        address = egress.get("address", {}).get("socket_address", {})
        if address.get("address") != model.get("address", "0.0.0.0") or address.get("port_value") != model.get("port"):
            problems.add("envoy.egress_traffic.address", f"is {address!r}, the gateway says "
                         f"{model.get('address', '0.0.0.0')!r}:{model.get('port')!r}")
        timeouts = [r["route"].get("timeout") for r in find_routes(egress) if r.get("route", {}).get("cluster") == "bright_staff"]
        if timeouts != [model.get("timeout", "300s")]:
            problems.add("envoy.egress_traffic.route.timeout", f"is {timeouts!r}, the gateway says {model.get('timeout', '300s')!r}")
    endpoints = cluster_endpoints(envoy)
    hostnames = {e.get("hostname") for e in endpoints}
    addresses = {socket_address(e).get("address") for e in endpoints}
    tracing = expected_tracing(gateway) if gateway else None
    if tracing and tracing["random_sampling"] > 0:
        # The template writes the endpoint's host and the text after its last ':' unquoted.
        collector = urllib.parse.urlparse(tracing["opentracing_grpc_endpoint"])
        found = [socket_address(e) for e in cluster_endpoints(envoy, "opentelemetry_collector")]
        if [(a.get("address"), a.get("port_value")) for a in found] != [(collector.hostname, collector.port)]:
            problems.add("envoy.clusters[opentelemetry_collector]", f"reaches {found!r}, the gateway's tracing.endpoint is "
                         f"{tracing['opentracing_grpc_endpoint']!r}")
    for p in providers:
        host = p["spec"].get("httpHost")
        if host is not None and host not in hostnames:
            problems.add(f"envoy.clusters[provider={plano_name(p)!r}]", f"no cluster's hostname is the tenant's httpHost {host!r}")
        if "baseURL" in p["spec"]:
            # Plano's generator takes the endpoint from urlparse (config_generator.py).
            endpoint = urllib.parse.urlparse(p["spec"]["baseURL"]).hostname
            if endpoint not in addresses:
                problems.add(f"envoy.clusters[provider={plano_name(p)!r}]", f"no cluster's address is the baseURL's host {endpoint!r}")


def find_routes(node):
    if isinstance(node, dict):
        if "route" in node and "match" in node:
            yield node
        for v in node.values():
            yield from find_routes(v)
    elif isinstance(node, list):
        for v in node:
            yield from find_routes(v)


def find_key_values(node, path, keys, allowed, problems):
    """Every place a key value shows up in `node` other than the `allowed` paths."""
    def holds(text, value):
        return text == value or (len(value) >= MIN_SEARCHED_KEY and value in text)

    if isinstance(node, dict):
        for k, v in node.items():
            child = f"{path}.{k}"
            for var, value in keys.items():
                if holds(str(k), value):
                    problems.add(child, f"a mapping key holds the value of {var}")
            find_key_values(v, child, keys, allowed, problems)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            find_key_values(v, f"{path}[{i}]", keys, allowed, problems)
    elif isinstance(node, str):
        for var, value in keys.items():
            if holds(node, value) and (path, var) not in allowed:
                problems.add(path, f"holds the value of {var}, a key, outside its provider's access_key")


def access_key_paths(config, where, variable_of_name):
    """(path, variable) pairs where a key is meant to be: each provider's access_key, and the state
    storage's connection string."""
    out = set()
    if STATE_STORAGE in variable_of_name:
        out.add((f"{where}.state_storage.connection_string", variable_of_name[STATE_STORAGE]))
    lists = [(f"{where}.model_providers", config.get("model_providers") or [])]
    for i, l in enumerate(config.get("listeners") or []):
        if isinstance(l, dict):
            lists.append((f"{where}.listeners[{i}].model_providers", l.get("model_providers") or []))
    for at, entries in lists:
        for j, e in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(e, dict) and e.get("name") in variable_of_name:
                out.add((f"{at}[{j}].access_key", variable_of_name[e["name"]]))
    return out


def state_storage_ref(gateway):
    ref = ((gateway or {}).get("spec", {}).get("stateStorage") or {}).get("connectionStringSecretRef")
    return (namespace_of(gateway), ref["name"], ref["key"]) if ref else None


def key_variables(config_path, gateway, providers, problems):
    """provider name (STATE_STORAGE for the connection string) -> the variable its access_key names
    in the rendered (not yet substituted) config. Distinct Secret keys must have distinct variables,
    and one Secret key one variable."""
    try:
        with open(config_path, encoding="utf-8") as f:
            rendered = yaml.safe_load(f)
    except yaml.YAMLError as e:
        problems.add(config_path, f"does not read as YAML with PyYAML, as Plano's generator reads it: {e}")
        return {}, {}
    entries = {e.get("name"): e for e in rendered.get("model_providers") or [] if isinstance(e, dict)}
    entries[STATE_STORAGE] = {"access_key": (rendered.get("state_storage") or {}).get("connection_string")}
    variable_of_name, ref_of_variable, variable_of_ref = {}, {}, {}
    for name, ref in [(plano_name(p), secret_ref(p)) for p in providers] + [(STATE_STORAGE, state_storage_ref(gateway))]:
        access_key = (entries.get(name) or {}).get("access_key")
        if ref is None:
            continue
        match = VARIABLE.match(access_key) if isinstance(access_key, str) else None
        if not match:
            problems.add(f"{config_path}: provider {name!r}.access_key", f"is {access_key!r}, not $VARIABLE")
            continue
        var = match.group(1) or match.group(2)
        variable_of_name[name] = var
        if ref_of_variable.setdefault(var, ref) != ref:
            problems.add(f"{config_path}: provider {name!r}.access_key",
                         f"{var} stands for Secret key {'/'.join(ref_of_variable[var])} and for {'/'.join(ref)}")
        if variable_of_ref.setdefault(ref, var) != var:
            problems.add(f"{config_path}: provider {name!r}.access_key",
                         f"Secret key {'/'.join(ref)} has two variables, {variable_of_ref[ref]} and {var}")
    return variable_of_name, ref_of_variable


def read_substituted(text, loader, name, problems):
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        problems.add(name, f"no longer reads as YAML after envsubst: {e}")
        return None


def rendered_gateway(config_path):
    """NAMESPACE/NAME from the renderer's first line, "# Rendered by plano-operator from PlanoGateway NS/NAME."."""
    with open(config_path, encoding="utf-8") as f:
        match = re.match(r"# Rendered by plano-operator from PlanoGateway (\S+?)\.? ", f.readline())
    if not match:
        sys.exit(f"FAIL: {config_path} does not say which gateway it was rendered from; pass --gateway")
    return match.group(1)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--gateway", help="NAMESPACE/NAME; by default the one the config's first comment names")
    parser.add_argument("--objects", action="append", required=True)
    parser.add_argument("--keys")
    parser.add_argument("--secrets", action="append", default=[])
    args = parser.parse_args(argv)
    if not os.access(ENVSUBST, os.X_OK):
        print(f"FAIL: {ENVSUBST} is missing; run scripts/setup.sh (Debian package gettext-base)")
        return 1

    if not args.gateway:
        args.gateway = rendered_gateway(args.config)
    problems = Problems()
    gateway, providers = declared_objects(args.objects, args.gateway)
    if gateway is None:
        problems.add(args.gateway, "no such PlanoGateway in --objects")
    tenant_values = tenant_secret_values(args.secrets)
    variable_of_name, ref_of_variable = key_variables(args.config, gateway, providers, problems)
    if args.keys:
        keys = read_keys(args.keys)
    else:
        # A made-up value per variable, unless the tenant's Secret says what it holds.
        keys = {var: tenant_values.get(ref, f"made-up-key-{random_source.token_hex(12)}") for var, ref in ref_of_variable.items()}
    for var, ref in ref_of_variable.items():
        if var not in keys:
            problems.add(f"variable {var}", f"(Secret key {'/'.join(ref)}) is not among the pod's keys")
        elif ref in tenant_values and tenant_values[ref] != keys[var]:
            problems.add(f"variable {var}", f"holds another value than Secret key {'/'.join(ref)}")
    keys_by_name = {name: keys.get(var) for name, var in variable_of_name.items()}

    environment = {**keys, **POD_ENVIRONMENT}
    with tempfile.TemporaryDirectory() as work:
        try:
            config_text, envoy_text = run_start_up(args.config, environment, work)
        except RuntimeError as e:
            problems.add(args.config, str(e))
            return report(problems, args)
    config = read_substituted(config_text, KeyCheckingLoader, "plano_config_rendered.env_sub.yaml", problems)
    envoy = read_substituted(envoy_text, yaml.SafeLoader, "envoy.env_sub.yaml", problems)
    if config is None or envoy is None:
        return report(problems, args)

    allowed = access_key_paths(config, "config", variable_of_name)
    check_config(config, gateway, providers, keys_by_name, "config", problems)
    find_key_values(config, "config", keys, allowed, problems)
    configs = embedded_configs(envoy)
    if len(configs) < 1:
        problems.add("envoy", "embeds no Plano config")
    for where, text in configs:
        try:
            embedded = yaml.load(text, Loader=KeyCheckingLoader)
        except yaml.YAMLError as e:
            problems.add(where, f"the embedded config no longer reads as YAML: {e}")
            continue
        if embedded != config:  # when equal, the config's findings are its findings too
            problems.add(where, "the embedded config differs from plano_config_rendered.env_sub.yaml")
            check_config(embedded, gateway, providers, keys_by_name, where, problems)
            find_key_values(embedded, where, keys, access_key_paths(embedded, where, variable_of_name), problems)
    find_key_values(envoy, "envoy", keys, set(), problems)
    check_envoy(envoy, gateway, providers, problems)
    return report(problems, args)


def report(problems, args):
    if problems.lines:
        print(f"FAIL: {args.config} (gateway {args.gateway}) does not start as written:")
        for line in problems.lines:
            print(f"  {line}")
        return 1
    print(f"ok: {args.config} (gateway {args.gateway}) starts with every tenant string and key as written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Writes the hostile-tenant suite: manifests that try to make Plano's start-up (envsubst over the
rendered config, then PyYAML; Envoy's YAML, where the template writes hosts unquoted) hand one
tenant another's key, rewrite the config or break it for every tenant.

usage: generate_attacks.py PLANO_OPERATOR_BINARY OUTDIR

OUTDIR gets
  context-gateway.yaml   the gateway platform/attacked (one model listener, every namespace allowed)
  context-tenants.yaml   the namespaces, team-a's provider team-a/victim with its key Secret, and
                         team-b's key Secret
  NNN-<slug>.yaml        one attack each: team-b's provider team-b/thief (or, for the listener, span attribute,
                         rate limit selector and metrics source fields, a new version of the gateway) with one
                         hostile string, or a
                         provider whose Secret names mangle like the victim's; 001-control.yaml
                         is the thief with nothing hostile, which must pass
Each attack file starts with "# attack: {json}": the attacked object (Kind/namespace/name), the
field `plano-operator validate` must name when it refuses it ("field", a prefix: a header's path
holds the hostile name), the field an API server message names ("apiField": CEL on a map or list
is reported on the map or list), which context files it goes with, and what it tries. Every string is
written as a JSON escape, so the file is plain ASCII and means the same to every YAML reader.
"""
import json
import os
import re
import subprocess
import sys

GATEWAY = {"apiVersion": "plano-operator.io/v1alpha1", "kind": "PlanoGateway",
           "metadata": {"name": "attacked", "namespace": "platform"},
           "spec": {"listeners": [{"name": "llm", "type": "model", "port": 12000, "address": "0.0.0.0", "timeout": "30s"}],
                    "allowedProviders": {"namespaces": {"from": "All"}},
                    "tracing": {"endpoint": "http://otel-collector.observability:4317",
                                "spanAttributes": {"headerPrefixes": ["x-team-"], "static": {"env": "prod"}}},
                    "rateLimits": [{"model": "openai/gpt-4o", "selector": {"key": "x-team", "value": "team-a"},
                                    "limit": {"tokens": 100000, "unit": "minute"}}],
                    "modelMetrics": {"cost": {"provider": "models.dev", "modelAliases": {"openai/gpt-4o-2024": "openai/gpt-4o"}},
                                     "latency": {"url": "http://prometheus.monitoring:9090",
                                                 "query": "sum by (model_name) (llm_latency_seconds)"}}}}
GATEWAY_REF = {"name": "attacked", "namespace": "platform"}


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def secret(ns, name, key, value):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "stringData": {key: value}}


def provider(ns, name, spec):
    return {"apiVersion": "plano-operator.io/v1alpha1", "kind": "ModelProvider",
            "metadata": {"name": name, "namespace": ns}, "spec": {"gatewayRef": GATEWAY_REF, **spec}}


VICTIM = provider("team-a", "victim", {"model": "openai/gpt-4o", "default": True,
                                       "accessKeySecretRef": {"name": "openai-credentials", "key": "api-key"}})
# The thief fills every string field, so each attack changes exactly one of them.
THIEF_SPEC = {"model": "anthropic/claude-sonnet-4-5", "name": "thief", "baseURL": "https://api.anthropic.com/v1",
              "httpHost": "api.anthropic.com", "headers": {"X-Team": "b"},
              "accessKeySecretRef": {"name": "anthropic-credentials", "key": "api-key"},
              "routingPreferences": [{"name": "code", "description": "writing code"}], "aliases": ["thief-fast"]}
TENANTS = [namespace("platform"), namespace("team-a"), namespace("team-b"), namespace("team-a-openai"), namespace("team"),
           VICTIM, secret("team-a", "openai-credentials", "api-key", "sk-victim-7f3a9c2e4b1d8f6a"),
           secret("team-b", "anthropic-credentials", "api-key", "sk-thief-2b8e5d1f9a7c3e4b")]

# YAML syntax, for the values Plano's template writes unquoted into Envoy's config (http_host,
# the listener's address and timeout): a comment would cut the value short, a ": " make a mapping.
YAML_SYNTAX = {"comment": " #x", "tab-comment": "\t#x", "mapping": ": x", "flow": " {x: y}"}
YAML_INDICATORS = "*&!|>'\"%@`{[?-#,"
LINE_BREAKS = {"nel": "\u0085", "ls": "\u2028", "ps": "\u2029", "cr": "\r", "lf": "\n", "del": "\u007f"}
# What follows a line break: the start of a provider the thief would like Plano to read.
INJECTED = "  - model: openai/gpt-4o-mini"


def variable_payloads(victim_variable):
    return {"victim-var": "$" + victim_variable, "victim-var-braced": "${" + victim_variable + "}",
            "home": "$HOME", "hostname-braced": "${HOSTNAME}"}


def thief_with(field, payload):
    """The thief's spec with `payload` appended to one field; its validate and API field paths."""
    spec = json.loads(json.dumps(THIEF_SPEC))
    if field == "header-name":
        spec["headers"] = {"X-Team" + payload: "b"}
        return spec, "spec.headers", "spec.headers"
    if field == "header-value":
        spec["headers"] = {"X-Team": "b" + payload}
        return spec, "spec.headers.X-Team", "spec.headers"
    if field in ("preference-name", "preference-description"):
        key = field.split("-")[1]
        spec["routingPreferences"][0][key] += payload
        return spec, f"spec.routingPreferences[0].{key}", "spec.routingPreferences"
    if field == "alias":
        spec["aliases"][0] += payload
        return spec, "spec.aliases[0]", "spec.aliases"
    spec[field] += payload
    return spec, f"spec.{field}", f"spec.{field}"


def gateway_with(field, payload):
    gw = json.loads(json.dumps(GATEWAY))
    if field == "span-attribute":
        gw["spec"]["tracing"]["spanAttributes"]["static"]["env"] += payload
        return gw, 'spec.tracing.spanAttributes.static["env"]', "spec.tracing.spanAttributes.static"
    if field == "rate-limit-value":
        gw["spec"]["rateLimits"][0]["selector"]["value"] += payload
        return gw, "spec.rateLimits[0].selector.value", "spec.rateLimits[0].selector.value"
    if field == "metrics-url":
        gw["spec"]["modelMetrics"]["latency"]["url"] += payload
        return gw, "spec.modelMetrics.latency.url", "spec.modelMetrics.latency.url"
    if field == "metrics-query":
        gw["spec"]["modelMetrics"]["latency"]["query"] += payload
        return gw, "spec.modelMetrics.latency.query", "spec.modelMetrics.latency.query"
    if field == "metrics-model-alias":
        gw["spec"]["modelMetrics"]["cost"]["modelAliases"]["openai/gpt-4o-2024"] += payload
        return gw, 'spec.modelMetrics.cost.modelAliases["openai/gpt-4o-2024"]', "spec.modelMetrics.cost.modelAliases"
    gw["spec"]["listeners"][0][field] += payload
    return gw, f"spec.listeners[0].{field}", "spec.listeners"


def attacks(victim_variable):
    """(slug, about, attacked object, field, apiField, context, objects)"""
    # The thief as it is: valid and harmless, so that any refusal below is the payload's doing.
    yield ("control", "no hostile string (the baseline every other attack changes)", "ModelProvider/team-b/thief", None,
           None, ["context-gateway.yaml", "context-tenants.yaml"], [provider("team-b", "thief", THIEF_SPEC)])
    payloads = {**variable_payloads(victim_variable), **{f"break-{k}": v + INJECTED for k, v in LINE_BREAKS.items()},
                **{f"yaml-{k}": v for k, v in YAML_SYNTAX.items()}}
    for field in ("name", "model", "baseURL", "httpHost", "header-name", "header-value", "preference-name",
                  "preference-description", "alias"):
        for slug, payload in payloads.items():
            spec, at, api_at = thief_with(field, payload)
            yield (f"{field}-{slug}", f"{payload!r} in the provider's {field}", "ModelProvider/team-b/thief", at, api_at,
                   ["context-gateway.yaml", "context-tenants.yaml"], [provider("team-b", "thief", spec)])
    gateway_fields = ("span-attribute", "rate-limit-value", "metrics-url", "metrics-query", "metrics-model-alias")
    for field in ("name", "timeout", "address") + gateway_fields:
        for slug, payload in payloads.items():
            gw, at, api_at = gateway_with(field, payload)
            what = field if field in gateway_fields else f"listener-{field}"
            yield (f"{what}-{slug}", f"{payload!r} in the gateway's {what}", "PlanoGateway/platform/attacked",
                   at, api_at, ["context-tenants.yaml"], [gw])
    # A host that starts with a YAML indicator: the generator hands base_url's host and http_host to
    # Envoy's template, which writes them unquoted (address, sni, hostname).
    for i, indicator in enumerate(YAML_INDICATORS):
        for field, value in (("baseURL", f"https://{indicator}api.anthropic.com/v1"), ("httpHost", f"{indicator}api.anthropic.com")):
            yield (f"{field}-host-indicator-{i}", f"host {value!r} in the provider's {field}", "ModelProvider/team-b/thief",
                   f"spec.{field}", f"spec.{field}", ["context-gateway.yaml", "context-tenants.yaml"],
                   [provider("team-b", "thief", {**THIEF_SPEC, field: value})])
    # A header value that is a YAML document: if written unquoted or folded, the rest becomes providers.
    document = "a\n  - model: openai/gpt-4o-mini\n    access_key: $" + victim_variable
    spec = {**THIEF_SPEC, "headers": {"x": document}}
    yield ("header-value-yaml-document", "a header value holding YAML that adds a provider with the victim's key",
           "ModelProvider/team-b/thief", "spec.headers.x", "spec.headers", ["context-gateway.yaml", "context-tenants.yaml"],
           [provider("team-b", "thief", spec)])
    # Secret names that the old variable mangling (upper case, punctuation to '_') made equal to the
    # victim's (team-a/openai-credentials/api-key): each must get a variable of its own and its own key.
    lookalikes = [("team-a", "openai-credentials", "API-KEY"), ("team-a", "openai-credentials", "api_key"),
                  ("team-a", "openai-credentials", "Api.Key"), ("team-a", "openai.credentials", "api-key"),
                  ("team-a-openai", "credentials", "api-key"), ("team", "a-openai-credentials", "api-key")]
    models = ["openai/gpt-4.1", "openai/gpt-4o-mini", "openai/o3", "openai/o4-mini", "openai/gpt-4.1-mini", "openai/gpt-4.1-nano"]
    for i, ((ns, name, key), model) in enumerate(zip(lookalikes, models)):
        slug = re.sub(r"[^a-z0-9]+", "-", f"{ns}-{name}-{key}".lower())
        yield (f"lookalike-secret-{slug}-{i}", f"a key in Secret {ns}/{name}, key {key}, named like the victim's",
               f"ModelProvider/{ns}/lookalike", None, None, ["context-gateway.yaml", "context-tenants.yaml"],
               [provider(ns, "lookalike", {"model": model, "accessKeySecretRef": {"name": name, "key": key}}),
                secret(ns, name, key, f"sk-lookalike-{i}-{slug}")])


def write_stream(path, objects, header=""):
    with open(path, "w", encoding="ascii") as f:
        f.write(header)
        f.write("".join("---\n" + json.dumps(o, ensure_ascii=True) + "\n" for o in objects))


def victim_variable(binary, out):
    """The variable the renderer gives the victim's key, read from its access_key line."""
    rendered = subprocess.run([binary, "render", "-f", os.path.join(out, "context-gateway.yaml"), "-f",
                               os.path.join(out, "context-tenants.yaml")], capture_output=True, text=True, check=True)
    match = re.search(r'access_key: "?\$\{?([A-Za-z0-9_]+)', rendered.stdout)
    if not match:
        sys.exit(f"no access_key variable in the rendered context:\n{rendered.stdout}")
    return match.group(1)


def main(binary, out):
    os.makedirs(out, exist_ok=True)
    write_stream(os.path.join(out, "context-gateway.yaml"), [GATEWAY])
    write_stream(os.path.join(out, "context-tenants.yaml"), TENANTS)
    variable = victim_variable(binary, out)
    count = 0
    for count, (slug, about, obj, field, api_field, context, objects) in enumerate(attacks(variable), 1):
        meta = {"object": obj, "field": field, "apiField": api_field, "context": context, "about": about}
        write_stream(os.path.join(out, f"{count:03d}-{slug}.yaml"), objects, f"# attack: {json.dumps(meta, ensure_ascii=True)}\n")
    print(f"{count} attacks written to {out} (victim's variable {variable})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

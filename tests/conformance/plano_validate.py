"""Runs Plano's own config validator (the pinned planoai wheel) on one rendered config.

Exit 0 only if every mapping key reads back as a distinct string with PyYAML (Plano's reader),
Plano accepts the file and prints no warning; otherwise print why and exit 1.
"""
import contextlib
import io
import os
import sys
import tempfile

import planoai
import yaml
from planoai import config_generator


class KeyCheckingLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing keys that are not strings or that repeat: Plano's validator
    takes either silently (a header named on becomes True, and a second one replaces the first)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            where = f"line {key_node.start_mark.line + 1}"
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(None, None, f"{where}: key {key_node.value!r} reads as {type(key).__name__}, not a string")
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"{where}: key {key!r} repeats")
            seen.add(key)
        return super().construct_mapping(node, deep)


KeyCheckingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, KeyCheckingLoader.construct_mapping)


def main(path: str) -> int:
    try:
        with open(path) as f:
            yaml.load(f, Loader=KeyCheckingLoader)
    except yaml.YAMLError as e:
        print(f"{path}: does not read back as written: {e}")
        return 1
    data = os.path.join(os.path.dirname(planoai.__file__), "data")
    with tempfile.TemporaryDirectory() as out:
        os.environ.update({
            "PLANO_CONFIG_FILE": os.path.abspath(path),
            "PLANO_CONFIG_SCHEMA_FILE": os.path.join(data, "plano_config_schema.yaml"),
            "TEMPLATE_ROOT": data,
            "ENVOY_CONFIG_TEMPLATE_FILE": "envoy.template.yaml",
            "PLANO_CONFIG_FILE_RENDERED": os.path.join(out, "plano_config_rendered.yaml"),
            "ENVOY_CONFIG_FILE_RENDERED": os.path.join(out, "envoy.yaml"),
        })
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                config_generator.validate_and_render_schema()
        except SystemExit as e:
            print(f"{path}: Plano rejected the config (exit {e.code}):\n{captured.getvalue()}")
            return 1
        except Exception as e:  # the generator raises plain Exceptions for rule failures
            print(f"{path}: Plano rejected the config: {e}")
            return 1
        with open(os.path.join(out, "plano_config_rendered.yaml")) as f:
            leak = hosted_router(yaml.safe_load(f))
        if leak:
            print(f"{path}: {leak}")
            return 1
    warnings = [l for l in captured.getvalue().splitlines() if "WARNING" in l.upper()]
    if warnings:
        print(f"{path}: Plano accepted the config with warnings:\n" + "\n".join(warnings))
        return 1
    print(f"{path}: accepted by planoai {planoai_version()}, no warnings")
    return 0


def hosted_router(rendered) -> str:
    """Why routed prompts would leave the cluster, or "": a config that names a routing model
    (overrides.llm_routing_model) means it to be one of its own providers, and Plano's generator
    adds its hosted plano-orchestrator (archfc.katanemo.dev) when none is."""
    routing_model = (rendered.get("overrides") or {}).get("llm_routing_model")
    if routing_model is None:
        return ""
    for p in rendered.get("model_providers") or []:
        if p.get("name") == "plano-orchestrator":
            return (f"Plano added its hosted router plano-orchestrator for llm_routing_model {routing_model!r}: "
                    "no provider of the config serves that model, so routed prompts would leave the cluster")
    return ""


def planoai_version() -> str:
    from importlib.metadata import version
    return version("planoai")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

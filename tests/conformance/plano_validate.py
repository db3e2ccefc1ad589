"""Runs Plano's own config validator (the pinned planoai wheel) on one rendered config.

Exit 0 only if Plano accepts the file and prints no warning; otherwise print why and exit 1.
"""
import contextlib
import io
import os
import sys
import tempfile

import planoai
from planoai import config_generator


def main(path: str) -> int:
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
    warnings = [l for l in captured.getvalue().splitlines() if "WARNING" in l.upper()]
    if warnings:
        print(f"{path}: Plano accepted the config with warnings:\n" + "\n".join(warnings))
        return 1
    print(f"{path}: accepted by planoai {planoai_version()}, no warnings")
    return 0


def planoai_version() -> str:
    from importlib.metadata import version
    return version("planoai")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

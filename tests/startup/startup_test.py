"""Start-up conformance: every gateway of every example, rendered by `plano-operator render`, goes
through Plano's start-up (plano_startup.py) with a made-up key per variable and arrives as written.
Then each must-fail/ case, a config wrong in one way, must be caught with the phrase its
`# expect:` line names, so the harness is shown able to fail.

usage: startup_test.py PLANO_OPERATOR_BINARY   (run with .cache/venv/bin/python)
"""
import contextlib
import glob
import io
import os
import subprocess
import sys
import tempfile

import yaml

import plano_startup

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MUST_FAIL = os.path.join(ROOT, "tests", "startup", "must-fail")


def harness(args):
    """plano_startup's exit code and output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = plano_startup.main(args)
    return code, out.getvalue()


def gateways_of(path):
    with open(path, encoding="utf-8") as f:
        return [f"{d['metadata'].get('namespace', 'default')}/{d['metadata']['name']}"
                for d in yaml.safe_load_all(f) if d and d.get("kind") == "PlanoGateway"]


def check_examples(binary, work):
    checked = failed = 0
    for example in sorted(glob.glob(f"{ROOT}/examples/*.yaml") + glob.glob(f"{ROOT}/tests/conformance/extra/*.yaml")):
        for gateway in gateways_of(example):
            config = os.path.join(work, f"{os.path.basename(example)}.{gateway.replace('/', '.')}.plano_config.yaml")
            with open(config, "w") as out:
                subprocess.run([binary, "render", "-f", example, "--gateway", gateway], stdout=out, check=True)
            code, text = harness(["--config", config, "--gateway", gateway, "--objects", example, "--secrets", example])
            print(text, end="")
            checked += 1
            failed += code != 0
    return checked, failed


def check_must_fail():
    """Each case must fail with its expected phrase; returns how many did not."""
    missed = 0
    cases = sorted(glob.glob(f"{MUST_FAIL}/*.plano_config.yaml"))
    for config in cases:
        objects = config.replace(".plano_config.yaml", ".yaml")
        with open(objects, encoding="utf-8") as f:
            expect = f.readline().removeprefix("# expect: ").strip()
        shared = os.path.join(MUST_FAIL, "tenants.yaml")
        code, text = harness(["--config", config, "--objects", shared, "--objects", objects,
                              "--secrets", shared, "--secrets", objects])
        if code == 0 or expect not in text:
            print(f"FAIL: must-fail case {os.path.basename(objects)} was not caught with \"{expect}\":\n{text}")
            missed += 1
    return len(cases), missed


def main(binary):
    with tempfile.TemporaryDirectory() as work:
        checked, failed = check_examples(binary, work)
    cases, missed = check_must_fail()
    print(f"startup: {checked} config(s) started, {failed} did not arrive as written; "
          f"{cases} must-fail case(s), {missed} slipped through")
    return 0 if checked > 0 and failed == 0 and cases > 0 and missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""The hostile-tenant suite through the CLI: each attack of generate_attacks.py must either be refused
by `plano-operator validate` on the field it attacks, or be harmless: rendered, then started as
Plano's image starts (tests/startup/plano_startup.py), every string and key arrives as written.

usage: attacks_test.py PLANO_OPERATOR_BINARY   (run with .cache/venv/bin/python)
Prints one line per attack (refused / harmless / HARMFUL / WRONG FIELD) and a summary; exit 1 if any
attack is harmful or refused for another reason than its field.
"""
import contextlib
import glob
import io
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "startup"))
import generate_attacks  # noqa: E402
import plano_startup  # noqa: E402

GATEWAY = "platform/attacked"


def metadata(path):
    with open(path, encoding="ascii") as f:
        return json.loads(f.readline().removeprefix("# attack: "))


def verdict(binary, attack, meta):
    """("refused", field) | ("harmless", "") | ("HARMFUL", why) | ("WRONG FIELD", why)"""
    files = [os.path.join(os.path.dirname(attack), c) for c in meta["context"]] + [attack]
    inputs = [arg for f in files for arg in ("-f", f)]
    validate = subprocess.run([binary, "validate", "-o", "json", *inputs], capture_output=True, text=True)
    if validate.returncode not in (0, 1):
        return "HARMFUL", f"validate failed to run (exit {validate.returncode}): {validate.stderr.strip()}"
    findings = json.loads(validate.stdout)["findings"]
    if validate.returncode == 1:
        errors = [f for f in findings if f["severity"] == "error"]
        named = [f for f in errors if f"{f['kind']}/{f['namespace']}/{f['name']}" == meta["object"]
                 and meta["field"] is not None and f["field"].startswith(meta["field"])]
        if named:
            return "refused", f"{named[0]['field']}: {named[0]['message']}"
        return "WRONG FIELD", "refused, but not on " + repr(meta["field"]) + ": " + json.dumps(errors, ensure_ascii=True)
    with tempfile.TemporaryDirectory() as work:
        config = os.path.join(work, "plano_config.yaml")
        with open(config, "w") as out:
            subprocess.run([binary, "render", *inputs, "--gateway", GATEWAY], stdout=out, check=True)
        harness_args = ["--config", config, "--gateway", GATEWAY]
        for f in files:
            harness_args += ["--objects", f, "--secrets", f]
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            code = plano_startup.main(harness_args)
    return ("harmless", "") if code == 0 else ("HARMFUL", text.getvalue())


def main(binary):
    counts = {}
    with tempfile.TemporaryDirectory() as out:
        with contextlib.redirect_stdout(io.StringIO()):
            generate_attacks.main(binary, out)
        attacks = sorted(glob.glob(os.path.join(out, "[0-9]*.yaml")))
        for attack in attacks:
            meta = metadata(attack)
            result, detail = verdict(binary, attack, meta)
            counts[result] = counts.get(result, 0) + 1
            name = os.path.basename(attack)
            print(f"{result:11} {name}: {meta['about']}" + (f"\n            {detail}" if result != "harmless" else ""))
    print(f"attacks: {len(attacks)} run; " + ", ".join(f"{n} {r}" for r, n in sorted(counts.items())))
    bad = counts.get("HARMFUL", 0) + counts.get("WRONG FIELD", 0)
    return 0 if attacks and bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""Key values through Plano's start-up. The operator renders a provider only when its key value
passes the renderer's key value predicate; every value the predicate accepts must arrive byte for
byte as that provider's access_key after envsubst pastes it into the config (plano_startup.py).
The values it refuses are started too, to report which of them would have survived (to tune the
predicate); that part only informs. The same for a gateway's Postgres connection string
(state_storage.connection_string) and its own predicate.

usage: key_values_test.py KEY_VALUE_VERDICTS PLANO_OPERATOR_BINARY   (run with .cache/venv/bin/python)
KEY_VALUE_VERDICTS reads JSON strings, one a line, and answers each with {"problem": "..."} ("" when
the value may be rendered): the predicate itself, built from core/render.
"""
import contextlib
import io
import json
import os
import random
import string
import subprocess
import sys
import tempfile

import plano_startup

GATEWAY = "platform/key-values"
# How many values share one start-up: one run of the generator costs about a second.
BATCH = 25


def generated_values():
    rng = random.Random(20261206)  # fixed: the same values on every run
    key_alphabet = string.ascii_letters + string.digits + "-._~+/="
    values = [
        # What providers issue.
        "sk-proj-" + "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(120)),
        "sk-ant-api03-" + "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(90)) + "AA",
        "AIza" + "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(35)),
        "dGhpcyBpcyBhIGtleQ==", "a/b+c=", "~tilde", "x" * 16384, "x" * 16385,
        "".join(rng.choice(key_alphabet) for _ in range(4096)),
        # What YAML reads as something else, or where YAML syntax starts.
        "a: b", "- x", "#x", "x #y", '"q"', "'q'", "{a}", "[a]", "&anchor", "*alias", "!tag", "%TAG", "@at", "`tick",
        "|", ">", "?", ":", "-", "---", "...", "1e5", "0x1F", "0o17", "017", "1_000", "-1", "+1", ".5", "1.", ".inf",
        ".NaN", "yes", "no", "on", "off", "y", "n", "true", "True", "FALSE", "null", "Null", "~", "", " ", "12:30",
        "1:2:3", "2026-12-06", "2026-12-06T10:00:00Z", "=", "<<", "a\tb", "a b", " lead", "trail ",
        # What envsubst or a shell would read.
        "$HOME", "${HOME}", "$", "a$b", "\\", "a\\nb",
        # Line breaks and controls.
        "a\nb", "a\rb", "a\u0085b", "a\u2028b", "a\u2029b", "a\u007fb", "a\u0000b", "a\u001bb",
    ]
    values += ["".join(rng.choice(string.printable[:95]) for _ in range(rng.randint(1, 48))) for _ in range(40)]
    values += ["".join(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0xd7ff), rng.randint(0xe000, 0xfffd)]))
                       for _ in range(rng.randint(1, 24))) for _ in range(20)]
    values += ["".join(rng.choice(key_alphabet) for _ in range(rng.randint(1, 200))) for _ in range(40)]
    return list(dict.fromkeys(values))  # distinct, in order


def generated_connection_strings():
    rng = random.Random(20261207)
    alphabet = string.ascii_letters + string.digits + "-._~%!&'()*+,;=:@/?"
    passwords = ["pa55word", "p%40ss%23w", "a:b@c", "x?y=z&w", "(!'*+,;=)", "-._~", "::", "@", "%", "p w", "p#w", "p #w",
                 "p$HOME", "p${HOME}", "p\nw", "p\u2028w", 'p"w', "p\\w", "p{w}", "p[w]", "p`w", "p|w", "p<w>"]
    values = [f"postgresql://plano:{p}@plano-db.platform.svc:5432/plano" for p in passwords]
    values += [f"postgres://plano-db/plano?{''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))}" for _ in range(12)]
    values += ["host=plano-db user=plano", "mysql://db/plano", "postgresql://db/plano #x", " postgresql://db/plano", ""]
    return list(dict.fromkeys(values))


def connection_string_starts_intact(binary, value, work):
    """Whether a gateway whose state storage's Secret holds `value` starts with it arriving byte for byte."""
    ns, name = GATEWAY.split("/")
    objects = [{"apiVersion": "plano-operator.io/v1alpha1", "kind": "PlanoGateway", "metadata": {"name": name, "namespace": ns},
                "spec": {"listeners": [{"name": "llm", "type": "model", "port": 12000}],
                         "stateStorage": {"type": "Postgres", "connectionStringSecretRef": {"name": "state-db", "key": "url"}}}},
               {"apiVersion": "plano-operator.io/v1alpha1", "kind": "ModelProvider", "metadata": {"name": "p", "namespace": ns},
                "spec": {"gatewayRef": {"name": name}, "model": "openai/gpt-4o", "default": True, "passthroughAuth": True}},
               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "state-db", "namespace": ns}, "stringData": {"url": value}}]
    return objects_start_intact(binary, objects, work)


def check_connection_strings(tool, binary, work):
    """How many connection strings the predicate accepts that do not arrive intact (printed)."""
    values = generated_connection_strings()
    problems = verdicts(tool, values, ["--connection-strings"])
    broken = survived = 0
    for value, problem in zip(values, problems):
        ok, report = connection_string_starts_intact(binary, value, work)
        if not problem and not ok:
            print(f"FAIL: accepted connection string {value!r} does not arrive intact:\n{report}")
            broken += 1
        survived += bool(problem) and ok
    accepted = sum(not p for p in problems)
    print(f"connection strings: {len(values)} generated, {accepted} accepted by the predicate, {broken} of them broken; "
          f"{len(values) - accepted} refused, {survived} of those would have survived")
    return broken if accepted else 1


def verdicts(tool, values, flags=()):
    answer = subprocess.run([tool, *flags], input="".join(json.dumps(v) + "\n" for v in values), capture_output=True, text=True, check=True)
    problems = [json.loads(line)["problem"] for line in answer.stdout.splitlines()]
    if len(problems) != len(values):
        sys.exit(f"FAIL: {tool} answered {len(problems)} of {len(values)} values")
    return problems


def starts_intact(binary, values, work):
    """Whether one start-up of a gateway whose providers hold `values` as keys shows each arriving
    byte for byte (plano_startup's verdict), and its report."""
    ns, name = GATEWAY.split("/")
    objects = [{"apiVersion": "plano-operator.io/v1alpha1", "kind": "PlanoGateway", "metadata": {"name": name, "namespace": ns},
                "spec": {"listeners": [{"name": "llm", "type": "model", "port": 12000}]}}]
    for i, value in enumerate(values):
        objects.append({"apiVersion": "plano-operator.io/v1alpha1", "kind": "ModelProvider",
                        "metadata": {"name": f"p{i}", "namespace": ns},
                        "spec": {"gatewayRef": {"name": name}, "model": f"openai/key-test-{i}", "default": i == 0,
                                 "accessKeySecretRef": {"name": f"key-{i}", "key": "value"}}})
        objects.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"key-{i}", "namespace": ns},
                        "stringData": {"value": value}})
    return objects_start_intact(binary, objects, work)


def objects_start_intact(binary, objects, work):
    """Whether GATEWAY, rendered from `objects` (with their Secrets), starts with every string and
    key arriving byte for byte (plano_startup's verdict), and its report."""
    manifest = os.path.join(work, "objects.yaml")
    with open(manifest, "w", encoding="ascii") as f:
        f.write("---\n".join(json.dumps(o, ensure_ascii=True) + "\n" for o in objects))
    config = os.path.join(work, "plano_config.yaml")
    with open(config, "w") as out:
        subprocess.run([binary, "render", "-f", manifest, "--gateway", GATEWAY], stdout=out, check=True)
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        code = plano_startup.main(["--config", config, "--gateway", GATEWAY, "--objects", manifest, "--secrets", manifest])
    return code == 0, report.getvalue()


def survivors(binary, values, work):
    """The values that arrive intact, each tried alone once its batch did not (values break each other)."""
    out, failures = [], {}
    for start in range(0, len(values), BATCH):
        batch = values[start:start + BATCH]
        if starts_intact(binary, batch, work)[0]:
            out += batch
            continue
        for value in batch:
            ok, report = starts_intact(binary, [value], work)
            if ok:
                out.append(value)
            else:
                failures[value] = report
    return out, failures


def main(tool, binary):
    values = generated_values()
    problems = verdicts(tool, values)
    accepted = [v for v, p in zip(values, problems) if not p]
    refused = [v for v, p in zip(values, problems) if p and "\0" not in v]  # an environment holds no NUL
    failed = 0
    if any("\0" in v for v in accepted):
        print("FAIL: the predicate accepts a value with NUL, which no environment variable can hold")
        failed += 1
    with tempfile.TemporaryDirectory() as work:
        _, broken = survivors(binary, accepted, work)
        for value, report in broken.items():
            print(f"FAIL: accepted key value {value[:80]!r} (length {len(value)}) does not arrive intact:\n{report}")
        failed += len(broken)
        survived, _ = survivors(binary, refused, work)
        failed += check_connection_strings(tool, binary, work)
    print(f"refused values that would have survived start-up ({len(survived)} of {len(refused)}):")
    for value in survived:
        reason = problems[values.index(value)].split(",")[0][:70]
        print(f"  {value[:60]!r}{' ...' if len(value) > 60 else ''} (length {len(value)}): {reason}")
    print(f"key values: {len(values)} generated, {len(accepted)} accepted by the predicate, {len(broken)} of them broken; "
          f"{len(refused)} refused, {len(survived)} of those would have survived")
    return 0 if accepted and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

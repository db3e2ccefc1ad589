"""Offline start: Plano's container start-up, with the operator's real Deployment, and no network.

Plays what the kubelet and the image do (as katanemo/plano 0.4.36's Dockerfile and
config/supervisord.conf describe it): a root filesystem like the image's (this machine's, seen through
an overlay, with /app holding a planoai project file, planoai's package and its data files, and the
pinned uv and planoai of .cache/venv standing in for the image's /usr/local/bin), the Deployment's
volume mounts (the rendered config at its subPath mount, emptyDirs empty), the image's environment
plus the Deployment's env and a value for every key variable (envFrom the keys Secret), a new network
namespace (no route anywhere: no package index) and an empty uv cache. Then it runs supervisord's
first program, the config generator, exactly as supervisord would (its command, split like
supervisord splits it, in /app) and checks that it ends with /tmp/config_ready, without killing
supervisord and without building /app/.venv.

The harness must be able to fail: the same start with the Deployment's UV_* variables removed (the
Deployment before this fix) must not reach /tmp/config_ready. Last, the Deployment's preStop hook
runs with no Envoy to answer and must end at once.

usage: offline_start_test.py DEPLOYMENT_OF PLANO_OPERATOR [--deployment FILE]
  DEPLOYMENT_OF   tests/startup/deployment_of (prints the operator's Deployment for a gateway)
  --deployment    judge this Deployment (JSON) instead of the operator's, e.g. an older release's
Needs root (mount and network namespaces: unshare, an overlay mount, chroot) and .cache/venv from
scripts/setup.sh (planoai and uv pinned). Run with .cache/venv/bin/python.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.path.join(ROOT, "examples", "multi-tenant-byok.yaml")
GATEWAY = "platform/shared-gateway"
VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
# The image's environment (python:3.14-slim sets PATH; the image runs as root); the venv's bin
# stands in for /usr/local/bin, where the image has python, uv and planoai's dependencies.
IMAGE_ENVIRONMENT = {
    "PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "HOSTNAME": "shared-gateway-plano-6d5f8b7c9-x2x7q",
}


# supervisord's first program in Plano's image (katanemo/plano 0.4.36, config/supervisord.conf,
# [program:config_generator], priority 10): the generator, envsubst over both rendered files, then
# the flag the other programs wait for; on failure it stops supervisord. Split as supervisord splits it.
FIRST_PROGRAM = shlex.split(
    '/bin/sh -c "uv run python -m planoai.config_generator && '
    'envsubst < /app/plano_config_rendered.yaml > /app/plano_config_rendered.env_sub.yaml && '
    'envsubst < /etc/envoy/envoy.yaml > /etc/envoy.env_sub.yaml && '
    'touch /tmp/config_ready || '
    "(echo 'Config generation failed, shutting down'; kill -15 $(cat /var/run/supervisord.pid))\"")


def app_project():
    """/app/pyproject.toml as the image has it (its Dockerfile copies Plano's cli/ project there and
    pip-installs it): a project named planoai with the pinned package's own requirements, built by
    hatchling. `uv run` in such a directory syncs a project venv, which needs the package index."""
    from importlib import metadata
    requirements = [r for r in metadata.requires("planoai") or [] if "extra ==" not in r]
    lines = ['[project]', 'name = "planoai"', f'version = "{metadata.version("planoai")}"', 'requires-python = ">=3.10"',
             'dependencies = [' + ", ".join(json.dumps(r) for r in requirements) + ']', '',
             '[build-system]', 'requires = ["hatchling"]', 'build-backend = "hatchling.build"', '']
    return "\n".join(lines)


def gateway_document():
    with open(EXAMPLE, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc.get("kind") == "PlanoGateway" and \
                    f"{doc['metadata'].get('namespace')}/{doc['metadata']['name']}" == GATEWAY:
                return doc
    raise SystemExit(f"no gateway {GATEWAY} in {EXAMPLE}")


def operator_deployment(deployment_of):
    out = subprocess.run([deployment_of], input=json.dumps(gateway_document()), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def plano_container(deployment):
    spec = deployment["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == "plano")
    if "command" in container or "args" in container:
        raise SystemExit("the Deployment overrides the image's entrypoint; this test plays supervisord's")
    return spec, container


def environment(container, config_text):
    """The image's environment, the Deployment's env values and a made-up value for each key variable."""
    env = dict(IMAGE_ENVIRONMENT)
    for var in container.get("env", []):
        env[var["name"]] = var["value"]
    for name in sorted(set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", config_text))):
        env[name] = "sk-offline-" + name.lower()
    return env


def start(deployment, config_text, drop_uv=False):
    """Runs the first program in the image-like root; returns (exit code, output, what happened)."""
    pod, container = plano_container(deployment)
    env = environment(container, config_text)
    if drop_uv:
        env = {k: v for k, v in env.items() if not k.startswith("UV_")}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    with tempfile.TemporaryDirectory() as work:
        stage = os.path.join(work, "stage")  # what goes into /app and the mounts, prepared outside
        os.makedirs(stage)
        app = os.path.join(stage, "app")
        import planoai  # the pinned package, installed the way the image's pip install did
        package = os.path.dirname(planoai.__file__)
        shutil.copytree(package, os.path.join(app, "planoai"))
        with open(os.path.join(app, "pyproject.toml"), "w", encoding="utf-8") as f:
            f.write(app_project())
        for name in ("envoy.template.yaml", "plano_config_schema.yaml"):
            shutil.copy(os.path.join(package, "data", name), app)
        mounts = []  # (source in stage, mount path in the root)
        for i, mount in enumerate(container.get("volumeMounts", [])):
            volume = volumes[mount["name"]]
            source = os.path.join(stage, f"mount{i}")
            if "configMap" in volume:
                if mount.get("subPath") != "plano_config.yaml":
                    raise SystemExit(f"unexpected config mount {mount}")
                with open(source, "w", encoding="utf-8") as f:
                    f.write(config_text)
            elif "emptyDir" in volume:
                os.makedirs(source)
            else:
                raise SystemExit(f"volume {mount['name']} is neither the config nor an emptyDir")
            mounts.append((source, mount["mountPath"]))
        merged = os.path.join(work, "root")
        script = [
            "set -e",
            f"mount -t tmpfs none {work}/layer",
            f"mkdir -p {work}/layer/upper {work}/layer/work {merged}",
            f"mount -t overlay overlay -o lowerdir=/,upperdir={work}/layer/upper,workdir={work}/layer/work {merged}",
            f"mkdir -p {merged}/app {merged}/etc/envoy {merged}/root/.cache",
            f"mount --rbind /proc {merged}/proc",
            f"mount --rbind /dev {merged}/dev",
            f"mount -t tmpfs none {merged}/root/.cache",  # an empty uv cache, as in a new container
            f"rm -f {merged}/tmp/config_ready",
            f"cp -a {app}/. {merged}/app/",
        ]
        for source, target in mounts:
            kind = "-d" if os.path.isdir(source) else "-f"
            script.append(f"if [ {kind} {shlex.quote(source)} ]; then mkdir -p {merged}{os.path.dirname(target)}; "
                          f"{'mkdir -p' if kind == '-d' else 'touch'} {merged}{target}; fi")
            script.append(f"mount --bind {shlex.quote(source)} {merged}{target}")
        script += [
            # supervisord: the program kills it through this pid file when the generator fails.
            "sleep 600 & supervisord=$!",
            # Written from inside: /var/run is a symlink to /run, which must resolve in the root.
            f"chroot {merged} /bin/sh -c \"mkdir -p /run && echo $supervisord > /var/run/supervisord.pid\"",
            "set +e",
            f"chroot {merged} /usr/bin/env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) +
            " /bin/sh -c 'cd /app && exec \"$@\"' program " + " ".join(shlex.quote(a) for a in FIRST_PROGRAM),
            "code=$?",
            "if kill -0 $supervisord 2>/dev/null; then kill $supervisord; else echo 'RESULT supervisord-killed'; fi",
            f"[ -e {merged}/tmp/config_ready ] && echo 'RESULT config-ready'",
            f"[ -e {merged}/app/.venv ] && echo 'RESULT venv-built'",
            "exit $code",
        ]
        os.makedirs(os.path.join(work, "layer"))
        run = subprocess.run(["unshare", "--mount", "--net", "/bin/sh", "-c", "\n".join(script)],
                             capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    results = set(re.findall(r"^RESULT (\S+)$", output, re.M))
    return run.returncode, output, results


def check_prestop(deployment):
    """The preStop hook with no Envoy to answer (no network): it must end at once, successfully."""
    _, container = plano_container(deployment)
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    if not command:
        return "the Deployment has no preStop exec hook"
    env = dict(IMAGE_ENVIRONMENT)
    run = subprocess.run(["unshare", "--net", "/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in env.items()] + command,
                         capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        return f"the preStop hook failed with no Envoy to drain ({run.returncode}): {run.stderr}"
    return None


def main(argv):
    deployment_of, plano_operator = argv[0], argv[1]
    if len(argv) > 2 and argv[2] == "--deployment":
        with open(argv[3], encoding="utf-8") as f:
            deployment = json.load(f)
    else:
        deployment = operator_deployment(deployment_of)
    config_text = subprocess.run([plano_operator, "render", "-f", EXAMPLE, "--gateway", GATEWAY],
                                 capture_output=True, text=True, check=True).stdout
    problems = []
    code, output, results = start(deployment, config_text)
    print(output)
    if code != 0 or "config-ready" not in results or "supervisord-killed" in results:
        problems.append(f"the Deployment's pod does not start offline (exit {code}, {sorted(results)})")
    if "venv-built" in results:
        problems.append("uv built /app/.venv: the start depends on a package index")
    code, output, results = start(deployment, config_text, drop_uv=True)
    if "config-ready" in results:
        problems.append("the harness cannot fail: without the Deployment's UV_* variables the start still succeeded:\n" + output)
    else:
        print(f"as expected, without UV_* variables the start fails offline (exit {code}, {sorted(results)}): "
              + " | ".join(l for l in output.splitlines() if "Failed to download" in l or "Config generation failed" in l))
    if problem := check_prestop(deployment):
        problems.append(problem)
    for p in problems:
        print("FAIL:", p)
    print(f"offline start: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

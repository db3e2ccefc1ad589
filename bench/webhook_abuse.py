#!/usr/bin/env python3
"""Hostile clients against a running webhook, with a normal client and kubectl alongside.

Run by bench/webhook_abuse.sh, which starts the control plane and the webhook and passes their
addresses. Every connection goes to 127.0.0.1; every loop is bounded by --attack-seconds or a count.

Phase 1, for --attack-seconds: --loris TLS connections trickle request headers (--loris-bytes
every --loris-interval seconds: above a 1 KiB/s minimum rate, so only eviction or the request
deadline frees their slots) and --hogs connections send all but 20 bytes of a declared
3,000,000-byte body, then wait; each reconnects when cut. The attackers run in a process of their
own. After a ramp-up, two normal clients send --reviews AdmissionReviews each over verified TLS,
one on a new connection per review, one on a connection kept alive as the API server keeps its
own, and --dry-runs `kubectl create --dry-run=server` go through the API server, which calls the
webhook. The webhook's RSS is sampled every 200 ms.
Phase 2: --random-kinds reviews naming made-up kinds and operations, then /metrics is measured.
Prints one RESULT line per figure and exits 1 if a goal is missed.
"""
import argparse
import asyncio
import http.client
import json
import multiprocessing
import random
import os
import ssl
import sys
import time
import urllib.request

DECLARED_BODY = 3_000_000
HELD_BACK = 20


class Counts(dict):
    def add(self, key, n=1):
        self[key] = self.get(key, 0) + n


def memory_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields


def cpu_seconds(pid):
    """User and system CPU time of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


async def open_tls(port, context):
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"), 10)


def settle(task):
    """Cancels a pending read, or takes its outcome, so asyncio does not report it as never retrieved."""
    if task.done():
        if not task.cancelled():
            task.exception()
    else:
        task.cancel()


def close(writer):
    try:
        writer.close()
    except Exception:  # already reset by the server
        pass


async def reconnect(args, context, counts, attacker):
    """A new connection for `attacker`, counted; None (after a pause) if it could not connect."""
    try:
        connection = await open_tls(args.port, context)
    except Exception:
        counts.add(f"{attacker} connect failed")
        await asyncio.sleep(0.5)
        return None
    counts.add(f"{attacker} connections")
    return connection


async def loris(args, context, stop, counts):
    padding = b"X-Padding: " + b"p" * 15000
    head = b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + padding
    while not stop.is_set():
        connection = await reconnect(args, context, counts, "loris")
        if connection is None:
            continue
        reader, writer = connection
        answered = asyncio.ensure_future(reader.read(1))  # done when the server answers or closes
        try:
            for start in range(0, len(head), args.loris_bytes):
                if stop.is_set() or answered.done():
                    break
                writer.write(head[start:start + args.loris_bytes])
                await writer.drain()
                await asyncio.sleep(args.loris_interval)
            while not answered.done() and not stop.is_set():  # all sent: hold on until cut
                await asyncio.wait([answered], timeout=0.5)
        except Exception:
            pass
        if answered.done():
            counts.add("loris cut by the server")
        settle(answered)
        close(writer)
        await asyncio.sleep(0.1)


async def hog(args, context, stop, counts):
    head = (f"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {DECLARED_BODY}\r\n\r\n").encode()
    body = b" " * (DECLARED_BODY - HELD_BACK)
    while not stop.is_set():
        connection = await reconnect(args, context, counts, "hog")
        if connection is None:
            continue
        reader, writer = connection
        try:
            writer.write(head + body)
            answer = asyncio.ensure_future(reader.read(64))
            while not answer.done() and not stop.is_set():
                await asyncio.wait([answer], timeout=0.5)
            data = answer.result() if answer.done() else None
            settle(answer)
            if data is None:
                pass
            elif data.startswith(b"HTTP/1.1 "):
                counts.add(f"hog answered {data[9:12].decode()}")
            else:
                counts.add("hog cut by the server")
        except Exception:
            counts.add("hog cut by the server")
        close(writer)
        await asyncio.sleep(0.2)


REQUEST_HEAD = b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def judged(answer):
    return answer.startswith(b"HTTP/1.1 200") and b'"allowed":true' in answer


async def normal_client(args, context, body, keep_alive, results):
    """--reviews reviews, one every --review-interval: each on a new connection, or all on one kept
    alive as the API server keeps its connections (a new one only after a failure). Each result:
    (ok, milliseconds, error); no retries."""
    request = REQUEST_HEAD + (b"" if keep_alive else b"Connection: close\r\n") + \
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    connection = None
    for _ in range(args.reviews):
        started = time.monotonic()
        try:
            if connection is None:
                connection = await open_tls(args.port, context)
            reader, writer = connection
            writer.write(request)
            answer = await asyncio.wait_for(read_response(reader), 10)
            ok, error = judged(answer), answer[:120].decode(errors="replace")
        except Exception as e:
            ok, error = False, f"{type(e).__name__}: {e}"
        results.append((ok, (time.monotonic() - started) * 1000, "" if ok else error))
        if connection is not None and (not ok or not keep_alive):
            close(connection[1])
            connection = None
        await asyncio.sleep(args.review_interval)
    if connection is not None:
        close(connection[1])


async def dry_runs(args, results):
    for _ in range(args.dry_runs):
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", args.kubeconfig, "create", "--dry-run=server", "-o", "name", "-f", args.candidate,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await process.communicate()
        results.append((process.returncode == 0, (time.monotonic() - started) * 1000, err.decode()[:200]))
        await asyncio.sleep(0.2)


async def sample_memory(pid, stop, samples):
    while not stop.is_set():
        samples.append(memory_kib(pid)["VmRSS"])
        await asyncio.sleep(0.2)


async def attackers(args, stop_flag):
    """Runs the hostile clients until `stop_flag` (a multiprocessing.Event) is set; returns their counts."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    stop, counts = asyncio.Event(), Counts()
    tasks = [asyncio.ensure_future(loris(args, context, stop, counts)) for _ in range(args.loris)]
    tasks += [asyncio.ensure_future(hog(args, context, stop, counts)) for _ in range(args.hogs)]
    while not stop_flag.is_set():
        await asyncio.sleep(0.2)
    stop.set()
    if tasks:
        await asyncio.wait(tasks, timeout=15)
    for task in tasks:
        task.cancel()
    return counts


def run_attackers(args, stop_flag, results):
    results.put(dict(asyncio.run(attackers(args, stop_flag))))


async def observe(args):
    """The normal client and kubectl, while the webhook's RSS is sampled."""
    verified = ssl.create_default_context(cafile=args.ca)
    body = open(args.review, "rb").read()
    done = asyncio.Event()
    fresh, kept, kubectl, rss = [], [], [], []
    sampler = asyncio.ensure_future(sample_memory(args.pid, done, rss))
    await asyncio.gather(normal_client(args, verified, body, False, fresh),
                         normal_client(args, verified, body, True, kept), dry_runs(args, kubectl))
    done.set()
    await sampler
    return {"new connection each": fresh, "one kept-alive connection": kept}, kubectl, rss


def attack(args):
    """Phase 1: the attackers in a process of their own (so that their work does not delay the normal
    client's), the normal client and kubectl in this one."""
    stop_flag, results = multiprocessing.Event(), multiprocessing.Queue()
    process = multiprocessing.Process(target=run_attackers, args=(args, stop_flag, results))
    started, webhook_cpu = time.monotonic(), cpu_seconds(args.pid)
    process.start()
    time.sleep(args.ramp_seconds)
    reviews, kubectl, rss = asyncio.run(observe(args))
    time.sleep(max(0.0, args.attack_seconds - (time.monotonic() - started)))
    cpu = {"webhook": cpu_seconds(args.pid) - webhook_cpu, "attackers": cpu_seconds(process.pid)}
    stop_flag.set()
    counts = results.get(timeout=60)
    process.join(30)
    return counts, reviews, kubectl, rss, cpu, time.monotonic() - started


def random_kinds(args):
    """--random-kinds reviews of made-up kinds and operations on one keep-alive connection."""
    context = ssl.create_default_context(cafile=args.ca)
    connection = http.client.HTTPSConnection("127.0.0.1", args.port, context=context, timeout=10)
    rng = random.Random(13)
    statuses = Counts()
    for _ in range(args.random_kinds):
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "%032x" % rng.getrandbits(128),
            "kind": {"group": "plano-operator.io", "version": "v1alpha1", "kind": "K%08x" % rng.getrandbits(32)},
            "operation": "OP%08x" % rng.getrandbits(32), "namespace": "bench-tenant", "name": "x", "object": {}}}
        connection.request("POST", "/validate", json.dumps(review), {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        statuses.add(response.status)
    connection.close()
    return statuses


def metrics_text(probe):
    with urllib.request.urlopen(f"http://127.0.0.1:{probe}/metrics", timeout=10) as response:
        return response.read().decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--probe", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--review", required=True, help="a ModelProvider CREATE AdmissionReview the webhook allows")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--candidate", required=True, help="a manifest for kubectl create --dry-run=server")
    parser.add_argument("--loris", type=int, default=600)
    parser.add_argument("--loris-bytes", type=int, default=1200)
    parser.add_argument("--loris-interval", type=float, default=1.0)
    parser.add_argument("--hogs", type=int, default=90)
    parser.add_argument("--reviews", type=int, default=200)
    parser.add_argument("--review-interval", type=float, default=0.05)
    parser.add_argument("--dry-runs", type=int, default=20)
    parser.add_argument("--ramp-seconds", type=float, default=5)
    parser.add_argument("--attack-seconds", type=float, default=30)
    parser.add_argument("--random-kinds", type=int, default=3000)
    parser.add_argument("--rss-limit-mib", type=int, default=256)
    args = parser.parse_args()

    metrics_before = len(metrics_text(args.probe))
    rss_before = memory_kib(args.pid)["VmRSS"]
    counts, reviews, kubectl, rss, cpu, took = attack(args)
    bounds = [line for line in metrics_text(args.probe).splitlines() if line.startswith("plano_webhook_bound_actions_total")]
    statuses = random_kinds(args)
    metrics_after = len(metrics_text(args.probe))

    failed_kubectl = [error for ok, _, error in kubectl if not ok]
    rss_peak = max(rss + [rss_before])
    goals, failures = [], []
    for client, results in reviews.items():
        latencies = [ms for ok, ms, _ in results if ok]
        failed = [error for ok, _, error in results if not ok]
        failures += failed
        p99 = percentile(latencies, 99)
        goals += [
            (f"normal reviews, {client}", f"{len(results) - len(failed)}/{len(results)} succeeded",
             not failed and len(results) == args.reviews),
            (f"normal review latency, {client}", f"p50 {percentile(latencies, 50):.1f} ms, p99 {p99:.1f} ms, "
             f"max {max(latencies, default=float('nan')):.1f} ms", p99 < 100)]
    goals += [
        ("kubectl create --dry-run=server", f"{len(kubectl) - len(failed_kubectl)}/{len(kubectl)} succeeded",
         not failed_kubectl and len(kubectl) == args.dry_runs),
        ("webhook RSS", f"{rss_before // 1024} MiB before, peak {rss_peak // 1024} MiB sampled, VmHWM "
         f"{memory_kib(args.pid)['VmHWM'] // 1024} MiB", rss_peak < args.rss_limit_mib * 1024),
        ("/metrics size", f"{metrics_before} bytes before, {metrics_after} after {args.random_kinds} random-kind "
         f"reviews (answers {dict(statuses)})", metrics_after < 64 * 1024),
    ]
    print(f"attack: {args.loris} slow-header TLS connections ({args.loris_bytes} bytes every {args.loris_interval} s), "
          f"{args.hogs} connections with {DECLARED_BODY - HELD_BACK} of {DECLARED_BODY} body bytes, {took:.0f} s; "
          f"CPU seconds: webhook {cpu['webhook']:.1f}, attackers {cpu['attackers']:.1f}; load average "
          f"{os.getloadavg()[0]:.1f}")
    print("attackers: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("webhook: " + (", ".join(line.split("action=")[1] for line in bounds) or "no plano_webhook_bound_actions_total"))
    for name, figure, met in goals:
        print(f"RESULT {name}: {figure} [{'goal met' if met else 'GOAL MISSED'}]")
    for error in sorted(set(failures))[:5]:
        print(f"  failed review: {error}")
    for error in sorted(set(failed_kubectl))[:5]:
        print(f"  failed kubectl: {error.strip()}")
    return 0 if all(met for _, _, met in goals) else 1


if __name__ == "__main__":
    sys.exit(main())

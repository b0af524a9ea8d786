#!/usr/bin/env python3
"""End-to-end load on a local `gatebot serve --dry-run` (release build).

Starts the server on a loopback port with a fresh SQLite file, opens PR #42,
then sends N signed `issue_comment` deliveries (`/gates`, distinct ids) from
C concurrent threads, and reports throughput, latency percentiles and the
server's resident memory before and after. Loopback only; bounded in count.

    python3 bench/load.py [--requests 2000] [--concurrency 8]
"""
import argparse, hashlib, hmac, http.client, json, os, pathlib, socket, subprocess, sys, tempfile, threading, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECRET = b"bench-secret"


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def post(port, event, delivery, body):
    sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/webhook", body, {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
                                         "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, GITHUB_WEBHOOK_SECRET=SECRET.decode(), LOG_LEVEL="error")
    server = subprocess.Popen([str(ROOT / "target/release/gatebot"), "serve", "--dry-run", "--config",
                               str(ROOT / "events/gatebot.yml"), "--store", f"sqlite:{tmp}/bench.db",
                               "--addr", f"127.0.0.1:{port}", "--reconcile-every", "0"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if post(port, "ping", "warm", b'{"zen":"x"}') == 200:
                    break
            except OSError:
                time.sleep(0.05)
        idle = rss_kib(server.pid)
        fixtures = ROOT / "tests/fixtures"
        assert post(port, "pull_request", "open", (fixtures / "pull_request.opened.json").read_bytes()) == 200
        template = json.loads((fixtures / "issue_comment.created.json").read_text())
        bodies = []
        for i in range(args.requests):
            template["comment"]["id"] = 500000 + i
            template["comment"]["body"] = "/gates"
            bodies.append(json.dumps(template).encode())
        latencies, failures, lock = [], [], threading.Lock()
        next_i = iter(range(args.requests))

        def worker():
            while True:
                with lock:
                    i = next(next_i, None)
                if i is None:
                    return
                t = time.perf_counter()
                status = post(port, "issue_comment", f"load-{i}", bodies[i])
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if status != 200:
                        failures.append(status)

        start = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        loaded = rss_kib(server.pid)
        latencies.sort()
        pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
        print(f"requests {args.requests}, concurrency {args.concurrency}, failures {len(failures)} {sorted(set(failures))}")
        print(f"throughput {args.requests / wall:.0f} deliveries/s over {wall:.2f} s")
        print(f"latency ms: p50 {pct(0.5):.2f}  p90 {pct(0.9):.2f}  p99 {pct(0.99):.2f}  max {latencies[-1]*1000:.2f}")
        print(f"server RSS: idle {idle/1024:.1f} MiB, after load {loaded/1024:.1f} MiB")
        size = (ROOT / "target/release/gatebot").stat().st_size
        print(f"release binary {size/1024/1024:.1f} MiB")
        return 1 if failures else 0
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())

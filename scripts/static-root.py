#!/usr/bin/env python3
"""The static binary in an empty root (`make static-test`, part of `make test`).

What the container image (`Dockerfile`, on distroless/static) promises,
checked without a container engine: gatebot's musl build runs in a root that
holds nothing but the binary, the CA certificates and the directories the
Kubernetes manifests mount. No libc, no loader, no shell, no /proc.

1. The binary is static: an x86-64 ELF with no program interpreter.
2. The root: /gatebot, /etc/ssl/certs/ca-certificates.crt, /etc/gatebot/
   (the config and the App's key), /data (the SQLite store, owned by
   65532) and /tmp. gatebot runs there as 65532:65532, distroless's
   `nonroot`, which can write nowhere else (as with readOnlyRootFilesystem).
3. Dry run: `/healthz` and `/readyz` answer 200; a delivery without a
   signature is refused 401; the signed deliveries of events/lifecycle/ are
   each answered 200, the last one deploying to production; `gatebot
   status` in the same root reads the store and says so; SIGTERM drains and
   exits 0.
4. As a GitHub App, against a fake GitHub over TLS whose certificate is
   signed by a throwaway CA that only the root's CA bundle holds: a signed
   `pull_request` delivery makes gatebot sign its App JWT, get an
   installation token and read the repository's config over TLS (the fake
   answers 404: no config, so a 200 `not_found`). With the host's bundle
   instead, which lacks that CA, the same delivery reaches no request of
   the fake and is answered 5xx, to be redelivered: the certificates gatebot
   trusts are the root's.

Runs as root (chroot, then --userspec), or else in a user namespace
(`unshare --user --map-root-user`). Exits 1, printing gatebot's log, on
the first failure.

    python3 scripts/static-root.py target/x86_64-unknown-linux-musl/debug/gatebot
"""
import hashlib, hmac, http.server, json, os, pathlib, shutil, signal, socket, ssl, struct
import subprocess, sys, tempfile, threading, time, urllib.error, urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECRET = b"static-root-secret"
HOST_BUNDLE = pathlib.Path("/etc/ssl/certs/ca-certificates.crt")
NONROOT = 65532


def fail(msg, log=None):
    if log is not None:
        print("--- gatebot's log ---", file=sys.stderr)
        print(log.read_text(errors="replace")[-6000:], file=sys.stderr)
    sys.exit(f"static-root: FAIL: {msg}")


def check_static(binary):
    data = binary.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        fail(f"{binary} is not a 64-bit ELF")
    (machine,) = struct.unpack_from("<H", data, 18)
    if machine != 62:
        fail(f"{binary} is not x86-64 (e_machine {machine})")
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        (p_type,) = struct.unpack_from("<I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP: a dynamic loader would be needed
            fail(f"{binary} asks for a program interpreter: not static")
    print(f"static-root: {binary} is a static x86-64 ELF ({len(data) // (1 << 20)} MiB)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def delivery(path):
    """A file of events/ as gatebot send posts it: signed, comments dated now."""
    d = json.loads(path.read_text())
    headers = dict(d["headers"])
    body = d["body"]
    if headers.get("X-GitHub-Event") == "issue_comment":
        now = time.time()
        body["comment"]["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + \
            f".{int(now * 1000) % 1000:03d}Z"
    raw = json.dumps(body).encode()
    headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
    return raw, headers


def make_root(top, binary, bundle):
    root = top / "root"
    for d in ["etc/ssl/certs", "etc/gatebot", "data", "tmp"]:
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy(binary, root / "gatebot")
    os.chmod(root / "gatebot", 0o555)
    shutil.copy(bundle, root / "etc/ssl/certs/ca-certificates.crt")
    shutil.copy(ROOT / "events/gatebot.yml", root / "etc/gatebot/gatebot.yml")
    shutil.copy(ROOT / "tests/fixtures/test-app-key.pem", root / "etc/gatebot/app-key.pem")
    os.chmod(root / "etc/gatebot/app-key.pem", 0o444)
    os.chmod(root / "tmp", 0o1777)
    if os.geteuid() == 0:
        os.chown(root / "data", NONROOT, NONROOT)
    return root


def in_root(root, args):
    """The command that runs /gatebot ARGS inside ROOT as 65532 (as root) or
    as the namespace's root (otherwise)."""
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    if os.geteuid() == 0:
        return [chroot, f"--userspec={NONROOT}:{NONROOT}", str(root), "/gatebot", *args]
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    return [unshare, "--user", "--map-root-user", chroot, str(root), "/gatebot", *args]


class Gatebot:
    def __init__(self, root, log, env, args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        base = {"GITHUB_WEBHOOK_SECRET": SECRET.decode(), "GATEBOT_STORE": "sqlite:/data/gatebot.db",
                "LOG_FORMAT": "pretty", "RUST_BACKTRACE": "1"}
        self.proc = subprocess.Popen(
            in_root(root, ["serve", "--addr", f"127.0.0.1:{self.port}", *args]),
            env={**base, **env}, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"gatebot exited with {self.proc.returncode} before /healthz answered", log)
            status, _ = request(self.url + "/healthz")
            if status == 200:
                return
            time.sleep(0.2)
        fail("/healthz did not answer 200 within 60 s", log)

    def send(self, path):
        raw, headers = delivery(path)
        return request(self.url + "/webhook", raw, headers)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("SIGTERM: gatebot did not exit within 20 s", self.log)


def dry_run(top, binary):
    root = make_root(top / "dry", binary, HOST_BUNDLE)
    log = top / "dry.log"
    gb = Gatebot(root, log, {}, ["--dry-run", "--config", "/etc/gatebot/gatebot.yml"])
    status, body = request(gb.url + "/readyz")
    if status != 200:
        fail(f"/readyz answered {status}: {body}", log)
    status, body = request(gb.url + "/webhook", b"{}", {"X-GitHub-Event": "ping",
                                                         "X-GitHub-Delivery": "static-root-unsigned"})
    if status != 401:
        fail(f"an unsigned delivery was answered {status}, not 401: {body}", log)
    for path in sorted((ROOT / "events/lifecycle").glob("*.json")):
        status, body = gb.send(path)
        if status != 200:
            fail(f"{path.name} was answered {status}: {body}", log)
        print(f"static-root: dry run: {path.name}: 200 {body.strip()[:100]}")
    out = subprocess.run(in_root(root, ["status", "acme/widgets#42", "--store", "sqlite:/data/gatebot.db",
                                        "--config", "/etc/gatebot/gatebot.yml"]),
                         env={}, capture_output=True, text=True, timeout=60)
    if out.returncode != 0 or "deployed to production" not in out.stdout \
            or "sqlite:/data/gatebot.db" not in out.stdout + out.stderr:
        fail(f"gatebot status in the root (exit {out.returncode}):\n{out.stdout}{out.stderr}", log)
    print("static-root: dry run: gatebot status in the root: deployed to production")
    rc = gb.stop()
    if rc != 0:
        fail(f"SIGTERM: gatebot exited {rc}, not 0", log)
    text = log.read_text(errors="replace")
    if "SIGTERM" not in text or "gatebot stopped" not in text:
        fail("SIGTERM: the log does not say it stopped on SIGTERM", log)
    print("static-root: dry run: SIGTERM: drained, exit 0")


class FakeGitHub(http.server.ThreadingHTTPServer):
    """GitHub's API over TLS, enough for one pull_request delivery: an
    installation token for a valid-looking App JWT, 404 for anything else."""

    def __init__(self, cert, key):
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.seen = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.socket = ctx.wrap_socket(self.socket, server_side=True)


class FakeHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, obj):
        raw = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def handle_one(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        self.server.seen.append((self.command, self.path, auth))
        if self.command == "POST" and self.path == "/app/installations/4242/access_tokens":
            token = auth.split(" ", 1)[-1]
            if not auth.startswith("Bearer ") or token.count(".") != 2:
                return self.answer(401, {"message": "A JSON web token could not be decoded"})
            return self.answer(201, {"token": "ghs_static_root", "expires_at": "2099-01-01T00:00:00Z",
                                     "permissions": {}, "repository_selection": "all"})
        return self.answer(404, {"message": "Not Found",
                                 "documentation_url": "https://docs.github.com/rest"})

    do_GET = do_POST = do_PATCH = do_PUT = handle_one


def make_ca(top):
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=top, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=gatebot static-root test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (top / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return top / "ca.pem", top / "server.pem", top / "server.key"


def app_mode(top, binary, trusted):
    """One PR delivery as a GitHub App; TRUSTED: whether the root's bundle
    holds the fake's CA. Returns (gatebot's answer, what the fake saw)."""
    name = "app-trusted" if trusted else "app-untrusted"
    ca, cert, key = make_ca(top) if not (top / "ca.pem").exists() else \
        (top / "ca.pem", top / "server.pem", top / "server.key")
    bundle = top / f"{name}-bundle.pem"
    bundle.write_text(HOST_BUNDLE.read_text() + (ca.read_text() if trusted else ""))
    root = make_root(top / name, binary, bundle)
    fake = FakeGitHub(str(cert), str(key))
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    log = top / f"{name}.log"
    env = {"GITHUB_APP_ID": "777", "GITHUB_APP_PRIVATE_KEY_PATH": "/etc/gatebot/app-key.pem",
           "GITHUB_API_URL": f"https://127.0.0.1:{fake.server_address[1]}"}
    gb = Gatebot(root, log, env, [])
    status, body = gb.send(ROOT / "events/lifecycle/01-pull_request-opened.json")
    rc = gb.stop()
    fake.shutdown()
    if rc != 0:
        fail(f"{name}: SIGTERM: gatebot exited {rc}, not 0", log)
    return status, body, fake.seen, log


def main():
    binary = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                          ROOT / "target/x86_64-unknown-linux-musl/debug/gatebot").resolve()
    if not binary.is_file():
        sys.exit(f"static-root: no binary at {binary}: build it first (make static-test builds it)")
    if not HOST_BUNDLE.is_file():
        sys.exit(f"static-root: the host has no CA bundle at {HOST_BUNDLE} (Debian: ca-certificates)")
    check_static(binary)
    with tempfile.TemporaryDirectory(prefix="gatebot-static-root-") as t:
        top = pathlib.Path(t)
        os.chmod(top, 0o755)
        dry_run(top, binary)

        status, body, seen, log = app_mode(top, binary, trusted=True)
        paths = [(m, p) for m, p, _ in seen]
        if ("POST", "/app/installations/4242/access_tokens") not in paths:
            fail(f"App mode: no installation token was asked for over TLS; the fake saw {paths}", log)
        read = [(m, p, a) for m, p, a in seen if "/repos/acme/widgets/" in p]
        if not read or not any("ghs_static_root" in a for _, _, a in read):
            fail(f"App mode: no repository read with the installation token; the fake saw {paths}", log)
        if status != 200:
            fail(f"App mode: the PR delivery was answered {status}: {body}", log)
        print(f"static-root: App over TLS (the root's CA bundle): 200 {body.strip()[:100]}; "
              f"GitHub saw {len(seen)} requests, first {paths[0][0]} {paths[0][1]}")

        status, body, seen, log = app_mode(top, binary, trusted=False)
        if seen:
            fail(f"App mode, CA not in the root's bundle: the fake still served {seen}", log)
        if status is None or status < 500:
            fail(f"App mode, CA not in the root's bundle: answered {status}, not 5xx: {body}", log)
        if "UnknownIssuer" not in log.read_text(errors="replace"):
            fail("App mode, CA not in the root's bundle: the log names no unknown issuer", log)
        print(f"static-root: App over TLS, CA not in the root's bundle: {status}, no request served")
    print("static-root: OK")


if __name__ == "__main__":
    main()

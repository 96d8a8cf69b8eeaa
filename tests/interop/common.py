"""What the slixmpp interop scripts share: a client for the ephemeral server, checks, and
starting/stopping `rhein serve --ephemeral`."""

import asyncio
import contextlib
import json
import ssl
import subprocess

import slixmpp

TIMEOUT = 10


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that accepts the ephemeral server's self-signed certificate and queues
    what it receives."""

    def __init__(self, jid, password, plugins, sasl_mech=None):
        super().__init__(jid, password, sasl_mech=sasl_mech)
        for plugin in plugins:
            self.register_plugin(plugin)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("presence", lambda p: self.presences.put_nowait(p))

    async def on_start(self, _event):
        await self.get_roster()
        self.send_presence()

    async def online(self, host, port):
        self.connect(host, port)
        await self.wait_until("session_start", TIMEOUT)


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok - {what}")


async def wait_for(queue, predicate, what):
    """The first queued item matching `predicate`, within TIMEOUT."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {what}")
        try:
            item = await asyncio.wait_for(queue.get(), remaining)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None
        if predicate(item):
            print(f"ok - {what}")
            return item


@contextlib.contextmanager
def ephemeral_server(binary, users, extra_args=(), ready_out=None):
    """Runs `rhein serve --ephemeral` with `users` (name, password); yields (host, port, domain).
    `ready_out`, a dict, receives the whole ready line (other listeners' addresses)."""
    args = [binary, "serve", "--ephemeral", *extra_args]
    for name, password in users:
        args += ["--user", f"{name}:{password}"]
    server = subprocess.Popen(args, stdout=subprocess.PIPE)
    try:
        ready = json.loads(server.stdout.readline())
        if ready_out is not None:
            ready_out.update(ready)
        host, port = ready["c2s"].rsplit(":", 1)
        yield host, int(port), ready["domain"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(main, binary, name, limit=60):
    """Runs `main(binary)` with a time limit; exits non-zero on any failure."""
    import sys

    try:
        asyncio.run(asyncio.wait_for(main(binary), limit))
    except Exception as e:  # noqa: BLE001 - any failure fails the run
        print(f"not ok - {type(e).__name__}: {e}")
        sys.exit(1)
    print(f"{name}: all checks passed")


@contextlib.contextmanager
def prosody_server(config, domain, users, c2s, data_out=None, s2s_port=None, after_host=""):
    """Runs a private Prosody (Debian's package) for `domain` with a self-signed certificate,
    listening for clients on `c2s` (STARTTLS required, hashed passwords, file storage) and for
    servers on `s2s_port` of the same address when given. `config(work)` gives the rest of its
    global settings (modules and such), with `work` its directory (data, certificate `cert.pem`
    and `key.pem`, log); `after_host` follows the VirtualHost (components). `users` (name,
    password) are registered first; yields once `c2s` accepts. With `data_out`, Prosody's data
    directory is copied there once it has stopped."""
    import os
    import shutil
    import socket
    import tempfile
    import time

    work = tempfile.mkdtemp(prefix="rhein-prosody-")
    os.makedirs(f"{work}/data", exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem", "-days", "2", "-subj", f"/CN={domain}",
         "-addext", f"subjectAltName=DNS:{domain}"],
        check=True, capture_output=True)
    with open(f"{work}/prosody.cfg.lua", "w") as f:
        f.write(f'run_as_root = true\ndaemonize = false\npidfile = "{work}/prosody.pid"\n')
        f.write(f'data_path = "{work}/data"\nlog = {{ debug = "{work}/prosody.log" }}\n')
        f.write(config(work))
        s2s = f"{{ {s2s_port} }}" if s2s_port else "{}"
        f.write(f'interfaces = {{ "{c2s[0]}" }}\nc2s_ports = {{ {c2s[1]} }}\ns2s_ports = {s2s}\n')
        f.write("c2s_direct_tls_ports = {}\ns2s_direct_tls_ports = {}\nhttp_ports = {}\nhttps_ports = {}\n")
        f.write('c2s_require_encryption = true\nauthentication = "internal_hashed"\nstorage = "internal"\n')
        f.write(f'VirtualHost "{domain}"\n    ssl = {{ certificate = "{work}/cert.pem", key = "{work}/key.pem" }}\n')
        f.write(after_host)
    cfg = ["--config", f"{work}/prosody.cfg.lua"]
    for name, password in users:
        subprocess.run(["prosodyctl", *cfg, "register", name, domain, password], check=True, capture_output=True)
    proc = subprocess.Popen(["prosody", *cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 15
        while True:
            try:
                socket.create_connection(c2s, timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError(f"Prosody did not start; see {work}/prosody.log") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if data_out is not None:
            shutil.copytree(f"{work}/data", data_out, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def prosody_wanted(script):
    """Whether Prosody is here to test against (RHEIN_REQUIRE_PROSODY: it must be)."""
    import os
    import shutil

    if shutil.which("prosody") is not None or os.environ.get("RHEIN_REQUIRE_PROSODY"):
        return True
    print(f"{script}: Prosody part skipped, Prosody is not installed")
    return False

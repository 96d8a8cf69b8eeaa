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
def prosody_server(config, domain, users, c2s, data_out=None, s2s_port=None, after_host="", storage="internal"):
    """Runs a private Prosody (Debian's package) for `domain` with a self-signed certificate,
    listening for clients on `c2s` (STARTTLS required, hashed passwords, `storage`: the file
    storage unless told, "sql" with its `sql` settings in `config`) and for
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
        f.write('c2s_require_encryption = true\nauthentication = "internal_hashed"\n')
        f.write(f'storage = "{storage}"\n')
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


@contextlib.contextmanager
def ejabberd_server(domain, users, c2s, modules):
    """Runs a private ejabberd (Debian's package) for `domain` on `c2s` with a self-signed
    certificate and `modules` (YAML lines under `modules:`), as the `ejabberd` user when run as
    root (Debian's own service stays off); `users` (name, password) are registered first.
    Yields `ctl(*args)`, which runs ejabberdctl against it."""
    import os
    import shutil
    import socket
    import tempfile
    import time

    work = tempfile.mkdtemp(prefix="rhein-ejabberd-")
    os.chmod(work, 0o755)
    os.makedirs(f"{work}/db")
    os.makedirs(f"{work}/logs")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem", "-days", "2", "-subj", f"/CN={domain}",
         "-addext", f"subjectAltName=DNS:{domain}"],
        check=True, capture_output=True)
    with open(f"{work}/server.pem", "w") as out:
        for part in ("key.pem", "cert.pem"):
            with open(f"{work}/{part}") as f:
                out.write(f.read())
    with open(f"{work}/ejabberd.yml", "w") as f:
        f.write(f"hosts: [{domain}]\nloglevel: info\ncertfiles: [\"{work}/server.pem\"]\n"
                f"listen:\n  - port: {c2s[1]}\n    ip: \"{c2s[0]}\"\n    module: ejabberd_c2s\n    starttls: true\n"
                "auth_method: internal\nauth_password_format: scram\nmodules:\n" + modules)
    with open(f"{work}/ejabberdctl.cfg", "w") as f:
        f.write(f"EJABBERD_CONFIG_PATH={work}/ejabberd.yml\nEJABBERD_PID_PATH={work}/ejabberd.pid\n"
                "INET_DIST_INTERFACE=127.0.0.1\nERL_OPTIONS=\"-env ERL_CRASH_DUMP_BYTES 0\"\n")
    node = f"rhein{os.getpid()}@localhost"
    # As root, ejabberdctl would re-execute itself through su, which drops the environment:
    # switch to the ejabberd user without PAM instead.
    prefix = []
    home = work
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "ejabberd", work], check=True)
        prefix = ["setpriv", "--reuid=ejabberd", "--regid=ejabberd", "--init-groups"]
        home = "/var/lib/ejabberd"
    base = [*prefix, "env", f"HOME={home}", "ERL_EPMD_ADDRESS=127.0.0.1", "ejabberdctl",
            "--ctl-config", f"{work}/ejabberdctl.cfg", "--config", f"{work}/ejabberd.yml",
            "--spool", f"{work}/db", "--logs", f"{work}/logs", "--node", node]

    def ctl(*args):
        out = subprocess.run([*base, *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise AssertionError(f"ejabberdctl {' '.join(args)} failed: {out.stdout}{out.stderr}")
        return out

    def started():
        if subprocess.run([*base, "status"], capture_output=True).returncode != 0:
            return False
        try:
            socket.create_connection(c2s, timeout=0.5).close()
            return True
        except OSError:
            return False

    console = open(f"{work}/console.log", "w")
    proc = subprocess.Popen([*base, "foreground"], stdout=console, stderr=console)
    try:
        deadline = time.time() + 60
        while not started():
            if time.time() > deadline or proc.poll() is not None:
                raise AssertionError(f"ejabberd did not start; see {work}/console.log")
            time.sleep(0.3)
        for name, password in users:
            ctl("register", name, domain, password)
        yield ctl
    finally:
        subprocess.run([*base, "stop"], capture_output=True)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # The Erlang node itself, if it outlived its script: by the id it wrote.
        try:
            with open(f"{work}/ejabberd.pid") as f:
                os.kill(int(f.read().strip()), 9)
        except (OSError, ValueError):
            pass
        console.close()
        # The port mapper ejabberd started exits only once no node is registered with it.
        subprocess.run(["epmd", "-kill"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def ejabberd_wanted(script):
    """Whether ejabberd is here to test against (RHEIN_REQUIRE_EJABBERD: it must be)."""
    import os
    import shutil

    if shutil.which("ejabberdctl") is not None or os.environ.get("RHEIN_REQUIRE_EJABBERD"):
        return True
    print(f"{script}: skipped, ejabberd is not installed")
    return False


def rhein_config(work, domain, c2s):
    """A configuration for `rhein serve --config` serving `domain` on `c2s`, its data in
    `work`; returns its path."""
    path = f"{work}/rhein.toml"
    with open(path, "w") as f:
        f.write(f'[server]\ndata_dir = "{work}/data"\n\n[[hosts]]\ndomain = "{domain}"\n\n'
                f'[[listeners]]\nkind = "c2s"\naddress = "{c2s[0]}:{c2s[1]}"\n')
    return path


def rhein_command(binary, *args):
    """Runs a `rhein` command that must succeed; its output."""
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"rhein {' '.join(args)} failed: {out.stderr}")
    return out


@contextlib.contextmanager
def rhein_serving(binary, config, c2s):
    """Runs `rhein serve --config` until the block ends; its log beside the config."""
    import os
    import socket
    import time

    log = open(os.path.join(os.path.dirname(config), "rhein.log"), "w")
    server = subprocess.Popen([binary, "serve", "--config", config], stdout=log, stderr=log)
    try:
        deadline = time.time() + 15
        while True:
            try:
                socket.create_connection(c2s, timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise AssertionError(f"Rhein did not start; see {log.name}") from None
                time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()

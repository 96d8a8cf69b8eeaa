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

    def __init__(self, jid, password, plugins):
        super().__init__(jid, password)
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

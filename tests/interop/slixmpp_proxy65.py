"""Interop: slixmpp's XEP-0065 plugin through Rhein's SOCKS5 bytestreams proxy.

Usage: python slixmpp_proxy65.py PATH/TO/rhein

The ephemeral server runs the proxy65 module (`[modules] also = ["proxy65"]`). alice's
slixmpp discovers proxy.localhost on its own (disco#items, disco#info, the streamhost
address), offers bob a bytestream through it, and sends 10 MB; bob's slixmpp connects,
receives them, and they are the same bytes. Exits non-zero on the first failure.
"""

import asyncio
import hashlib
import os
import sys
import tempfile

from common import TIMEOUT, Client, check, ephemeral_server, run

PLUGINS = ("xep_0030", "xep_0065")
SIZE = 10 * 1024 * 1024

MODULES = """
[modules]
also = ["proxy65"]

[modules.proxy65]
listen = "127.0.0.1:0"
host = "127.0.0.1"
"""


async def main(binary):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(MODULES)
    users = [("alice", "secret"), ("bob", "secret")]
    try:
        with ephemeral_server(binary, users, ["--modules", f.name]) as (host, port, domain):
            alice = Client(f"alice@{domain}/py", "secret", PLUGINS)
            bob = Client(f"bob@{domain}/py", "secret", PLUGINS)
            bob.plugin["xep_0065"].auto_accept = True
            received = bytearray()
            closed = asyncio.get_running_loop().create_future()
            bob.add_event_handler("socks5_data", received.extend)
            bob.add_event_handler("socks5_closed", lambda _exc: closed.done() or closed.set_result(None))
            await alice.online(host, port)
            await bob.online(host, port)

            proxies = await alice.plugin["xep_0065"].discover_proxies(timeout=TIMEOUT)
            check(f"proxy.{domain}" in {str(j) for j in proxies}, f"alice discovers proxy.{domain}: {proxies}")
            sock = await asyncio.wait_for(alice.plugin["xep_0065"].handshake(bob.boundjid.full), TIMEOUT)
            check(sock is not None, "the bytestream through the proxy is activated")

            data = os.urandom(SIZE)
            for start in range(0, SIZE, 64 * 1024):
                await sock.write(data[start : start + 64 * 1024])
            sock.transport.close()
            await asyncio.wait_for(closed, 60)
            check(len(received) == SIZE, f"bob received {len(received)} of {SIZE} bytes")
            check(
                hashlib.sha256(received).digest() == hashlib.sha256(data).digest(),
                "the 10 MB arrived byte for byte",
            )
            alice.disconnect()
            bob.disconnect()
    finally:
        os.unlink(f.name)


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp proxy65", limit=120)

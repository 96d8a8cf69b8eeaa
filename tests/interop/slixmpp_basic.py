"""Interop: two slixmpp clients against `rhein serve --ephemeral`.

Usage: python slixmpp_basic.py PATH/TO/rhein

Covers STARTTLS + SCRAM with a real client library, roster and subscriptions (slixmpp
auto-authorizes and subscribes back), presence, chat messages, offline delivery, XEP-0199
ping, XEP-0030 disco and XEP-0092 version. Exits non-zero on the first failure.
"""

import asyncio
import json
import ssl
import subprocess
import sys

import slixmpp

TIMEOUT = 10


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ("xep_0030", "xep_0092", "xep_0199", "xep_0203"):
            self.register_plugin(plugin)
        # The ephemeral server has a self-signed certificate.
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
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {what}")
        item = await asyncio.wait_for(queue.get(), remaining)
        if predicate(item):
            print(f"ok - {what}")
            return item


async def roster_state(client, contact, wanted):
    for _ in range(100):
        if client.client_roster[contact]["subscription"] == wanted:
            return True
        await asyncio.sleep(0.05)
    return False


async def main(binary):
    server = subprocess.Popen(
        [binary, "serve", "--ephemeral", "--user", "alice:secret", "--user", "bob:secret", "--user", "carol:secret"],
        stdout=subprocess.PIPE,
    )
    try:
        ready = json.loads(server.stdout.readline())
        host, port = ready["c2s"].rsplit(":", 1)
        port = int(port)
        domain = ready["domain"]

        alice = Client(f"alice@{domain}/py", "secret")
        bob = Client(f"bob@{domain}/py", "secret")
        await alice.online(host, port)
        await bob.online(host, port)
        check(alice.is_connected() and bob.is_connected(), "both clients logged in over STARTTLS")

        alice.send_presence_subscription(pto=f"bob@{domain}")
        check(await roster_state(alice, f"bob@{domain}", "both"), "subscription handshake ends in 'both'")
        check(await roster_state(bob, f"alice@{domain}", "both"), "the contact's roster says 'both' too")

        alice.send_message(mto=f"bob@{domain}", mbody="hello from slixmpp", mtype="chat")
        msg = await wait_for(bob.messages, lambda m: m["body"] == "hello from slixmpp", "bob receives the chat message")
        check(str(msg["from"]) == f"alice@{domain}/py", "the message is from alice's full JID")

        rtt = await alice.plugin["xep_0199"].ping(jid=domain, timeout=TIMEOUT)
        check(rtt is not None, "XEP-0199 ping to the server")
        info = await alice.plugin["xep_0030"].get_info(jid=domain, timeout=TIMEOUT)
        features = info["disco_info"]["features"]
        check("urn:xmpp:ping" in features and "jabber:iq:version" in features, "XEP-0030 disco lists features")
        version = await alice.plugin["xep_0092"].get_version(domain, timeout=TIMEOUT)
        check(version["software_version"]["name"] == "Rhein", "XEP-0092 names the server")

        bob.disconnect()
        await wait_for(
            alice.presences,
            lambda p: p["type"] == "unavailable" and str(p["from"]).startswith(f"bob@{domain}"),
            "alice sees bob go unavailable",
        )

        alice.send_message(mto=f"carol@{domain}", mbody="while you were away", mtype="chat")
        await asyncio.sleep(0.2)
        carol = Client(f"carol@{domain}/py", "secret")
        await carol.online(host, port)
        msg = await wait_for(carol.messages, lambda m: m["body"] == "while you were away", "carol gets the offline message")
        check(msg["delay"]["stamp"] is not None, "offline delivery carries an XEP-0203 delay")
        alice.disconnect()
        carol.disconnect()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
    except Exception as e:  # noqa: BLE001 - report any failure as a failed run
        print(f"not ok - {type(e).__name__}: {e}")
        sys.exit(1)
    print("slixmpp interop: all checks passed")

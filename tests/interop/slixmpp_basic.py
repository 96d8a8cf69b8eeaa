"""Interop: two slixmpp clients against `rhein serve --ephemeral`.

Usage: python slixmpp_basic.py PATH/TO/rhein

Covers STARTTLS + SCRAM with a real client library, roster and subscriptions (slixmpp
auto-authorizes and subscribes back), presence, chat messages, offline delivery, XEP-0199
ping, XEP-0030 disco and XEP-0092 version. Exits non-zero on the first failure.
"""

import asyncio
import sys

from common import TIMEOUT, Client, check, ephemeral_server, run, wait_for

PLUGINS = ("xep_0030", "xep_0092", "xep_0199", "xep_0203")


async def roster_state(client, contact, wanted):
    for _ in range(100):
        if client.client_roster[contact]["subscription"] == wanted:
            return True
        await asyncio.sleep(0.05)
    return False


async def main(binary):
    with ephemeral_server(binary, [("alice", "secret"), ("bob", "secret"), ("carol", "secret")]) as (host, port, domain):
        alice = Client(f"alice@{domain}/py", "secret", PLUGINS)
        bob = Client(f"bob@{domain}/py", "secret", PLUGINS)
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
        carol = Client(f"carol@{domain}/py", "secret", PLUGINS)
        await carol.online(host, port)
        msg = await wait_for(carol.messages, lambda m: m["body"] == "while you were away", "carol gets the offline message")
        check(msg["delay"]["stamp"] is not None, "offline delivery carries an XEP-0203 delay")
        alice.disconnect()
        carol.disconnect()


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp interop")

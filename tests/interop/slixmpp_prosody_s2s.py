"""Interop: Rhein federating with Prosody (Debian package) over STARTTLS with dialback.

Usage: python slixmpp_prosody_s2s.py PATH/TO/rhein

Starts a private Prosody for `prosody.test` on 127.0.0.6 and `rhein serve --ephemeral` for
`rhein.test` with its s2s listener on 127.0.0.5; each reaches the other through a pinned
route (Prosody through tests/interop/prosody/mod_pinned_routes.lua), both with self-signed
certificates, so the streams authenticate with XEP-0220 dialback; both sides offer XEP-0288
bidirectional streams. A slixmpp client on each
side subscribes and exchanges messages and presence. Skipped (exit 0 with a note) when
Prosody is not installed and RHEIN_REQUIRE_PROSODY is unset.
"""

import asyncio
import os
import sys

from common import Client, check, ephemeral_server, prosody_server, prosody_wanted, run, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
# Addresses of their own and unusual ports, so a system-wide server cannot be in the way.
RHEIN_S2S = ("127.0.0.5", 25269)
PROSODY_C2S = ("127.0.0.6", 25222)
PROSODY_S2S = ("127.0.0.6", 25269)


def prosody_config(work):
    return f"""
plugin_paths = {{ "{HERE}/prosody" }}
modules_enabled = {{ "roster", "saslauth", "tls", "dialback", "s2s_bidi", "disco", "ping", "presence", "message", "pinned_routes" }}
modules_disabled = {{ "offline" }}
s2s_require_encryption = true
s2s_secure_auth = false
pinned_routes = {{ ["rhein.test"] = {{ "{RHEIN_S2S[0]}", {RHEIN_S2S[1]} }} }}
"""


async def main(binary):
    args = ["--domain", "rhein.test", "--s2s", f"{RHEIN_S2S[0]}:{RHEIN_S2S[1]}",
            "--s2s-route", f"prosody.test={PROSODY_S2S[0]}:{PROSODY_S2S[1]}"]
    with prosody_server(prosody_config, "prosody.test", [("pat", "secret")], PROSODY_C2S, s2s_port=PROSODY_S2S[1]):
        with ephemeral_server(binary, [("rita", "secret")], args) as (host, port, domain):
            rita = Client(f"rita@{domain}/py", "secret", ())
            pat = Client("pat@prosody.test/py", "secret", ())
            await rita.online(host, port)
            await pat.online(*PROSODY_C2S)
            check(True, "a client on each server is online")

            rita.send_presence_subscription(pto="pat@prosody.test")
            await wait_for(pat.presences, lambda p: p["type"] == "subscribe", "Prosody's user gets Rhein's request")
            pat.send_presence(pto="rita@rhein.test", ptype="subscribed")
            pat.send_presence_subscription(pto="rita@rhein.test")
            await wait_for(rita.presences, lambda p: p["type"] == "subscribed", "Rhein's user gets the approval")
            await wait_for(rita.presences, lambda p: p["type"] == "subscribe", "and Prosody's user's request")
            rita.send_presence(pto="pat@prosody.test", ptype="subscribed")
            await wait_for(
                rita.presences,
                lambda p: p["type"] == "available" and str(p["from"]).startswith("pat@prosody.test"),
                "Rhein's user sees Prosody's user online",
            )
            await wait_for(
                pat.presences,
                lambda p: p["type"] == "available" and str(p["from"]).startswith("rita@rhein.test"),
                "Prosody's user sees Rhein's user online",
            )

            rita.send_message(mto="pat@prosody.test", mbody="hello from Rhein", mtype="chat")
            await wait_for(pat.messages, lambda m: m["body"] == "hello from Rhein", "a message Rhein -> Prosody")
            pat.send_message(mto="rita@rhein.test", mbody="hello from Prosody", mtype="chat")
            msg = await wait_for(rita.messages, lambda m: m["body"] == "hello from Prosody", "a message Prosody -> Rhein")
            check(str(msg["from"]) == "pat@prosody.test/py", "it carries the sender's full JID")

            pat.disconnect()
            await wait_for(
                rita.presences,
                lambda p: p["type"] == "unavailable" and str(p["from"]).startswith("pat@prosody.test"),
                "Rhein's user sees Prosody's user leave",
            )
            rita.disconnect()


if __name__ == "__main__":
    if not prosody_wanted("slixmpp_prosody_s2s"):
        sys.exit(0)
    run(main, sys.argv[1], "slixmpp_prosody_s2s", limit=90)

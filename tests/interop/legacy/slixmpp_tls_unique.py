"""Interop: a client that knows no channel binding but tls-unique logs in with its default
mechanism choice.

Usage: python slixmpp_tls_unique.py PATH/TO/rhein   (slixmpp from requirements.txt here)

slixmpp 1.8.2 (like older Smack and libpurple) binds with tls-unique only, which TLS 1.3 does
not have: it picks SCRAM-SHA-256-PLUS with `p=tls-unique`, is refused, tries
SCRAM-SHA-1-PLUS the same way, then SCRAM-SHA-256 with the `y` flag ("I can bind, I believe
you cannot"). Rhein must take that last one: nothing this client can bind with was offered,
so it is no downgrade. Exits non-zero on the first failure.
"""

import base64
import os
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import slixmpp  # noqa: E402
from common import TIMEOUT, check, ephemeral_server, run  # noqa: E402


class Legacy(slixmpp.ClientXMPP):
    """A slixmpp 1.8 client with its defaults, accepting the server's self-signed certificate
    and noting each SASL `<auth/>` it sends (mechanism, GS2 header)."""

    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.auths = []
        self.add_filter("out", self.note_auth)
        self.register_plugin("xep_0199")

    def note_auth(self, stanza):
        if stanza.name == "auth":
            first = base64.b64decode(stanza.xml.text or "")
            self.auths.append((stanza.xml.get("mechanism"), first.split(b",n=")[0].decode()))
        return stanza


async def main(binary):
    with ephemeral_server(binary, [("alice", "secret")]) as (host, port, domain):
        alice = Legacy(f"alice@{domain}/legacy", "secret")
        alice.connect((host, port))
        await alice.wait_until("session_start", TIMEOUT)
        print("SASL attempts:", alice.auths)
        check(alice.auths[0] == ("SCRAM-SHA-256-PLUS", "p=tls-unique,"), "the client tried tls-unique first")
        check(alice.auths[-1] == ("SCRAM-SHA-256", "y,"), "and logged in with SCRAM-SHA-256 and the y flag")
        rtt = await alice.plugin["xep_0199"].ping(jid=domain, timeout=TIMEOUT)
        check(rtt is not None, "the session works (XEP-0199 ping)")
        alice.disconnect()


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_tls_unique")

"""Compliance: the checks client developers grade servers with, against
`rhein serve --ephemeral`.

Usage: python slixmpp_compliance.py PATH/TO/rhein

The Conversations Compliance Tester (github.com/iNPUTmice/ComplianceTester) builds with
Maven, and this machine reaches no Maven repository; so its checks are written again here,
criterion by criterion (what each test asks the server), together with what XEP-0479
(Compliance Suites 2023) asks of an Advanced Server in the Core, IM, Mobile, Web and A/V
categories. Each check prints PASSED or FAILED; the suites passed are summarised at the
end, and any failure of a required check fails the run. Checks of provider settings that
the ephemeral server does not configure (abuse contacts, TURN) are run against a server
started with a config that sets them.
"""

import asyncio
import json
import os
import ssl
import sys
import tempfile
import urllib.request

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from common import TIMEOUT, Client, ephemeral_server, run

PLUGINS = ("xep_0030", "xep_0045", "xep_0004", "xep_0199")

STREAM = "http://etherx.jabber.org/streams"

# The default modules, and the two a provider configures.
MODULES = """
[modules]
enabled = ["disco", "ping", "version", "last", "im", "private", "vcard", "blocking", "carbons", "mam",
           "push", "pep", "muc", "mix", "upload", "contact", "extdisco"]
[modules.contact]
abuse = ["mailto:abuse@localhost"]
[modules.extdisco]
secret = "s3cret"
[[modules.extdisco.services]]
type = "turn"
host = "turn.localhost"
port = 3478
"""


class Grader(Client):
    def __init__(self, jid, password):
        super().__init__(jid, password, PLUGINS)
        self.stream_features = []
        self.register_handler(
            Callback("features seen", MatchXPath(f"{{{STREAM}}}features"), lambda f: self.stream_features.append(f.xml))
        )

    def has_stream_feature(self, ns, name):
        return any(f.find(f"{{{ns}}}{name}") is not None for f in self.stream_features)


async def info(client, jid, node=None):
    result = await client.plugin["xep_0030"].get_info(jid=jid, node=node, timeout=TIMEOUT)
    return result["disco_info"]


async def services_with(client, domain, feature):
    items = await client.plugin["xep_0030"].get_items(jid=domain, timeout=TIMEOUT)
    found = []
    for item in items["disco_items"]["items"]:
        if feature in (await info(client, item[0]))["features"]:
            found.append(item[0])
    return found


async def direct_tls(host, port):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["xmpp-client"])
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), TIMEOUT)
    ok = writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    writer.close()
    return ok


def host_meta_links(http_addr):
    """The `rel`s of the links in /.well-known/host-meta.json."""
    with urllib.request.urlopen(f"http://{http_addr}/.well-known/host-meta.json", timeout=TIMEOUT) as r:
        return [link["rel"] for link in json.load(r).get("links", [])]


async def main(binary):
    results = []

    def grade(name, passed, required=True):
        results.append((name, passed, required))
        print(f"{'PASSED' if passed else 'FAILED'}  {name}{'' if required else '  (not required)'}")

    # A provider's settings: an abuse contact (XEP-0157) and a TURN server (XEP-0215).
    with tempfile.TemporaryDirectory() as tmp:
        modules = os.path.join(tmp, "modules.toml")
        with open(modules, "w") as f:
            f.write(MODULES)
        ready = {}
        with ephemeral_server(binary, [("alice", "secret")], ["--modules", modules], ready) as (host, port, d):
            c = Grader(f"alice@{d}/grader", "secret")
            await c.online(host, port)
            server = await info(c, d)
            account = await info(c, f"alice@{d}")
            identities = {(i[0], i[1]) for i in account["identities"]}

            # Advanced Server Core (tester) / XEP-0479 Core.
            grade("XEP-0115: Entity Capabilities (stream feature)", c.has_stream_feature("http://jabber.org/protocol/caps", "c"))
            grade("XEP-0163: Personal Eventing Protocol (pubsub/pep identity)", ("pubsub", "pep") in identities)
            grade("XEP-0030: Service Discovery", "http://jabber.org/protocol/disco#info" in server["features"])
            dtls_host, dtls_port = ready["c2s_tls"].rsplit(":", 1)
            grade("XEP-0368: direct TLS", await direct_tls(dtls_host, int(dtls_port)))
            # IM.
            grade("Roster versioning (stream feature)", c.has_stream_feature("urn:xmpp:features:rosterver", "ver"))
            grade("XEP-0280: Message Carbons", "urn:xmpp:carbons:2" in server["features"])
            grade("XEP-0191: Blocking Command", "urn:xmpp:blocking" in server["features"])
            grade("XEP-0054: vcard-temp", "vcard-temp" in server["features"] or "vcard-temp" in account["features"])
            grade(
                "XEP-0398: User Avatar to vCard-Based Avatars Conversion",
                "urn:xmpp:pep-vcard-conversion:0" in account["features"],
            )
            mucs = await services_with(c, d, "http://jabber.org/protocol/muc")
            grade("XEP-0045: Multi-User Chat (a service)", bool(mucs))
            grade("XEP-0198: Stream Management (stream feature)", c.has_stream_feature("urn:xmpp:sm:3", "sm"))
            grade("XEP-0313: Message Archive Management (account)", "urn:xmpp:mam:2" in account["features"])
            room = f"compliance@{mucs[0]}"
            await c.plugin["xep_0045"].join_muc_wait(room, "grader", timeout=TIMEOUT)
            form = await c.plugin["xep_0045"].get_room_config(room)
            form["type"] = "submit"
            await c.plugin["xep_0045"].set_room_config(room, form)
            grade("XEP-0313: Message Archive Management (MUC room)", "urn:xmpp:mam:2" in (await info(c, room))["features"])
            grade("XEP-0410: MUC Self-Ping", (await c.plugin["xep_0199"].ping(f"{room}/grader", timeout=TIMEOUT)) is not None)
            grade("XEP-0223: private PubSub storage (publish-options)", "http://jabber.org/protocol/pubsub#publish-options" in account["features"])
            grade("XEP-0049: Private XML Storage", "jabber:iq:private" in server["features"] or "jabber:iq:private" in account["features"])
            grade("XEP-0402: PEP Native Bookmarks (compat)", "urn:xmpp:bookmarks:1#compat" in account["features"])
            grade("XEP-0384: OMEMO (pep identity and publish-options)", ("pubsub", "pep") in identities and "http://jabber.org/protocol/pubsub#publish-options" in account["features"])
            # Mobile.
            grade("XEP-0352: Client State Indication (stream feature)", c.has_stream_feature("urn:xmpp:csi:0", "csi"))
            grade("XEP-0357: Push Notifications (account)", "urn:xmpp:push:0" in account["features"])
            grade("XEP-0363: HTTP File Upload (a service)", bool(await services_with(c, d, "urn:xmpp:http:upload:0")))
            grade("Offline storage (msgoffline)", "msgoffline" in server["features"])
            # A/V and provider settings.
            grade("XEP-0215: External Service Discovery", "urn:xmpp:extdisco:2" in server["features"])
            fields = [x.get("var") for form in server.xml.findall("{jabber:x:data}x") for x in form.findall("{jabber:x:data}field")]
            grade("XEP-0157: Contact Addresses (abuse)", "abuse-addresses" in fields)
            # Web: WebSocket and BOSH announced through host-meta (XEP-0156).
            links = host_meta_links(ready["http"])
            grade("RFC 7395: XMPP over WebSocket (announced)", any(r == "urn:xmpp:alt-connections:websocket" for r in links))
            grade("XEP-0206: XMPP over BOSH (announced)", any(r == "urn:xmpp:alt-connections:xbosh" for r in links))
            # The Conversations suite also asks for a SOCKS5 proxy, which XEP-0479 does not.
            socks = await services_with(c, d, "http://jabber.org/protocol/bytestreams")
            grade("XEP-0065: SOCKS5 Bytestreams proxy", bool(socks), required=False)
            c.disconnect()

    failed = [name for name, ok, required in results if required and not ok]
    print(f"passed {sum(ok for _, ok, _ in results)}/{len(results)}")
    if failed:
        raise AssertionError(f"required checks failed: {failed}")


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_compliance")

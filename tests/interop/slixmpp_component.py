"""Interop: a slixmpp external component (XEP-0114) attached to `rhein serve --ephemeral`.

Usage: python slixmpp_component.py PATH/TO/rhein

The component `echo.localhost` answers every chat message with its body reversed and answers
disco#info; a slixmpp client talks to it through Rhein. Exits non-zero on the first failure.
"""

import asyncio
import sys

import slixmpp

from common import TIMEOUT, Client, check, ephemeral_server, run, wait_for

SECRET = "sprint-secret"


class Echo(slixmpp.ComponentXMPP):
    def __init__(self, domain, host, port):
        super().__init__(domain, SECRET, host, port)
        self.register_plugin("xep_0030")
        self.plugin["xep_0030"].add_identity(category="component", itype="generic", name="Echo")
        self.add_event_handler("message", self.on_message)

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            msg.reply(msg["body"][::-1]).send()


async def main(binary):
    ready = {}
    args = ["--component", f"echo.localhost:{SECRET}"]
    with ephemeral_server(binary, [("alice", "secret")], args, ready) as (host, port, domain):
        comp_host, comp_port = ready["component"].rsplit(":", 1)
        echo = Echo("echo.localhost", comp_host, int(comp_port))
        echo.connect()
        await echo.wait_until("session_start", TIMEOUT)
        check(True, "the component completed the handshake")

        alice = Client(f"alice@{domain}/py", "secret", ("xep_0030",))
        await alice.online(host, port)
        alice.send_message(mto="bot@echo.localhost", mbody="stressed", mtype="chat")
        reply = await wait_for(alice.messages, lambda m: m["body"] == "desserts", "the component's answer arrives")
        check(str(reply["from"]) == "bot@echo.localhost", "it comes from the component's JID")

        info = await alice.plugin["xep_0030"].get_info(jid="echo.localhost", timeout=TIMEOUT)
        identities = {(c, t) for c, t, _lang, _name in info["disco_info"]["identities"]}
        check(("component", "generic") in identities, "disco#info to the component is answered by it")

        items = await alice.plugin["xep_0030"].get_items(jid=domain, timeout=TIMEOUT)
        check("echo.localhost" in {str(i[0]) for i in items["disco_items"]["items"]}, "the host lists the component")

        echo.disconnect()
        await echo.wait_until("disconnected", TIMEOUT)
        alice.disconnect()


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_component")

"""Interop: slixmpp's XEP-0050 and XEP-0077 plugins against `rhein serve --ephemeral`.

Usage: python slixmpp_invites.py PATH/TO/rhein

alice creates an invitation with the XEP-0401 command and a members-only room, and an
invitation link to it with the room's command; carol, with no account, presents the token
(XEP-0445) and registers in-band, logs in, finds alice in her roster subscribed both ways, and
joins the room with the room's token as its password. Exits non-zero on the first failure.
"""

import asyncio
import os
import sys
import tempfile
import xml.etree.ElementTree as ET

from common import TIMEOUT, Client, check, ephemeral_server, run

ROOM = "sprint@conference.localhost"
INVITE = "urn:xmpp:invite#invite"


def form_value(iq, var):
    """The value of a field of the form in a command answer."""
    return iq["command"]["form"]["values"].get(var)


class Newcomer(Client):
    """An account to be: registers in-band with an invitation token, then logs in."""

    def __init__(self, jid, password, token):
        super().__init__(jid, password, ("xep_0030", "xep_0045", "xep_0004", "xep_0077"))
        self.token = token
        self.registered = asyncio.get_event_loop().create_future()
        self.add_event_handler("register", self.on_register)

    async def on_register(self, form):
        check("needs an invitation" in form["register"]["instructions"], "the fields say an invitation is needed")
        preauth = self.Iq()
        preauth["type"] = "set"
        preauth["to"] = self.boundjid.domain
        preauth.append(ET.fromstring(f"<preauth xmlns='urn:xmpp:pars:0' token='{self.token}'/>"))
        # slixmpp holds back stanzas before the session but registration's; this one is part of
        # registration (XEP-0445 §4), so it is let through the way slixmpp's own tests do.
        self._always_send_everything = True
        await preauth.send(timeout=TIMEOUT)
        self._always_send_everything = False
        check(True, "the server accepts the invitation token (XEP-0445)")
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        await iq.send(timeout=TIMEOUT)
        self.registered.set_result(True)


async def main(binary):
    with tempfile.TemporaryDirectory() as tmp:
        modules = os.path.join(tmp, "modules.toml")
        with open(modules, "w") as f:
            f.write("[modules.invites]\nusers_may_invite = true\n")
        with ephemeral_server(binary, [("alice", "secret")], ["--modules", modules]) as (host, port, domain):
            alice = Client(f"alice@{domain}/py", "secret", ("xep_0030", "xep_0004", "xep_0045", "xep_0050"))
            await alice.online(host, port)
            adhoc, muc = alice.plugin["xep_0050"], alice.plugin["xep_0045"]

            commands = await adhoc.get_commands(domain, timeout=TIMEOUT)
            nodes = {item[1] for item in commands["disco_items"]["items"]}
            check(INVITE in nodes, "the server lists the invite command (XEP-0401)")
            answer = await adhoc.send_command(domain, INVITE, timeout=TIMEOUT)
            check(answer["command"]["status"] == "completed", "the invite command completes at once")
            uri = form_value(answer, "uri")
            check(uri.startswith(f"xmpp:alice@{domain}?roster;preauth=") and uri.endswith(";ibr=y"), f"its URI: {uri}")
            token = uri.split("preauth=")[1].split(";")[0]

            await muc.join_muc_wait(ROOM, "alice", timeout=TIMEOUT)
            form = await muc.get_room_config(ROOM)
            form["type"] = "submit"
            form.field["muc#roomconfig_membersonly"]["value"] = True
            await muc.set_room_config(ROOM, form)
            room_answer = await adhoc.send_command(ROOM, INVITE, timeout=TIMEOUT)
            room_uri = form_value(room_answer, "uri")
            check(room_uri.startswith(f"xmpp:{ROOM}?join;password="), f"the room's invitation URI: {room_uri}")
            room_token = room_uri.split("password=")[1]

            carol = Newcomer(f"carol@{domain}/py", "a long password", token)
            carol.connect(host, port)
            await asyncio.wait_for(carol.registered, TIMEOUT)
            check(True, "carol registers in-band with the token (XEP-0077)")
            await carol.wait_until("session_start", TIMEOUT)
            check(True, "carol logs in with her new account")
            roster = await carol.get_roster(timeout=TIMEOUT)
            item = roster["roster"]["items"].get(alice.boundjid.bare)
            check(item is not None and item["subscription"] == "both", "carol's roster has alice, both ways")

            await carol.plugin["xep_0045"].join_muc_wait(ROOM, "carol", password=room_token, timeout=TIMEOUT)
            check(True, "carol joins the members-only room with its token (XEP-0488)")
            affiliation = carol.plugin["xep_0045"].get_jid_property(ROOM, "carol", "affiliation")
            check(affiliation == "member", f"and is a member now ({affiliation})")

            carol.disconnect()
            alice.disconnect()
            await asyncio.sleep(0.1)


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_invites")

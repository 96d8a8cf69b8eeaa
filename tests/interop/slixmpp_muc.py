"""Interop: slixmpp's XEP-0045 plugin against `rhein serve --ephemeral`.

Usage: python slixmpp_muc.py PATH/TO/rhein

alice creates a room (accepting the instant configuration), bob joins it; both see each
other, exchange group messages, and bob gets the history and the subject. Exits non-zero on
the first failure.
"""

import asyncio
import sys

from common import TIMEOUT, Client, check, ephemeral_server, run, wait_for

ROOM = "sprint@conference.localhost"


class MucClient(Client):
    def __init__(self, jid, password):
        super().__init__(jid, password, ("xep_0030", "xep_0045", "xep_0004"))
        self.groupchat = asyncio.Queue()
        self.add_event_handler("groupchat_message", lambda m: self.groupchat.put_nowait(m))
        self.add_event_handler("groupchat_subject", lambda m: self.groupchat.put_nowait(m))


async def main(binary):
    with ephemeral_server(binary, [("alice", "secret"), ("bob", "secret")]) as (host, port, domain):
        alice = MucClient(f"alice@{domain}/py", "secret")
        bob = MucClient(f"bob@{domain}/py", "secret")
        await alice.online(host, port)
        await bob.online(host, port)
        muc_a, muc_b = alice.plugin["xep_0045"], bob.plugin["xep_0045"]

        await muc_a.join_muc_wait(ROOM, "alice", timeout=TIMEOUT)
        form = await muc_a.get_room_config(ROOM)
        check("muc#roomconfig_roomname" in form.get_fields(), "the owner gets the configuration form")
        form["type"] = "submit"
        form.field["muc#roomconfig_roomname"]["value"] = "Sprint room"
        form.field["muc#roomconfig_persistentroom"]["value"] = True
        await muc_a.set_room_config(ROOM, form)
        check(True, "the owner submits the configuration")
        alice.send_message(mto=ROOM, mbody="first!", mtype="groupchat")
        await wait_for(alice.groupchat, lambda m: m["body"] == "first!", "the owner's message is reflected")

        await muc_b.join_muc_wait(ROOM, "bob", timeout=TIMEOUT, maxstanzas=10)
        roster = muc_b.get_roster(ROOM)
        check({"alice", "bob"} <= set(roster), "bob sees alice and himself in the room")
        await wait_for(bob.groupchat, lambda m: m["body"] == "first!", "bob gets the history")
        bob.send_message(mto=ROOM, mbody="hello room", mtype="groupchat")
        msg = await wait_for(alice.groupchat, lambda m: m["body"] == "hello room", "alice gets bob's message")
        check(str(msg["from"]) == f"{ROOM}/bob", "it comes from bob's nickname")
        sid = msg.xml.find("{urn:xmpp:sid:0}stanza-id")
        check(sid is not None and sid.get("by") == ROOM, "with the room's stanza id")

        info = await alice.plugin["xep_0030"].get_info(jid=ROOM, timeout=TIMEOUT)
        features = info["disco_info"]["features"]
        check("muc_persistent" in features, "the room is persistent now")

        muc_b.leave_muc(ROOM, "bob")
        await asyncio.sleep(0.2)
        check("bob" not in muc_a.get_roster(ROOM), "alice sees bob leave")
        alice.disconnect()
        bob.disconnect()


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_muc")

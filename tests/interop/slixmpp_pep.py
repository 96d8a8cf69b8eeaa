"""Interop: slixmpp's PEP plugins (XEP-0060, -0163, -0084, -0402, and -0048 over XEP-0049)
against `rhein serve --ephemeral`.

Usage: python slixmpp_pep.py PATH/TO/rhein

Two devices of alice and her contact bob follow a list node through +notify capabilities: a
retracted item disappears on every other device, a purge empties every view. Avatars reach
the contact but not a stranger. Bookmarks stored through private XML by one client arrive as
XEP-0402 items (with autojoin) on another, and the other way round.
"""

import asyncio
import sys
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError

from common import TIMEOUT, Client, check, ephemeral_server, run, wait_for

LIST = "urn:example:list"
BOOKMARKS = "urn:xmpp:bookmarks:1"
PLUGINS = ("xep_0030", "xep_0004", "xep_0048", "xep_0049", "xep_0060", "xep_0084", "xep_0115", "xep_0163", "xep_0402")


class PepClient(Client):
    """Asks for notifications of LIST and bookmarks, and queues every pubsub event."""

    def __init__(self, jid, password):
        super().__init__(jid, password, PLUGINS)
        self.events = asyncio.Queue()
        self.add_event_handler("session_bind", self.interests)
        pubsub = self.plugin["xep_0060"]
        pubsub.map_node_event(LIST, "list")
        pubsub.map_node_event(BOOKMARKS, "bookmarks")
        for name in ("list_publish", "list_retract", "bookmarks_publish", "avatar_metadata_publish", "pubsub_purge"):
            self.add_event_handler(name, lambda m, name=name: self.events.put_nowait((name, m)))

    def interests(self, _jid):
        self.plugin["xep_0163"].add_interest([LIST, BOOKMARKS])

    async def on_start(self, event):
        # add_interest recomputes the capabilities in the background; the initial presence
        # must carry the new ones.
        await self.plugin["xep_0115"].update_caps(broadcast=False)
        await super().on_start(event)


def entry(text):
    el = ET.Element(f"{{urn:example}}entry")
    el.text = text
    return el


def event_item(kind, node, item_id=None):
    def match(event):
        name, m = event
        items = m["pubsub_event"]["items"]
        if name != kind or items["node"] != node:
            return False
        if item_id is None:
            return True
        return any(i["id"] == item_id for i in items)

    return match


async def main(binary):
    users = [("alice", "secret"), ("bob", "secret"), ("carol", "secret")]
    with ephemeral_server(binary, users) as (host, port, d):
        phone = PepClient(f"alice@{d}/phone", "secret")
        laptop = PepClient(f"alice@{d}/laptop", "secret")
        bob = PepClient(f"bob@{d}/desk", "secret")
        carol = PepClient(f"carol@{d}/x", "secret")
        for c in (phone, laptop, bob, carol):
            await c.online(host, port)
        # slixmpp approves and returns subscriptions on its own.
        phone.send_presence(pto=f"bob@{d}", ptype="subscribe")
        await wait_for(phone.presences, lambda p: p["type"] == "subscribed", "bob approves alice")
        await wait_for(bob.presences, lambda p: p["type"] == "subscribed", "alice approves bob")
        await asyncio.sleep(0.5)  # capabilities learnt by the server

        pubsub = phone.plugin["xep_0060"]
        await pubsub.publish(f"alice@{d}", LIST, id="chat-1", payload=entry("one"), timeout=TIMEOUT)
        await wait_for(laptop.events, event_item("list_publish", LIST, "chat-1"), "the other device sees the new item")
        await wait_for(bob.events, event_item("list_publish", LIST, "chat-1"), "the contact sees the new item")

        await pubsub.retract(f"alice@{d}", LIST, "chat-1", timeout=TIMEOUT)
        await wait_for(laptop.events, lambda e: e[0] == "list_retract", "a retraction reaches the other device")
        await wait_for(bob.events, lambda e: e[0] == "list_retract", "a retraction reaches the contact")
        items = await laptop.plugin["xep_0060"].get_items(f"alice@{d}", LIST, timeout=TIMEOUT)
        check(len(items["pubsub"]["items"]) == 0, "the retracted item is gone from the node")

        await pubsub.publish(f"alice@{d}", LIST, id="chat-2", payload=entry("two"), timeout=TIMEOUT)
        await pubsub.purge(f"alice@{d}", LIST, timeout=TIMEOUT)
        await wait_for(laptop.events, lambda e: e[0] == "pubsub_purge", "a purge reaches the other device")
        await wait_for(bob.events, lambda e: e[0] == "pubsub_purge", "a purge reaches the contact")

        avatar = b"\x89PNG not really"
        avatars = phone.plugin["xep_0084"]
        avatar_id = avatars.generate_id(avatar)
        await avatars.publish_avatar(avatar, timeout=TIMEOUT)
        info = {"id": avatar_id, "type": "image/png", "bytes": len(avatar)}
        await avatars.publish_avatar_metadata(info, timeout=TIMEOUT)
        await wait_for(bob.events, lambda e: e[0] == "avatar_metadata_publish", "the contact hears of the avatar")
        got = await bob.plugin["xep_0084"].retrieve_avatar(f"alice@{d}", avatar_id, timeout=TIMEOUT)
        check(got["pubsub"]["items"]["item"]["avatar_data"]["value"] == avatar, "XEP-0084 avatar data fetched")
        try:
            await carol.plugin["xep_0060"].get_items(f"alice@{d}", "urn:xmpp:avatar:metadata", timeout=TIMEOUT)
            check(False, "a stranger is kept out of a presence-access node")
        except IqError as e:
            check(e.condition == "not-authorized", "a stranger is kept out of a presence-access node")

        # XEP-0411: the laptop still stores bookmarks in private XML.
        legacy = laptop.plugin["xep_0048"].stanza.Bookmarks()
        legacy.add_conference(f"room@conference.{d}", "al", name="The Room", autojoin=True)
        await laptop.plugin["xep_0048"].set_bookmarks(legacy, method="xep_0049", timeout=TIMEOUT)
        event = await wait_for(
            phone.events, event_item("bookmarks_publish", BOOKMARKS, f"room@conference.{d}"), "XEP-0402 item from private XML"
        )
        conference = event[1].xml.find(f".//{{{BOOKMARKS}}}conference")
        nick = conference.find(f"{{{BOOKMARKS}}}nick")
        check(conference.get("autojoin") == "true" and nick.text == "al", "the bookmark autojoins with its nick")
        bookmark = phone.plugin["xep_0402"].stanza.Conference()
        bookmark["name"] = "Other"
        bookmark["autojoin"] = True
        options = phone.plugin["xep_0004"].make_form("submit")
        options.add_field("FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/pubsub#publish-options")
        options.add_field("pubsub#persist_items", value="true")
        options.add_field("pubsub#access_model", value="whitelist")
        await pubsub.publish(f"alice@{d}", BOOKMARKS, id=f"other@conference.{d}", payload=bookmark, options=options, timeout=TIMEOUT)
        stored = await laptop.plugin["xep_0048"].get_bookmarks(method="xep_0049", timeout=TIMEOUT)
        rooms = {str(c["jid"]) for c in stored["private"]["bookmarks"]["conferences"]}
        check(rooms == {f"room@conference.{d}", f"other@conference.{d}"}, "private XML shows the PEP bookmarks")

        for c in (phone, laptop, bob, carol):
            c.disconnect()


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp PEP interop", limit=90)

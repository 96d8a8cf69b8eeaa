"""Migration from Prosody: Debian's Prosody, run privately, gets accounts, rosters, a vCard, private XML, PEP bookmarks, an avatar and an OMEMO device
list, a blocklist, archived chats, an offline message, a subscription request and a
persistent members-only room from slixmpp clients. It is stopped, `rhein import
--from-prosody` migrates its data, and the same clients log in to Rhein with the
same passwords — SCRAM-SHA-1 (Prosody's keys), PLAIN (checked against them, which completes
the account), then SCRAM-SHA-256 — and find every item, and the room at Rhein's MUC service. All of it twice: with Prosody's
default file storage (the data directory imported), and with its SQL storage in SQLite
(Debian's lua-dbi-sqlite3; the data directory, then the database file named). Skipped (exit 0 with a note) when Prosody is not installed and
RHEIN_REQUIRE_PROSODY is unset.

Usage: python slixmpp_prosody_migration.py PATH/TO/rhein
"""

import asyncio
import os
import shutil
import sys
import tempfile
from xml.etree import ElementTree as ET

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from common import (Client, check, prosody_server, prosody_wanted, rhein_command, rhein_config, rhein_serving, run,
                    wait_for)

DOMAIN = "migrate.test"
# Prosody's MUC component; Rhein serves rooms at conference.DOMAIN: they move there.
ROOMS = f"chat.{DOMAIN}"
ROOM = f"lounge@{ROOMS}"
RHEIN_ROOM = f"lounge@conference.{DOMAIN}"
# Addresses of their own and unusual ports, so a system-wide server cannot be in the way.
PROSODY_C2S = ("127.0.0.7", 25322)
RHEIN_C2S = ("127.0.0.8", 25422)
USERS = [("alice", "alice's secret"), ("bob", "bob's s3cret"), ("carol", "carol's secret")]
PASSWORD = dict(USERS)


def prosody_config(storage):
    """Prosody's settings for `storage` ("internal" or "sql"), beside common.py's."""
    sql = 'sql = { driver = "SQLite3", database = "prosody.sqlite" }' if storage == "sql" else ""
    return lambda work: f"""
{sql}
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "ping", "presence", "message", "private", "vcard",
    "pep", "offline", "bookmarks", "blocklist", "mam" }}
archive_expires_after = "never"
"""


# The rooms the migration moves: a MUC component of the host, with its archive.
MUC_COMPONENT = f"""
Component "{ROOMS}" "muc"
    modules_enabled = {{ "muc_mam" }}
"""


ROOM_CONFIG = ("<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>"
               "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
               "<field var='muc#roomconfig_persistentroom'><value>1</value></field>"
               "<field var='muc#roomconfig_roomname'><value>The Lounge</value></field>"
               "<field var='muc#roomconfig_roomdesc'><value>Tea and talk</value></field>"
               "<field var='muc#roomconfig_membersonly'><value>1</value></field></x></query>")


def client(user, plugins=(), mech=None):
    return Client(f"{user}@{DOMAIN}/py", PASSWORD[user], list(plugins), sasl_mech=mech)


def every_message(c):
    """A queue of every message `c` receives, groupchat ones too (which slixmpp's MUC
    plugin would take for itself)."""
    queue = asyncio.Queue()
    c.register_handler(Callback(f"every-{id(queue)}", MatchXPath("{jabber:client}message"), queue.put_nowait))
    return queue


async def iq(c, kind, xml, to=None):
    stanza = c.Iq()
    stanza["type"] = kind
    if to:
        stanza["to"] = to
    stanza.append(ET.fromstring(xml))
    return await stanza.send(timeout=10)


def publish(node, item, payload, access):
    return (f"<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='{node}'><item id='{item}'>{payload}"
            "</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>"
            "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            f"<field var='pubsub#access_model'><value>{access}</value></field>"
            "<field var='pubsub#max_items'><value>max</value></field></x></publish-options></pubsub>")


BOOKMARK = ("<conference xmlns='urn:xmpp:bookmarks:1' name='The Orchard' autojoin='true'>"
            "<nick>alice</nick></conference>")
AVATAR = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


async def populate():
    """What the clients leave on Prosody."""
    alice = client("alice", ["xep_0045"])
    bob = client("bob")
    await alice.online(*PROSODY_C2S)
    await bob.online(*PROSODY_C2S)
    # slixmpp approves and asks back by itself: both ways at once.
    alice.send_presence_subscription(pto=f"bob@{DOMAIN}")
    # bob's request back and his presence arrive in either order.
    seen = set()

    def both(p):
        if p["from"].bare == f"bob@{DOMAIN}" and p["type"] in ("subscribe", "available"):
            seen.add(p["type"])
        return seen == {"subscribe", "available"}

    await wait_for(alice.presences, both, "Prosody: bob asks back, and alice and bob are contacts")
    await alice.update_roster(f"bob@{DOMAIN}", name="Bob", groups=["Friends", "Work"], subscription="both")
    await iq(alice, "set", "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME></vCard>")
    await iq(alice, "set", "<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'>"
                           "<theme>dark &amp; quiet</theme></prefs></query>")
    await iq(alice, "set", publish("urn:xmpp:bookmarks:1", f"orchard@conference.{DOMAIN}", BOOKMARK, "whitelist"))
    await iq(alice, "set", publish("urn:xmpp:avatar:data", "d4b2", f"<data xmlns='urn:xmpp:avatar:data'>{AVATAR}</data>", "open"))
    await iq(alice, "set", publish("urn:xmpp:avatar:metadata", "d4b2",
                                   "<metadata xmlns='urn:xmpp:avatar:metadata'><info id='d4b2' bytes='70' type='image/png'/></metadata>",
                                   "open"))
    await iq(alice, "set", publish("eu.siacs.conversations.axolotl.devicelist", "current",
                                   "<list xmlns='eu.siacs.conversations.axolotl'><device id='4711'/></list>", "open"))
    await iq(alice, "set", "<block xmlns='urn:xmpp:blocking'><item jid='spam@elsewhere.example'/></block>")
    # A persistent, members-only room: bob a member with a reserved nick, a subject, a message.
    room_messages = every_message(alice)
    await alice.plugin["xep_0045"].join_muc_wait(ROOM, "alice")
    await iq(alice, "set", ROOM_CONFIG, ROOM)
    await iq(alice, "set", "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                           f"<item jid='bob@{DOMAIN}' affiliation='member' nick='bobby'/></query>", ROOM)
    for kind, text_ in (("subject", "Tea time"), ("body", "hello room")):
        m = alice.Message()
        m["to"], m["type"], m[kind] = ROOM, "groupchat", text_
        m.send()
        await wait_for(room_messages, lambda m, k=kind, t=text_: m["type"] == "groupchat" and m[k] == t,
                       f"Prosody: the room's {kind}")
    alice.send_message(mto=f"bob@{DOMAIN}", mbody="an archived chat", mtype="chat")
    await wait_for(bob.messages, lambda m: m["body"] == "an archived chat", "Prosody: a chat, archived")
    bob.disconnect()
    await bob.wait_until("disconnected", 10)
    alice.send_message(mto=f"bob@{DOMAIN}", mbody="while you were out", mtype="chat")
    carol = client("carol")
    await carol.online(*PROSODY_C2S)
    carol.send_presence_subscription(pto=f"bob@{DOMAIN}")
    # Round trips: what was sent before them is stored.
    await iq(carol, "get", "<ping xmlns='urn:xmpp:ping'/>", DOMAIN)
    await iq(alice, "get", "<ping xmlns='urn:xmpp:ping'/>", DOMAIN)
    check(True, "Prosody holds the data of three accounts")
    for c in (alice, carol):
        c.disconnect()
        await c.wait_until("disconnected", 10)


def text(stanza):
    return ET.tostring(stanza.xml, encoding="unicode")


async def verify():
    """alice and bob on Rhein, with the same passwords."""
    alice = client("alice", mech="SCRAM-SHA-1")
    await alice.online(*RHEIN_C2S)
    check(alice.plugin["feature_mechanisms"].mech.name == "SCRAM-SHA-1", "Rhein: alice logs in with SCRAM-SHA-1 (Prosody's keys)")
    roster = await iq(alice, "get", "<query xmlns='jabber:iq:roster'/>")
    item = next(i for i in roster.xml.iter("{jabber:iq:roster}item") if i.get("jid") == f"bob@{DOMAIN}")
    groups = sorted(g.text for g in item.iter("{jabber:iq:roster}group"))
    check((item.get("name"), item.get("subscription"), groups) == ("Bob", "both", ["Friends", "Work"]),
          "the roster: bob, with his name, groups and subscription")
    vcard = await iq(alice, "get", "<vCard xmlns='vcard-temp'/>")
    check("Alice Liddell" in text(vcard), "the vCard")
    private = await iq(alice, "get", "<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query>")
    check("dark &amp; quiet" in text(private), "private XML")
    for node, what, expected in [
        ("urn:xmpp:bookmarks:1", "bookmarks (XEP-0402)", "The Orchard"),
        ("urn:xmpp:avatar:data", "the avatar's data", AVATAR),
        ("urn:xmpp:avatar:metadata", "the avatar's metadata", "d4b2"),
        ("eu.siacs.conversations.axolotl.devicelist", "the OMEMO device list", "4711"),
    ]:
        items = await iq(alice, "get", f"<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='{node}'/></pubsub>")
        check(expected in text(items), what)
    blocked = await iq(alice, "get", "<blocklist xmlns='urn:xmpp:blocking'/>")
    check("spam@elsewhere.example" in text(blocked), "the blocklist")
    results = asyncio.Queue()
    alice.register_handler(Callback("mam", MatchXPath("{jabber:client}message/{urn:xmpp:mam:2}result"),
                                    results.put_nowait))
    await iq(alice, "set", "<query xmlns='urn:xmpp:mam:2' queryid='m'/>")
    await wait_for(results, lambda m: "an archived chat" in text(m), "the message archive")

    # The room, moved to Rhein's MUC service: its configuration, subject and history, and
    # who may enter.
    info = await iq(alice, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", RHEIN_ROOM)
    check("The Lounge" in text(info) and "muc_membersonly" in text(info) and "muc_persistent" in text(info),
          "the room is at Rhein's MUC service, persistent and members-only, with its name")
    room_messages = every_message(alice)
    alice.send_presence(pto=f"{RHEIN_ROOM}/alice")
    await wait_for(room_messages, lambda m: m["type"] == "groupchat" and m["body"] == "hello room",
                   "the room's history")
    await wait_for(room_messages, lambda m: m["type"] == "groupchat" and m["subject"] == "Tea time",
                   "the room's subject")
    members = await iq(alice, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query>",
                       RHEIN_ROOM)
    check(f"bob@{DOMAIN}" in text(members), "bob is still a member")

    bob = client("bob", mech="SCRAM-SHA-1")
    await bob.online(*RHEIN_C2S)
    await wait_for(bob.messages, lambda m: m["body"] == "while you were out" and "urn:xmpp:delay" in text(m),
                   "bob's offline message, with its delay")
    await wait_for(bob.presences, lambda p: p["type"] == "subscribe" and p["from"].bare == f"carol@{DOMAIN}",
                   "carol's subscription request, still waiting")
    for c in (alice, bob):
        c.disconnect()
        await c.wait_until("disconnected", 10)

    plain = client("alice", mech="PLAIN")
    await plain.online(*RHEIN_C2S)
    check(plain.plugin["feature_mechanisms"].mech.name == "PLAIN", "alice logs in with PLAIN (checked against the SCRAM-SHA-1 keys)")
    plain.disconnect()
    await plain.wait_until("disconnected", 10)
    strong = client("alice", mech="SCRAM-SHA-256")
    await strong.online(*RHEIN_C2S)
    check(strong.plugin["feature_mechanisms"].mech.name == "SCRAM-SHA-256", "then with SCRAM-SHA-256: PLAIN completed the account")
    strong.disconnect()
    await strong.wait_until("disconnected", 10)
    # A client left to choose tries the strongest mechanism, which carol's keys lack, and
    # falls back to SCRAM-SHA-1.
    carol = client("carol")
    await carol.online(*RHEIN_C2S)
    check(True, f"carol logs in with what her client picks ({carol.plugin['feature_mechanisms'].mech.name})")
    carol.send_presence(pto=f"{RHEIN_ROOM}/carol")
    await wait_for(carol.presences, lambda p: p["type"] == "error" and p["from"].bare == RHEIN_ROOM,
                   "the room still keeps out who is not a member")
    carol.disconnect()
    await carol.wait_until("disconnected", 10)


async def migrate(binary, storage):
    """The whole scenario, with Prosody's `storage`."""
    print(f"-- Prosody's storage: {storage}")
    work = tempfile.mkdtemp(prefix="rhein-migrate-")
    try:
        data = f"{work}/prosody-data"
        with prosody_server(prosody_config(storage), DOMAIN, USERS, PROSODY_C2S, data_out=data,
                            after_host=MUC_COMPONENT, storage=storage):
            await populate()
        if storage == "sql":
            check(os.path.isfile(f"{data}/prosody.sqlite") and not os.path.isdir(f"{data}/migrate%2etest"),
                  "Prosody kept everything in prosody.sqlite")
        config = rhein_config(work, DOMAIN, RHEIN_C2S)
        dry = rhein_command(binary, "import", "--from-prosody", data, "--config", config, "--dry-run")
        check(dry.stdout.startswith("would import 3 users, 1 rooms"), f"dry run: {dry.stdout.strip()}")
        for line in dry.stderr.splitlines():
            print(f"# {line}")
        # The database may be named itself, too.
        source = f"{data}/prosody.sqlite" if storage == "sql" else data
        for _ in range(2):
            done = rhein_command(binary, "import", "--from-prosody", source, "--config", config)
            check(done.stdout.startswith("imported 3 users, 1 rooms"), f"import (twice): {done.stdout.strip()}")
        with rhein_serving(binary, config, RHEIN_C2S):
            await verify()
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def main(binary):
    if not prosody_wanted(sys.argv[0]):
        return
    for storage in ("internal", "sql"):
        await migrate(binary, storage)


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_prosody_migration", limit=240)

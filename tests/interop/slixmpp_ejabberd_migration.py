"""Migration from ejabberd: Debian's ejabberd, run privately, gets accounts, rosters, a
vCard, private XML, a block, an offline message and a subscription request from slixmpp
clients; `ejabberdctl export_piefxis` writes its XEP-0227 export (a main file including one
per host, SCRAM values base64-encoded twice, blocking as a privacy list), which `rhein
import --from-ejabberd` reads; the same clients then log in to Rhein with the same
passwords — SCRAM-SHA-1 (ejabberd's keys), PLAIN, then SCRAM-SHA-256 — and find every item.
(ejabberd 23.01's export carries neither PEP nor archives.) Skipped (exit 0 with a note)
when ejabberd is not installed and RHEIN_REQUIRE_EJABBERD is unset.

Usage: python slixmpp_ejabberd_migration.py PATH/TO/rhein
"""

import glob
import os
import shutil
import sys
import tempfile
from xml.etree import ElementTree as ET

from common import (Client, check, ejabberd_server, ejabberd_wanted, rhein_command, rhein_config, rhein_serving, run,
                    wait_for)

DOMAIN = "migrate.test"
# Addresses of their own and unusual ports, so a system-wide server cannot be in the way.
EJABBERD_C2S = ("127.0.0.9", 25522)
RHEIN_C2S = ("127.0.0.10", 25622)
USERS = [("alice", "alice's secret"), ("bob", "bob's s3cret"), ("carol", "carol's secret")]
PASSWORD = dict(USERS)
MODULES = """  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_private: {}
  mod_vcard: {}
  mod_offline: {}
  mod_privacy: {}
  mod_blocking: {}
"""


def client(user, mech=None):
    return Client(f"{user}@{DOMAIN}/py", PASSWORD[user], [], sasl_mech=mech)


async def iq(c, kind, xml, to=None):
    stanza = c.Iq()
    stanza["type"] = kind
    if to:
        stanza["to"] = to
    stanza.append(ET.fromstring(xml))
    return await stanza.send(timeout=10)


def text(stanza):
    return ET.tostring(stanza.xml, encoding="unicode")


async def populate():
    """What the clients leave on ejabberd."""
    alice = client("alice")
    bob = client("bob")
    await alice.online(*EJABBERD_C2S)
    await bob.online(*EJABBERD_C2S)
    # slixmpp approves and asks back by itself: both ways at once.
    alice.send_presence_subscription(pto=f"bob@{DOMAIN}")
    # bob's request back and his presence arrive in either order.
    seen = set()

    def both(p):
        if p["from"].bare == f"bob@{DOMAIN}" and p["type"] in ("subscribe", "available"):
            seen.add(p["type"])
        return seen == {"subscribe", "available"}

    await wait_for(alice.presences, both, "ejabberd: bob asks back, and alice and bob are contacts")
    await alice.update_roster(f"bob@{DOMAIN}", name="Bob", groups=["Friends", "Work"], subscription="both")
    await iq(alice, "set", "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME></vCard>")
    await iq(alice, "set", "<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'>"
                           "<theme>dark &amp; quiet</theme></prefs></query>")
    await iq(alice, "set", "<block xmlns='urn:xmpp:blocking'><item jid='spam@elsewhere.example'/></block>")
    bob.disconnect()
    await bob.wait_until("disconnected", 10)
    alice.send_message(mto=f"bob@{DOMAIN}", mbody="while you were out", mtype="chat")
    carol = client("carol")
    await carol.online(*EJABBERD_C2S)
    carol.send_presence_subscription(pto=f"bob@{DOMAIN}")
    # Round trips: what was sent before them is stored.
    for c in (alice, carol):
        await iq(c, "get", "<ping xmlns='urn:xmpp:ping'/>", DOMAIN)
    check(True, "ejabberd holds the data of three accounts")
    for c in (alice, carol):
        c.disconnect()
        await c.wait_until("disconnected", 10)


async def verify():
    """alice, bob and carol on Rhein, with the same passwords."""
    alice = client("alice", mech="SCRAM-SHA-1")
    await alice.online(*RHEIN_C2S)
    check(alice.plugin["feature_mechanisms"].mech.name == "SCRAM-SHA-1", "Rhein: alice logs in with SCRAM-SHA-1 (ejabberd's keys)")
    roster = await iq(alice, "get", "<query xmlns='jabber:iq:roster'/>")
    item = next(i for i in roster.xml.iter("{jabber:iq:roster}item") if i.get("jid") == f"bob@{DOMAIN}")
    groups = sorted(g.text for g in item.iter("{jabber:iq:roster}group"))
    check((item.get("name"), item.get("subscription"), groups) == ("Bob", "both", ["Friends", "Work"]),
          "the roster: bob, with his name, groups and subscription")
    vcard = await iq(alice, "get", "<vCard xmlns='vcard-temp'/>")
    check("Alice Liddell" in text(vcard), "the vCard")
    private = await iq(alice, "get", "<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query>")
    check("dark &amp; quiet" in text(private), "private XML")
    blocked = await iq(alice, "get", "<blocklist xmlns='urn:xmpp:blocking'/>")
    check("spam@elsewhere.example" in text(blocked), "the block (exported as a privacy list)")
    alice.disconnect()
    await alice.wait_until("disconnected", 10)

    bob = client("bob", mech="PLAIN")
    await bob.online(*RHEIN_C2S)
    check(bob.plugin["feature_mechanisms"].mech.name == "PLAIN", "bob logs in with PLAIN (checked against the SCRAM-SHA-1 keys)")
    await wait_for(bob.messages, lambda m: m["body"] == "while you were out" and "urn:xmpp:delay" in text(m),
                   "bob's offline message, with its delay")
    await wait_for(bob.presences, lambda p: p["type"] == "subscribe" and p["from"].bare == f"carol@{DOMAIN}",
                   "carol's subscription request, still waiting")
    bob.disconnect()
    await bob.wait_until("disconnected", 10)
    strong = client("bob", mech="SCRAM-SHA-256")
    await strong.online(*RHEIN_C2S)
    check(strong.plugin["feature_mechanisms"].mech.name == "SCRAM-SHA-256", "then with SCRAM-SHA-256: PLAIN completed the account")
    strong.disconnect()
    await strong.wait_until("disconnected", 10)
    carol = client("carol")
    await carol.online(*RHEIN_C2S)
    check(True, f"carol logs in with what her client picks ({carol.plugin['feature_mechanisms'].mech.name})")
    carol.disconnect()
    await carol.wait_until("disconnected", 10)


async def main(binary):
    if not ejabberd_wanted(sys.argv[0]):
        return
    work = tempfile.mkdtemp(prefix="rhein-from-ejabberd-")
    # ejabberd (its own user, when run as root) writes its export in here.
    os.chmod(work, 0o755)
    try:
        with ejabberd_server(DOMAIN, USERS, EJABBERD_C2S, MODULES) as ctl:
            await populate()
            export = f"{work}/export"
            os.makedirs(export)
            if os.geteuid() == 0:
                shutil.chown(export, "ejabberd")
            ctl("export_piefxis", export)
        files = sorted(glob.glob(f"{export}/*.xml"), key=len)
        check(len(files) == 2, f"export_piefxis wrote a main file and a host's: {[os.path.basename(f) for f in files]}")
        config = rhein_config(work, DOMAIN, RHEIN_C2S)
        done = rhein_command(binary, "import", "--from-ejabberd", files[0], "--config", config)
        check(done.stdout.startswith("imported 3 users"), f"import: {done.stdout.strip()}")
        with rhein_serving(binary, config, RHEIN_C2S):
            await verify()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_ejabberd_migration", limit=150)

"""Interop: slixmpp's XEP-0060 plugin against Rhein's pubsub service and Debian's Prosody.

Usage: python slixmpp_pubsub.py PATH/TO/rhein

One scenario (create, configure, publish, items, retract, subscribe with options, pending
subscriptions, affiliations and subscriptions, disco, purge, delete, and the errors XEP-0060
names) runs against `pubsub.<domain>` of `rhein serve --ephemeral` and against a private
Prosody with mod_pubsub at `pubsub.prosody.test`. Each step is reduced to an observation
("ok", "error:forbidden", the item ids, ...). Rhein must give EXPECTED for every step; Prosody
must give it too, except for the steps in PROSODY_DIFFERS, each with the reason, so a change
on either side shows up here. Prosody's part is skipped (with a note) when Prosody is not
installed and RHEIN_REQUIRE_PROSODY is unset.
"""

import asyncio
import sys
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from common import TIMEOUT, Client, check, ephemeral_server, prosody_server, prosody_wanted, run

PLUGINS = ("xep_0004", "xep_0030", "xep_0059", "xep_0060")
PUBSUB = "http://jabber.org/protocol/pubsub"
NODE_CONFIG = f"{PUBSUB}#node_config"
SUBSCRIBE_OPTIONS = f"{PUBSUB}#subscribe_options"
SUBSCRIBE_AUTHORIZATION = f"{PUBSUB}#subscribe_authorization"
PROSODY_C2S = ("127.0.0.7", 25222)
QUIET = 1.0  # how long "no notification arrives" is watched for

# What XEP-0060 says each step gives.
EXPECTED = {
    "create with configuration": "ok",
    "create taken node": "error:conflict",
    "create instant node": "ok",
    "configuration keeps max_items": "3",
    "configure": "ok",
    "configuration keeps the new title": "Princely Musings",
    "configure by a stranger": "error:forbidden",
    "default node configuration": "form",
    "subscribe": "subscribed",
    "subscription id": "present",
    "subscription options": "form",
    "set subscription options": "ok",
    "publish": "ok",
    "publish notifies the subscriber": "a,b,c,d",
    "items kept by max_items": "b,c,d",
    "items with max_items=2": "c,d",
    "items by id": "c",
    "items of a missing node": "error:item-not-found",
    "publish by a stranger": "error:forbidden",
    "retract with notify": "ok",
    "retraction notifies the subscriber": "c",
    "retract a missing item": "error:item-not-found",
    "own subscriptions": "news=subscribed",
    "own affiliations": "news=owner",
    "node subscriptions (owner)": "reader=subscribed",
    "node subscriptions by a stranger": "error:forbidden",
    "node affiliations (owner)": "owner=owner",
    "make the reader a publisher": "ok",
    "publish as publisher": "ok",
    "disco#items lists the node": "yes",
    "disco#info of the node": "leaf,meta-data",
    "disco#items of the node": "b,d,e",
    "unsubscribe": "ok",
    "no notification after unsubscribing": "silent",
    "unsubscribe again": "error:unexpected-request",
    "purge": "ok",
    "purge notifies the subscriber": "yes",
    "items after purge": "",
    "create an authorize node": "ok",
    "authorize node: subscription": "pending",
    "owner asked to authorize": "yes",
    "approved subscriber told": "subscribed",
    "delete": "ok",
    "delete notifies the subscriber": "yes",
    "items of the deleted node": "error:item-not-found",
}

# Where Debian's Prosody (0.12) answers otherwise, and why that is Prosody's choice or gap.
PROSODY_DIFFERS = {
    "subscription id": "Prosody keeps one subscription per JID and sends no subid (XEP-0060 makes it OPTIONAL)",
    "own affiliations": "Prosody 0.12 has no pubsub#retrieve-affiliations for entities (service-unavailable)",
    "create an authorize node": "Prosody 0.12 has no authorize access model (not-acceptable)",
    "authorize node: subscription": "Prosody 0.12 has no authorize access model: no such node",
    "owner asked to authorize": "Prosody 0.12 has no authorize access model: nobody is asked",
    "approved subscriber told": "Prosody 0.12 has no authorize access model: nothing to tell",
}


class PubsubClient(Client):
    """Queues every pubsub event notification it receives."""

    def __init__(self, jid, password):
        super().__init__(jid, password, PLUGINS)
        self.events = asyncio.Queue()
        self.forms = asyncio.Queue()
        self.add_event_handler("message_xform", lambda m: self.forms.put_nowait(m))
        for kind in ("publish", "retract", "purge", "delete", "subscription"):
            self.add_event_handler(f"pubsub_{kind}", lambda m, kind=kind: self.events.put_nowait((kind, m)))

    async def next_event(self, kind, quiet=None):
        """The next event of `kind`, or None after `quiet` seconds (TIMEOUT when not given)."""
        deadline = asyncio.get_running_loop().time() + (quiet or TIMEOUT)
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            try:
                got, m = await asyncio.wait_for(self.events.get(), remaining)
            except asyncio.TimeoutError:
                return None
            if got == kind:
                return m


class Observations(dict):
    async def step(self, name, action):
        """Records what `action` gives: its value, or the error condition."""
        try:
            value = await action()
        except IqError as e:
            value = f"error:{e.condition}"
        except (IqTimeout, asyncio.TimeoutError):
            value = "error:timeout"
        self[name] = value if isinstance(value, str) else "ok"
        return self[name]


def form(client, form_type, fields):
    x = client.plugin["xep_0004"].make_form("submit")
    x.add_field("FORM_TYPE", ftype="hidden", value=form_type)
    for var, value in fields.items():
        x.add_field(var, value=value)
    return x


def entry(text):
    el = ET.Element("{urn:example}entry")
    el.text = text
    return el


def field_value(reply, container, var):
    """The value of field `var` in the data form of `reply`'s `container`."""
    x = reply.xml.find(f".//{{{container}}}*/{{jabber:x:data}}x")
    for field in x.findall("{jabber:x:data}field"):
        if field.get("var") == var:
            value = field.find("{jabber:x:data}value")
            return value.text if value is not None else ""
    return None


def ids(items):
    return ",".join(sorted(i["id"] for i in items))


async def scenario(owner, reader, service):
    """Runs every step as `owner` and `reader` against `service`; returns the observations."""
    o, r = owner.plugin["xep_0060"], reader.plugin["xep_0060"]
    obs = Observations()
    t = {"timeout": TIMEOUT}
    config = {"pubsub#access_model": "open", "pubsub#max_items": "3", "pubsub#title": "Musings"}

    await obs.step("create with configuration", lambda: o.create_node(service, "news", config=form(owner, NODE_CONFIG, config), **t))
    await obs.step("create taken node", lambda: o.create_node(service, "news", **t))

    async def instant():
        reply = await o.create_node(service, None, **t)
        created = reply.xml.find(f".//{{{PUBSUB}}}create")
        assert created is not None and created.get("node"), "no node name given"

    await obs.step("create instant node", instant)

    async def config_value(var):
        reply = await o.get_node_config(service, "news", **t)
        return field_value(reply, f"{PUBSUB}#owner", var)

    await obs.step("configuration keeps max_items", lambda: config_value("pubsub#max_items"))
    await obs.step("configure", lambda: o.set_node_config(service, "news", form(owner, NODE_CONFIG, {"pubsub#title": "Princely Musings"}), **t))
    await obs.step("configuration keeps the new title", lambda: config_value("pubsub#title"))
    await obs.step("configure by a stranger", lambda: r.set_node_config(service, "news", form(reader, NODE_CONFIG, {"pubsub#title": "Mine"}), **t))

    async def default_config():
        reply = await o.get_node_config(service, None, **t)
        return "form" if field_value(reply, f"{PUBSUB}#owner", "pubsub#max_items") is not None else "no form"

    await obs.step("default node configuration", default_config)

    async def subscribe():
        reply = await r.subscribe(service, "news", **t)
        sub = reply["pubsub"]["subscription"]
        obs["subscription id"] = "present" if sub["subid"] else "absent"
        return sub["subscription"]

    await obs.step("subscribe", subscribe)

    async def options():
        reply = await r.get_subscription_options(service, "news", reader.boundjid.bare, **t)
        return "form" if field_value(reply, PUBSUB, "FORM_TYPE") == SUBSCRIBE_OPTIONS else "no form"

    await obs.step("subscription options", options)

    async def set_options():
        # slixmpp's set_subscription_options sends type='get'; XEP-0060 §6.3.5 says set.
        iq = reader.Iq(sto=service, stype="set")
        iq["pubsub"]["options"]["node"] = "news"
        iq["pubsub"]["options"]["jid"] = reader.boundjid.bare
        iq["pubsub"]["options"].append(form(reader, SUBSCRIBE_OPTIONS, {"pubsub#include_body": "1"}))
        await iq.send(**t)

    await obs.step("set subscription options", set_options)

    async def publish_four():
        for item in "abcd":
            await o.publish(service, "news", id=item, payload=entry(item), **t)

    await obs.step("publish", publish_four)

    async def notified():
        seen = []
        while len(seen) < 4:
            m = await reader.next_event("publish")
            if m is None:
                break
            seen += [i["id"] for i in m["pubsub_event"]["items"]]
        return ",".join(sorted(seen))

    await obs.step("publish notifies the subscriber", notified)

    async def items(**kwargs):
        reply = await r.get_items(service, "news", **kwargs, **t)
        return ids(reply["pubsub"]["items"])

    await obs.step("items kept by max_items", items)
    await obs.step("items with max_items=2", lambda: items(max_items=2))
    await obs.step("items by id", lambda: items(item_ids=["c"]))
    await obs.step("items of a missing node", lambda: r.get_items(service, "missing", **t))
    await obs.step("publish by a stranger", lambda: r.publish(service, "news", id="x", payload=entry("x"), **t))
    await obs.step("retract with notify", lambda: o.retract(service, "news", "c", notify=True, **t))

    async def retraction():
        # Items pushed out by max_items may be retracted first (XEP-0060 §7.1.3.6 leaves it open).
        while (m := await reader.next_event("retract")) is not None:
            if m["pubsub_event"]["items"]["retract"]["id"] == "c":
                return "c"
        return "nothing"

    await obs.step("retraction notifies the subscriber", retraction)
    await obs.step("retract a missing item", lambda: o.retract(service, "news", "zzz", **t))

    async def own_subscriptions():
        reply = await r.get_subscriptions(service, **t)
        return ",".join(sorted(f"{s['node']}={s['subscription']}" for s in reply["pubsub"]["subscriptions"]))

    await obs.step("own subscriptions", own_subscriptions)

    async def own_affiliations():
        reply = await o.get_affiliations(service, **t)
        found = [f"{a['node']}={a['affiliation']}" for a in reply["pubsub"]["affiliations"]]
        return ",".join(sorted(f for f in found if f.startswith("news=")))

    await obs.step("own affiliations", own_affiliations)

    names = {owner.boundjid.bare: "owner", reader.boundjid.bare: "reader"}

    async def node_subscriptions(client):
        reply = await client.plugin["xep_0060"].get_node_subscriptions(service, "news", **t)
        subs = reply["pubsub_owner"]["subscriptions"]
        return ",".join(sorted(f"{names.get(str(s['jid'].bare), s['jid'])}={s['subscription']}" for s in subs))

    await obs.step("node subscriptions (owner)", lambda: node_subscriptions(owner))
    await obs.step("node subscriptions by a stranger", lambda: node_subscriptions(reader))

    async def node_affiliations():
        reply = await o.get_node_affiliations(service, "news", **t)
        affs = reply["pubsub_owner"]["affiliations"]
        return ",".join(sorted(f"{names.get(str(a['jid'].bare), a['jid'])}={a['affiliation']}" for a in affs))

    await obs.step("node affiliations (owner)", node_affiliations)
    await obs.step("make the reader a publisher", lambda: o.modify_affiliations(service, "news", [(reader.boundjid.bare, "publisher")], **t))
    await obs.step("publish as publisher", lambda: r.publish(service, "news", id="e", payload=entry("e"), **t))
    await reader.next_event("publish")  # its own notification

    async def disco_nodes():
        reply = await reader.plugin["xep_0030"].get_items(jid=service, **t)
        return "yes" if any(node == "news" for _, node, _ in reply["disco_items"]["items"]) else "no"

    await obs.step("disco#items lists the node", disco_nodes)

    async def disco_node_info():
        reply = await reader.plugin["xep_0030"].get_info(jid=service, node="news", **t)
        found = []
        if any(cat == "pubsub" and typ == "leaf" for cat, typ, _, _ in reply["disco_info"]["identities"]):
            found.append("leaf")
        x = reply.xml.find(".//{jabber:x:data}x")
        if x is not None and any(f.get("var") == "FORM_TYPE" and f.findtext("{jabber:x:data}value") == f"{PUBSUB}#meta-data" for f in x):
            found.append("meta-data")
        return ",".join(found)

    await obs.step("disco#info of the node", disco_node_info)

    async def disco_node_items():
        reply = await reader.plugin["xep_0030"].get_items(jid=service, node="news", **t)
        return ",".join(sorted(name for _, _, name in reply["disco_items"]["items"]))

    await obs.step("disco#items of the node", disco_node_items)
    await obs.step("unsubscribe", lambda: r.unsubscribe(service, "news", **t))

    async def silent():
        await o.publish(service, "news", id="f", payload=entry("f"), **t)
        return "silent" if await reader.next_event("publish", quiet=QUIET) is None else "notified"

    await obs.step("no notification after unsubscribing", silent)
    await obs.step("unsubscribe again", lambda: r.unsubscribe(service, "news", **t))

    await r.subscribe(service, "news", **t)
    await obs.step("purge", lambda: o.purge(service, "news", **t))

    async def purged():
        return "yes" if await reader.next_event("purge") is not None else "no"

    await obs.step("purge notifies the subscriber", purged)
    await obs.step("items after purge", items)

    guarded = {"pubsub#access_model": "authorize"}
    await obs.step("create an authorize node", lambda: o.create_node(service, "guarded", config=form(owner, NODE_CONFIG, guarded), **t))

    if obs["create an authorize node"] == "ok":
        await authorize(owner, reader, service, obs)
    else:
        for step in ("authorize node: subscription", "owner asked to authorize", "approved subscriber told"):
            obs[step] = "skipped"
    await obs.step("delete", lambda: o.delete_node(service, "news", **t))

    async def deleted():
        return "yes" if await reader.next_event("delete") is not None else "no"

    await obs.step("delete notifies the subscriber", deleted)
    await obs.step("items of the deleted node", lambda: r.get_items(service, "news", **t))
    return obs


async def authorize(owner, reader, service, obs):
    """A subscription to an authorize node waits for the owner's approval (XEP-0060 §8.6)."""
    t = {"timeout": TIMEOUT}
    r = reader.plugin["xep_0060"]

    async def pending():
        reply = await r.subscribe(service, "guarded", **t)
        return reply["pubsub"]["subscription"]["subscription"]

    await obs.step("authorize node: subscription", pending)

    async def asked():
        while True:
            m = await asyncio.wait_for(owner.forms.get(), TIMEOUT)
            x = m.xml.find("{jabber:x:data}x")
            if x is not None and any(f.findtext("{jabber:x:data}value") == SUBSCRIBE_AUTHORIZATION for f in x):
                break
        answer = form(owner, SUBSCRIBE_AUTHORIZATION, {
            "pubsub#node": "guarded", "pubsub#subscriber_jid": reader.boundjid.bare, "pubsub#allow": "true"})
        reply = owner.make_message(mto=service)
        reply.append(answer)
        reply.send()
        return "yes"

    await obs.step("owner asked to authorize", asked)

    async def approved():
        m = await reader.next_event("subscription")
        return m["pubsub_event"]["subscription"]["subscription"] if m is not None else "nothing"

    await obs.step("approved subscriber told", approved)


async def observe(host, port, owner_jid, reader_jid, service):
    owner = PubsubClient(owner_jid, "secret")
    reader = PubsubClient(reader_jid, "secret")
    await owner.online(host, port)
    await reader.online(host, port)
    try:
        return await scenario(owner, reader, service)
    finally:
        owner.disconnect()
        reader.disconnect()


PUBSUB_COMPONENT = 'Component "pubsub.prosody.test" "pubsub"\n'


def prosody_config(work):
    return f"""
admins = {{ "owner@prosody.test" }}
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "ping", "presence", "message" }}
modules_disabled = {{ "offline", "s2s" }}
"""


async def main(binary):
    with ephemeral_server(binary, [("owner", "secret"), ("reader", "secret")]) as (host, port, d):
        rhein = await observe(host, port, f"owner@{d}/py", f"reader@{d}/py", f"pubsub.{d}")
    for step, expected in EXPECTED.items():
        check(rhein.get(step) == expected, f"Rhein: {step} (got {rhein.get(step)!r})")

    if not prosody_wanted("slixmpp_pubsub"):
        return
    users = [("owner", "secret"), ("reader", "secret")]
    with prosody_server(prosody_config, "prosody.test", users, PROSODY_C2S, after_host=PUBSUB_COMPONENT):
        theirs = await observe(*PROSODY_C2S, "owner@prosody.test/py", "reader@prosody.test/py", "pubsub.prosody.test")
    for step, expected in EXPECTED.items():
        got = theirs.get(step)
        if step in PROSODY_DIFFERS:
            check(got != expected, f"Prosody differs as documented: {step} (got {got!r}: {PROSODY_DIFFERS[step]})")
        else:
            check(got == expected, f"Prosody agrees: {step} (got {got!r})")


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_pubsub", limit=150)

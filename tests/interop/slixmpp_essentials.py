"""Interop: slixmpp's plugins for the modern-client XEPs against `rhein serve --ephemeral`.

Usage: python slixmpp_essentials.py PATH/TO/rhein

XEP-0198 (enabled with resumption), XEP-0280 carbons, XEP-0313 archive paging through
XEP-0059, XEP-0191 blocking and XEP-0054 vCards, each through slixmpp's own plugin.
"""

import asyncio
import sys

from common import TIMEOUT, Client, check, ephemeral_server, run

PLUGINS = ("xep_0030", "xep_0054", "xep_0059", "xep_0191", "xep_0198", "xep_0280", "xep_0297", "xep_0313")


class MobileClient(Client):
    """Also collects carbons and notices when stream management is on."""

    def __init__(self, jid, password):
        super().__init__(jid, password, PLUGINS)
        self.carbons = asyncio.Queue()
        self.sm_enabled = asyncio.Event()
        self.add_event_handler("carbon_received", lambda m: self.carbons.put_nowait(m))
        self.add_event_handler("sm_enabled", lambda _: self.sm_enabled.set())


async def next_item(queue, what):
    try:
        item = await asyncio.wait_for(queue.get(), TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    print(f"ok - {what}")
    return item


async def main(binary):
    with ephemeral_server(binary, [("alice", "secret"), ("bob", "secret")]) as (host, port, d):
        phone = MobileClient(f"alice@{d}/phone", "secret")
        laptop = MobileClient(f"alice@{d}/laptop", "secret")
        bob = MobileClient(f"bob@{d}/desk", "secret")
        for c in (phone, laptop, bob):
            await c.online(host, port)
        await asyncio.wait_for(phone.sm_enabled.wait(), TIMEOUT)
        check(phone.plugin["xep_0198"].sm_id is not None, "XEP-0198 enabled with a resumption id")

        await laptop.plugin["xep_0280"].enable(timeout=TIMEOUT)
        bob.send_message(mto=f"alice@{d}/phone", mbody="to the phone", mtype="chat")
        carbon = await next_item(laptop.carbons, "XEP-0280 carbon of a message to another resource")
        check(carbon["carbon_received"]["body"] == "to the phone", "the carbon carries the original")

        for i in range(5):
            bob.send_message(mto=f"alice@{d}", mbody=f"archived {i}", mtype="chat")
        for _ in range(5):
            await next_item(phone.messages, "a chat message")
        bodies = []
        async for page in phone.plugin["xep_0313"].iterate(with_jid=f"bob@{d}", rsm={"max": 2}):
            bodies.append(page["mam_result"]["forwarded"]["stanza"]["body"])
        check(bodies == ["to the phone"] + [f"archived {i}" for i in range(5)], "XEP-0313 paging returns every message once, in order")

        await phone.plugin["xep_0191"].block(f"bob@{d}", timeout=TIMEOUT)
        blocked = await phone.plugin["xep_0191"].get_blocked_jids(timeout=TIMEOUT)
        check({str(j) for j in blocked} == {f"bob@{d}"}, "XEP-0191 blocklist holds bob")
        await phone.plugin["xep_0191"].unblock(f"bob@{d}", timeout=TIMEOUT)
        check(not await phone.plugin["xep_0191"].get_blocked_jids(timeout=TIMEOUT), "XEP-0191 unblock empties it")

        vcard = phone.plugin["xep_0054"].make_vcard()
        vcard["FN"] = "Alice Liddell"
        await phone.plugin["xep_0054"].publish_vcard(vcard, timeout=TIMEOUT)
        got = await bob.plugin["xep_0054"].get_vcard(f"alice@{d}", local=False, cached=False, timeout=TIMEOUT)
        check(got["vcard_temp"]["FN"] == "Alice Liddell", "XEP-0054 vCard published and read by a contact")

        for c in (phone, laptop, bob):
            c.disconnect()


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp essentials interop", limit=90)

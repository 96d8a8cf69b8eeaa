"""Interop: slixmpp's MIX plugins (XEP-0369 core, XEP-0405 PAM, XEP-0403 presence) against
`rhein serve --ephemeral`.

Usage: python slixmpp_mix.py PATH/TO/rhein

alice creates a channel and names it; alice and bob join through their own server (PAM),
see each other as participants, exchange messages (reflected with the sender's nick and
JID), find the channel marked in their roster, read the history from the channel and from
their own archive, see each other's presence, change a nick; bob leaves; alice destroys
the channel. Exits non-zero on the first failure.
"""

import asyncio
import sys
from xml.etree.ElementTree import Element

from slixmpp import JID

from common import TIMEOUT, Client, check, ephemeral_server, run, wait_for

NODES = {f"urn:xmpp:mix:nodes:{n}" for n in ("messages", "participants", "info", "presence")}
PLUGINS = ("xep_0030", "xep_0004", "xep_0059", "xep_0060", "xep_0297", "xep_0313", "xep_0369", "xep_0403", "xep_0405")


class MixClient(Client):
    def __init__(self, jid, password):
        super().__init__(jid, password, PLUGINS)
        self.mix_messages = asyncio.Queue()
        self.mix_presences = asyncio.Queue()
        self.participant_events = asyncio.Queue()
        self.add_event_handler("mix_message", lambda m: self.mix_messages.put_nowait(m))
        self.add_event_handler("mix_presence", lambda p: self.mix_presences.put_nowait(p))
        self.add_event_handler("mix_participant_info_publish", lambda m: self.participant_events.put_nowait(m))
        self.add_event_handler("mix_participant_info_retract", lambda m: self.participant_events.put_nowait(m))


async def main(binary):
    with ephemeral_server(binary, [("alice", "secret"), ("bob", "secret")]) as (host, port, d):
        service = JID(f"channels.{d}")
        coven = JID(f"coven@channels.{d}")
        alice = MixClient(f"alice@{d}/py", "secret")
        bob = MixClient(f"bob@{d}/py", "secret")
        await alice.online(host, port)
        await bob.online(host, port)
        core_a, core_b = alice.plugin["xep_0369"], bob.plugin["xep_0369"]
        pam_a, pam_b = alice.plugin["xep_0405"], bob.plugin["xep_0405"]

        check(await pam_a.check_server_capability(), "the server announces MIX-PAM")
        check(await core_a.can_create_channel(service), "alice may create channels")
        name = await core_a.create_channel(service, "coven", timeout=TIMEOUT)
        check(name == "coven", "alice creates the channel")
        channels = await core_b.list_channels(service, timeout=TIMEOUT)
        check(any(JID(c[0]) == coven for c in channels), "bob finds it on the service")

        failed = await pam_a.join_channel(coven, "hecate", NODES, timeout=TIMEOUT)
        check(not failed, "alice joins through her server, presence included")
        failed = await pam_b.join_channel(coven, "thirdwitch", NODES, timeout=TIMEOUT)
        check(not failed, "bob joins through his server")
        await wait_for(alice.participant_events, lambda m: "thirdwitch" in str(m), "alice is told bob joined")
        participants = await core_a.list_participants(coven, timeout=TIMEOUT)
        check({p[1] for p in participants} == {"hecate", "thirdwitch"}, "both are participants")
        check(any(str(p[2]) == f"bob@{d}" for p in participants), "with their JIDs (a JID-visible channel)")

        contacts, mix = await pam_b.get_mix_roster(timeout=TIMEOUT)
        check([str(i["jid"]) for i in mix] == [str(coven)], "the channel is in bob's roster, marked as a channel")

        bob.send_message(mto=coven, mbody="when shall we three meet again", mtype="groupchat")
        got = await wait_for(alice.mix_messages, lambda m: m["body"] == "when shall we three meet again", "alice gets bob's message")
        check(got["mix"]["nick"] == "thirdwitch" and str(got["mix"]["jid"]) == f"bob@{d}", "it names its sender")
        check(got["from"].bare == coven.bare and got["from"].resource, "from the sender's participant address")
        await wait_for(bob.mix_messages, lambda m: m["body"] == "when shall we three meet again", "bob gets it reflected")

        bodies = []
        async for page in alice.plugin["xep_0313"].iterate(jid=coven, rsm={"max": 10}):
            bodies.append(page["mam_result"]["forwarded"]["stanza"]["body"])
        check(bodies == ["when shall we three meet again"], "the channel's archive holds the history")
        bodies = []
        async for page in alice.plugin["xep_0313"].iterate(with_jid=coven, rsm={"max": 10}):
            bodies.append(page["mam_result"]["forwarded"]["stanza"]["body"])
        check(bodies == ["when shall we three meet again"], "alice's own archive holds it too")

        bob.send_presence(pshow="dnd", pstatus="Making a Brew")
        pres = await wait_for(alice.mix_presences, lambda p: p["show"] == "dnd", "alice sees bob's presence through the channel")
        check(pres["mix"]["nick"] == "thirdwitch", "named by his nick")

        nick = await core_b.set_nick(coven, "witch3", timeout=TIMEOUT)
        check(nick == "witch3", "bob changes his nick")
        await wait_for(alice.participant_events, lambda m: "witch3" in str(m), "alice is told")

        await pam_b.leave_channel(coven, timeout=TIMEOUT)
        check(True, "bob leaves")
        await wait_for(alice.participant_events, lambda m: "retract" in str(m), "alice sees him go")
        contacts, mix = await pam_b.get_mix_roster(timeout=TIMEOUT)
        check(mix == [], "the channel left bob's roster")

        iq = alice.make_iq_set(ito=service)
        # slixmpp's destroy_channel does not fill in the channel: the request is built here.
        iq.append(Element("{urn:xmpp:mix:core:1}destroy", {"channel": "coven"}))
        await iq.send(timeout=TIMEOUT)
        channels = await core_b.list_channels(service, timeout=TIMEOUT)
        check(not channels, "alice destroys the channel")
        alice.disconnect()
        bob.disconnect()


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_mix")

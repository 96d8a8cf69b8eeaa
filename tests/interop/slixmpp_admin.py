"""Interop: slixmpp's XEP-0050 and XEP-0133 plugins against `rhein serve --ephemeral`.

Usage: python slixmpp_admin.py PATH/TO/rhein

alice administers the server (`--admin alice`). With slixmpp's service administration
commands she adds carol, sets a message of the day that carol gets as she logs in, sends an
announcement bob gets, reads the online users, ends bob's session, and disables carol, whose
next login is refused. Exits non-zero on the
first failure.
"""

import asyncio
import sys

from common import TIMEOUT, Client, check, ephemeral_server, run, wait_for

PLUGINS = ("xep_0030", "xep_0004", "xep_0050", "xep_0133")


async def admin(client, name, values=None):
    """Runs XEP-0133 command `name` with slixmpp's session workflow: the form that comes back
    is filled with `values` and completed; the last answer is returned."""
    done = asyncio.get_running_loop().create_future()

    def finished(iq, session):
        if not done.done():
            done.set_result(iq)

    def failed(iq, session):
        if not done.done():
            done.set_exception(AssertionError(f"{name}: {iq['error']['condition']} {iq['error']['text']}"))

    def first(iq, session):
        if iq["command"]["status"] == "completed":
            return finished(iq, session)
        form = client.plugin["xep_0004"].make_form(ftype="submit")
        for var, value in (values or {}).items():
            form.add_field(var=var, value=value)
        session["payload"] = form
        session["next"] = finished
        client.plugin["xep_0050"].complete_command(session)

    command = getattr(client.plugin["xep_0133"], name.replace("-", "_"))
    command(session={"next": first, "error": failed})
    return await asyncio.wait_for(done, TIMEOUT)


def field_values(iq, var):
    return iq["command"]["form"]["values"].get(var)


async def main(binary):
    users = [("alice", "secret"), ("bob", "secret")]
    with ephemeral_server(binary, users, ["--admin", "alice"]) as (host, port, domain):
        alice = Client(f"alice@{domain}/py", "secret", PLUGINS)
        bob = Client(f"bob@{domain}/py", "secret", PLUGINS)
        await alice.online(host, port)
        await bob.online(host, port)

        commands = await alice.plugin["xep_0133"].get_commands(timeout=TIMEOUT)
        nodes = {item[1] for item in commands["disco_items"]["items"]}
        check("http://jabber.org/protocol/admin#add-user" in nodes, "alice is offered the admin commands")
        bobs = await bob.plugin["xep_0133"].get_commands(timeout=TIMEOUT)
        check(not any("admin#" in item[1] for item in bobs["disco_items"]["items"]), "bob is not")

        added = await admin(alice, "add-user", {
            "accountjid": f"carol@{domain}", "password": "carol pw", "password-verify": "carol pw"})
        check(added["command"]["status"] == "completed", "alice adds carol (add-user)")
        await admin(alice, "set-motd", {"motd": ["Welcome to the sprint!"]})
        check(True, "alice sets the message of the day (set-motd)")

        carol = Client(f"carol@{domain}/py", "carol pw", PLUGINS)
        await carol.online(host, port)
        check(True, "carol logs in with the account alice made")
        await wait_for(carol.messages, lambda m: m["body"] == "Welcome to the sprint!", "carol gets the MOTD")

        online = await admin(alice, "get-online-users-num")
        check(field_values(online, "onlineusersnum") == "3", "three users are online (get-online-users-num)")
        await admin(alice, "announce", {"announcement": ["The server restarts at noon."]})
        await wait_for(bob.messages, lambda m: m["body"] == "The server restarts at noon.", "bob gets the announcement")

        ended = asyncio.get_running_loop().create_future()
        bob.add_event_handler("disconnected", lambda _e: ended.done() or ended.set_result(True))
        await admin(alice, "end-user-session", {"accountjids": [f"bob@{domain}"]})
        await asyncio.wait_for(ended, TIMEOUT)
        check(True, "alice ends bob's session (end-user-session)")

        gone = asyncio.get_running_loop().create_future()
        carol.add_event_handler("disconnected", lambda _e: gone.done() or gone.set_result(True))
        await admin(alice, "disable-user", {"accountjids": [f"carol@{domain}"]})
        await asyncio.wait_for(gone, TIMEOUT)
        check(True, "alice disables carol (disable-user): her session ends")
        again = Client(f"carol@{domain}/py2", "carol pw", PLUGINS)
        refused = asyncio.get_running_loop().create_future()
        again.add_event_handler("failed_auth", lambda _e: refused.done() or refused.set_result(True))
        again.connect(host, port)
        await asyncio.wait_for(refused, TIMEOUT)
        check(True, "and her login is refused")
        again.disconnect()

        alice.disconnect()
        await asyncio.sleep(0.1)


if __name__ == "__main__":
    run(main, sys.argv[1], "slixmpp_admin")

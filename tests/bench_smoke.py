"""The load generator against `rhein serve --ephemeral`, a few seconds per scenario, so that
it keeps working (the full comparison with Prosody and ejabberd is deploy/bench/compare.sh,
run by hand).

Usage: python3 tests/bench_smoke.py PATH/TO/rhein PATH/TO/rhein-bench

Each scenario's JSON line is printed and checked: no failed logins, every soak message
received exactly once, every routed message received before the clients leave, room and
channel messages fanned out, PEP items notified, a big roster with contacts online, every
stormed session back, bound anew or resumed. Exits non-zero on the first failure.
"""

import json
import subprocess
import sys

ACCOUNTS = 40


def main(rhein, bench):
    args = [rhein, "serve", "--ephemeral"]
    for i in range(ACCOUNTS):
        args += ["--user", f"bench{i}:bench"]
    server = subprocess.Popen(args, stdout=subprocess.PIPE)
    try:
        ready = json.loads(server.stdout.readline())
        base = [bench, "--addr", ready["c2s"], "--accounts", str(ACCOUNTS), "--password", "bench",
                "--sources", "127.0.0.1,127.0.0.2,127.0.0.3"]

        def run(*scenario):
            out = subprocess.run(base + list(scenario), capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise AssertionError(f"{scenario[0]} failed: {out.stderr[-2000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps(result, sort_keys=True))
            return result

        def check(ok, what):
            if not ok:
                raise AssertionError(what)
            print(f"ok - {what}")

        pid = str(server.pid)
        idle = run("idle", "--sessions", "100", "--server-pid", pid)
        check(idle["bytes_per_session"] > 0, "idle: sessions held, memory measured")
        login = run("login", "--concurrency", "8", "--duration", "2", "--roster", "20", "--server-pid", pid)
        check(login["logins"] > 0 and login["failed"] == 0 and login["server_cpu_us_per_login"] > 0
              and login["generator_cpu_us_per_login"] > 0,
              "login: logins without failures, the server's and the generator's CPU per login measured")
        full = run("--full-handshakes", "login", "--concurrency", "8", "--duration", "2")
        check(full["logins"] > 0 and full["failed"] == 0 and not full["tls_resumption"],
              "login: logins with full TLS handshakes")
        msgs = run("messages", "--pairs", "5", "--window", "16", "--duration", "2")
        check(msgs["msgs_per_sec"] > 0 and msgs["not_received"] == 0,
              "messages: routed, and what was in flight received before the clients left")
        soak = run("soak", "--pairs", "5", "--rate", "40", "--duration", "5", "--server-pid", pid)
        check(soak["sent"] > 0 and soak["lost"] == 0 and soak["duplicates"] == 0,
              "soak: every message received exactly once (or bounced)")
        muc = run("muc", "--occupants", "30", "--senders", "2", "--duration", "2", "--concurrency", "10",
                  "--server-pid", pid)
        check(muc["sent"] > 0 and muc["deliveries_per_sec"] > 0 and muc["last_join_ms"] > 0,
              "muc: a room's messages fanned out to every occupant")
        big = run("roster", "--items", "200", "--online", "50", "--logins", "5")
        check(big["items"] == 200 and big["versioned_items_resent"] == 0,
              "roster: a big roster fetched, and nothing resent for an unchanged version")
        mix = run("mix", "--occupants", "30", "--senders", "2", "--duration", "2", "--concurrency", "10")
        check(mix["sent"] > 0 and mix["deliveries_per_sec"] > 0 and mix["last_join_ms"] > 0,
              "mix: a channel's messages fanned out to every participant")
        pep = run("pep", "--contacts", "20", "--window", "4", "--duration", "2")
        check(pep["published"] > 0 and pep["deliveries_per_sec"] > 0 and pep["notification_ms_p99"] > 0,
              "pep: every contact with +notify gets the items published")
        storm = run("storm", "--sessions", "120", "--jitter", "2")
        check(storm["failed"] == 0 and storm["back"] == 120, "storm: every dropped session back")
        resumed = run("--resumption", "storm", "--sessions", "120", "--jitter", "2")
        check(resumed["failed"] == 0 and resumed["back"] == 120 and resumed["resumed"],
              "storm: every dropped session resumed (XEP-0198)")
    finally:
        server.terminate()
        server.wait(timeout=10)
    print("bench smoke: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

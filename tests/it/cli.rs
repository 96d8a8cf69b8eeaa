//! The `rhein` binary: `serve --ephemeral`, `serve` with the embedded default and with a
//! config file, `user` commands, config errors, and durability across `kill -9`.

use crate::named;
use rhein_testkit::{ClientBuilder, ns};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rhein");

/// A fresh directory under the system temp dir.
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rhein-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kills the child when dropped, so a failing test leaves no server behind.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn rhein(args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(cwd).env_remove("RUST_LOG");
    c
}

/// Runs `rhein` to completion with `stdin`, returning (success, stdout, stderr).
pub(crate) fn run(args: &[&str], cwd: &Path, stdin: &str) -> (bool, String, String) {
    let mut child =
        rhein(args, cwd).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `rhein serve --ephemeral ...` and returns it with its parsed ready line.
fn ephemeral(extra: &[&str]) -> (Server, serde_json::Value, Duration) {
    let started = Instant::now();
    let mut args = vec!["serve", "--ephemeral"];
    args.extend_from_slice(extra);
    let mut server =
        Server(rhein(&args, &std::env::temp_dir()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ready = started.elapsed();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
    (server, json, ready)
}

#[tokio::test]
async fn ephemeral_prints_one_ready_line_and_serves_its_users() {
    let (_server, ready, took) =
        ephemeral(&["--user", "alice:secret", "--user", "bob:secret", "--domain", "test.example"]);
    eprintln!("ephemeral server ready after {took:?}");
    assert_eq!(ready["domain"], "test.example");
    let c2s: std::net::SocketAddr = ready["c2s"].as_str().unwrap().parse().unwrap();
    let c2s_tls: std::net::SocketAddr = ready["c2s_tls"].as_str().unwrap().parse().unwrap();
    assert!(c2s.ip().is_loopback() && c2s.port() != 0);

    // Plaintext SCRAM is allowed on loopback; TLS works too.
    let plain = ClientBuilder::new(c2s, "test.example").tls(rhein_testkit::Tls::None).open().await;
    assert!(plain.mechanisms().contains(&"SCRAM-SHA-256".to_owned()));
    assert!(!plain.mechanisms().contains(&"PLAIN".to_owned()), "PLAIN only over TLS");
    let mut alice =
        ClientBuilder::new(c2s, "test.example").tls(rhein_testkit::Tls::None).login("alice", "secret").await;
    let mut bob =
        ClientBuilder::new(c2s_tls, "test.example").tls(rhein_testkit::Tls::Direct).login("bob", "secret").await;
    bob.send("<presence/>").await;
    bob.iq("<iq type='get' id='s' to='test.example'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    alice.send("<message to='bob@test.example'><body>over the wire</body></message>").await;
    let m = bob.expect(named("message")).await;
    assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "over the wire");
}

#[tokio::test]
async fn embedded_default_starts_in_the_current_directory_and_says_how_to_add_a_user() {
    let dir = temp_dir("default");
    let mut child = rhein(&["serve"], &dir).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let server = Server(child);
    let mut seen = String::new();
    while !seen.contains("rhein user add") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "server exited early: {seen}");
        seen.push_str(&line);
    }
    assert!(dir.join("rhein-data/rhein.db").exists());
    assert!(dir.join("rhein-data/certs/localhost.crt").exists());
    assert!(seen.contains("https://localhost:5281/invite/"), "the first-admin link: {seen}");
    let mut c = ClientBuilder::new("127.0.0.1:5222".parse().unwrap(), "localhost").open().await;
    assert!(c.mechanisms().contains(&"SCRAM-SHA-256-PLUS".to_owned()));

    // The link makes the first administrator.
    let token = token_in(&seen);
    register_with(&mut c, &token, "root", "a long password").await;
    c.authenticate("SCRAM-SHA-256", "root", "a long password").await.unwrap();
    c.bind(None).await;
    assert!(may_create_accounts(&mut c).await, "root is an administrator");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// The XEP-0445 token in the first `preauth=` of `text`.
fn token_in(text: &str) -> String {
    let (_, rest) = text.split_once("preauth=").unwrap_or_else(|| panic!("no token in {text:?}"));
    rest.chars().take_while(char::is_ascii_alphanumeric).collect()
}

/// Registers `user` in-band on an unauthenticated stream with an invite token.
async fn register_with(c: &mut rhein_testkit::TestClient, token: &str, user: &str, password: &str) {
    let pa = c.iq(&format!("<iq type='set' id='pa'><preauth xmlns='urn:xmpp:pars:0' token='{token}'/></iq>")).await;
    assert_eq!(pa.attr("type"), Some("result"), "{}", crate::error_text(&pa));
    let reg = c
        .iq(&format!(
            "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>{user}</username>\
             <password>{password}</password></query></iq>"
        ))
        .await;
    assert_eq!(reg.attr("type"), Some("result"), "{reg:?}");
}

/// Whether the logged-in client is offered the administrators' invite command.
async fn may_create_accounts(c: &mut rhein_testkit::TestClient) -> bool {
    let items = c
        .iq(&format!(
            "<iq type='get' id='cmds' to='{}'><query xmlns='http://jabber.org/protocol/disco#items' \
             node='http://jabber.org/protocol/commands'/></iq>",
            c.domain
        ))
        .await;
    items
        .get_child("query", ns::DISCO_ITEMS)
        .unwrap()
        .children()
        .any(|i| i.attr("node") == Some(ns::CREATE_ACCOUNT_COMMAND))
}

/// A config for `cli.example` on `c2s`, storing in a file-backed SQLite database in `dir` (or a
/// fresh PostgreSQL database when the suite runs against PostgreSQL).
pub(crate) async fn write_config(dir: &Path, c2s: u16) -> PathBuf {
    write_config_for(dir, c2s, "cli.example").await
}

/// The same for another domain.
pub(crate) async fn write_config_for(dir: &Path, c2s: u16, domain: &str) -> PathBuf {
    let path = dir.join("rhein.toml");
    let storage = match rhein_testkit::fresh_storage().await {
        (url, Some(_)) => format!("storage = \"{url}\"\n"),
        _ => format!("storage = \"sqlite://{}/data/rhein.db\"\n", dir.display()),
    };
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = \"{}/data\"\n{storage}\n[[hosts]]\ndomain = \"{domain}\"\n\n[[listeners]]\nkind = \"c2s\"\naddress = \"127.0.0.1:{c2s}\"\n",
            dir.display()
        ),
    )
    .unwrap();
    path
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `rhein serve --config` and waits until it accepts connections.
pub(crate) fn serve_config(config: &Path, port: u16) -> Server {
    // Owned by `Server` at once, so a failing assertion below still stops it.
    let server = Server(
        rhein(&["serve", "--config", config.to_str().unwrap()], config.parent().unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

#[tokio::test]
async fn user_commands_manage_accounts_in_the_configured_storage() {
    let dir = temp_dir("users");
    let port = free_port();
    let config = write_config(&dir, port).await;
    let cfg = config.to_str().unwrap();
    let (ok, out, err) = run(&["user", "add", "Alice", "--password-stdin", "--config", cfg], &dir, "first\n");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "created alice@cli.example");
    let (ok, _, err) = run(&["user", "add", "alice", "--password-stdin", "--config", cfg], &dir, "again\n");
    assert!(!ok && err.contains("already exists"), "{err}");
    assert!(run(&["user", "add", "bob", "--config", cfg], &dir, "pw\n").0);
    // Several at once, with one password (a test or benchmark fleet).
    let (ok, out, err) = run(&["user", "add", "carol", "dave", "--password-stdin", "--config", cfg], &dir, "pw\n");
    assert!(ok, "{err}");
    assert_eq!(out, "created carol@cli.example\ncreated dave@cli.example\n");
    let (_, out, _) = run(&["user", "list", "--config", cfg], &dir, "");
    assert_eq!(out, "alice@cli.example\nbob@cli.example\ncarol@cli.example\ndave@cli.example\n");
    assert!(run(&["user", "passwd", "alice", "--password-stdin", "--config", cfg], &dir, "second\n").0);
    for name in ["bob", "carol", "dave"] {
        assert!(run(&["user", "del", name, "--config", cfg], &dir, "").0);
    }
    let (ok, _, err) = run(&["user", "del", "bob", "--config", cfg], &dir, "");
    assert!(!ok && err.contains("no account"), "{err}");

    let _server = serve_config(&config, port);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = ClientBuilder::new(addr, "cli.example").open().await;
    assert_eq!(c.authenticate("SCRAM-SHA-256", "alice", "first").await, Err("not-authorized".into()));
    let c = ClientBuilder::new(addr, "cli.example").mechanism("PLAIN").login("alice", "second").await;
    assert_eq!(c.jid.as_deref().map(|j| j.split('/').next().unwrap()), Some("alice@cli.example"));
    let _ = ClientBuilder::new(addr, "cli.example").login("alice", "second").await;

    // The running server keeps alice's credentials in memory: changes made by the command
    // line are in force when the command returns.
    assert!(run(&["user", "passwd", "alice", "--password-stdin", "--config", cfg], &dir, "third\n").0);
    let mut c = ClientBuilder::new(addr, "cli.example").open().await;
    assert_eq!(c.authenticate("SCRAM-SHA-256", "alice", "second").await, Err("not-authorized".into()));
    let _ = ClientBuilder::new(addr, "cli.example").login("alice", "third").await;
    assert!(run(&["user", "del", "alice", "--config", cfg], &dir, "").0);
    let mut c = ClientBuilder::new(addr, "cli.example").open().await;
    assert_eq!(c.authenticate("SCRAM-SHA-256", "alice", "third").await, Err("not-authorized".into()));
    let _ = std::fs::remove_dir_all(dir);
}

/// `rhein user del` on a running server has the server delete the account (through the admin
/// socket): its sessions end, its contacts are told, and an account created again under the
/// same name starts empty: the roster the server kept in memory went with the old one.
#[tokio::test]
async fn a_deleted_account_is_gone_from_the_running_server() {
    let dir = temp_dir("deleted");
    let port = free_port();
    let config = write_config(&dir, port).await;
    let cfg = config.to_str().unwrap();
    assert!(run(&["user", "add", "alice", "--password-stdin", "--config", cfg], &dir, "pw\n").0);
    assert!(run(&["user", "add", "bob", "--password-stdin", "--config", cfg], &dir, "pw\n").0);
    let _server = serve_config(&config, port);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut alice = ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;
    let mut bob = ClientBuilder::new(addr, "cli.example").login("bob", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    crate::befriend(&mut alice, &mut bob, "alice@cli.example", "bob@cli.example").await;
    let roster = alice.iq("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>").await;
    assert_eq!(roster.get_child("query", ns::ROSTER).unwrap().children().count(), 1);

    assert!(run(&["user", "del", "alice", "--config", cfg], &dir, "").0);
    assert_eq!(alice.expect_stream_error().await, "not-authorized");
    bob.expect(|e| e.name() == "presence" && e.attr("type") == Some("unsubscribed")).await;

    assert!(run(&["user", "add", "alice", "--password-stdin", "--config", cfg], &dir, "new\n").0);
    let mut again = ClientBuilder::new(addr, "cli.example").login("alice", "new").await;
    let roster = again.iq("<iq type='get' id='r3'><query xmlns='jabber:iq:roster'/></iq>").await;
    let query = roster.get_child("query", ns::ROSTER).unwrap();
    assert_eq!((query.attr("ver"), query.children().count()), (Some("0"), 0), "{roster:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn invite_commands_create_list_and_revoke_in_the_configured_storage() {
    let dir = temp_dir("invites");
    let port = free_port();
    let config = write_config(&dir, port).await;
    let cfg = config.to_str().unwrap();
    let (ok, out, err) =
        run(&["invite", "create", "--admin", "--uses", "2", "--expires", "1d", "--config", cfg], &dir, "");
    assert!(ok, "{err}");
    assert!(out.contains("xmpp: xmpp:cli.example?register;preauth="), "{out}");
    assert!(!out.contains("link:"), "no https listener, no landing page: {out}");
    let admin_token = token_in(&out);
    let (ok, out, _) = run(&["invite", "create", "--config", cfg], &dir, "");
    assert!(ok);
    let revoked_id = out.split_whitespace().nth(1).unwrap().to_owned();
    let revoked_token = token_in(&out);
    assert!(run(&["invite", "revoke", &revoked_id, "--config", cfg], &dir, "").0);
    let (ok, _, err) = run(&["invite", "revoke", &revoked_id, "--config", cfg], &dir, "");
    assert!(!ok && err.contains("no usable invitation"), "{err}");
    assert!(
        !run(&["invite", "create", "--expires", "soon", "--config", cfg], &dir, "").0,
        "a duration needs a unit it knows"
    );

    let _server = serve_config(&config, port);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    for user in ["first", "second"] {
        let mut c = ClientBuilder::new(addr, "cli.example").open().await;
        register_with(&mut c, &admin_token, user, "a long password").await;
    }
    let mut admin = ClientBuilder::new(addr, "cli.example").login("second", "a long password").await;
    assert!(may_create_accounts(&mut admin).await);
    let mut c = ClientBuilder::new(addr, "cli.example").open().await;
    let used =
        c.iq(&format!("<iq type='set' id='pa'><preauth xmlns='urn:xmpp:pars:0' token='{admin_token}'/></iq>")).await;
    assert_eq!(crate::error_text(&used), "the invitation has been used up");
    let revoked =
        c.iq(&format!("<iq type='set' id='pa2'><preauth xmlns='urn:xmpp:pars:0' token='{revoked_token}'/></iq>")).await;
    assert_eq!(crate::error_text(&revoked), "the invitation has been revoked");

    let (_, list, _) = run(&["invite", "list", "--config", cfg], &dir, "");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines.iter().any(|l| l.contains("(first administrator)")), "printed at the start without accounts: {list}");
    assert!(lines.iter().any(|l| l.starts_with(&revoked_id) && l.contains("revoked")), "{list}");
    assert!(lines.iter().any(|l| l.contains("used up") && l.ends_with("admin")), "{list}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `systemctl reload` sends SIGHUP: the server must not die of it (reload itself is a hook).
#[tokio::test]
async fn sighup_does_not_stop_the_server() {
    let (mut server, ready, _) = ephemeral(&["--user", "alice:secret"]);
    let c2s: std::net::SocketAddr = ready["c2s"].as_str().unwrap().parse().unwrap();
    let pid = server.0.id().to_string();
    for _ in 0..2 {
        assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server.0.try_wait().unwrap().is_none(), "the server exited on SIGHUP");
    ClientBuilder::new(c2s, "localhost").tls(rhein_testkit::Tls::None).login("alice", "secret").await;
}

#[tokio::test]
async fn ephemeral_makes_administrators_when_asked() {
    let (_server, ready, _) = ephemeral(&["--user", "alice:secret", "--user", "bob:secret", "--admin", "alice"]);
    let c2s = ready["c2s"].as_str().unwrap().parse().unwrap();
    let mut alice = ClientBuilder::new(c2s, "localhost").tls(rhein_testkit::Tls::None).login("alice", "secret").await;
    let mut bob = ClientBuilder::new(c2s, "localhost").tls(rhein_testkit::Tls::None).login("bob", "secret").await;
    assert!(may_create_accounts(&mut alice).await);
    assert!(!may_create_accounts(&mut bob).await);
}

#[tokio::test]
async fn ephemeral_prints_an_invite_when_asked() {
    let (_server, ready, _) = ephemeral(&["--invite"]);
    let uri = ready["invite"]["uri"].as_str().unwrap();
    assert!(uri.starts_with("xmpp:localhost?register;preauth="), "{uri}");
    let landing = ready["invite"]["landing"].as_str().unwrap();
    let https: std::net::SocketAddr = ready["https"].as_str().unwrap().parse().unwrap();
    assert!(landing.starts_with(&format!("https://localhost:{}/invite/", https.port())), "{landing}");
    let c2s = ready["c2s"].as_str().unwrap().parse().unwrap();
    let mut c = ClientBuilder::new(c2s, "localhost").tls(rhein_testkit::Tls::None).open().await;
    register_with(&mut c, &token_in(uri), "tester", "a long password").await;
    c.authenticate("SCRAM-SHA-256", "tester", "a long password").await.unwrap();
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_reason() {
    let dir = temp_dir("badconfig");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[[hosts]]\ndomain = \"x.example\"\n\n[limits]\nmax_stanza_size = \"big\"\n").unwrap();
    let mut child = rhein(&["serve", "--config", path.to_str().unwrap()], &dir).stderr(Stdio::piped()).spawn().unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains(&format!("{}: line 5, column 19", path.display())), "{err}");
    assert!(err.contains("invalid type"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn acknowledged_state_survives_kill_9() {
    let dir = temp_dir("kill9");
    let port = free_port();
    let config = write_config(&dir, port).await;
    let cfg = config.to_str().unwrap();
    assert!(run(&["user", "add", "alice", "--config", cfg], &dir, "pw\n").0);
    assert!(run(&["user", "add", "bob", "--config", cfg], &dir, "pw\n").0);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    {
        let mut server = serve_config(&config, port);
        let mut alice = ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;
        let set = alice
            .iq("<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='bob@cli.example' name='Bob'/></query></iq>")
            .await;
        assert_eq!(set.attr("type"), Some("result"));
        let publish = alice
            .iq("<iq type='set' id='pep'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:example:n'>\
                 <item id='kept'><entry xmlns='urn:example'/></item></publish></pubsub></iq>")
            .await;
        assert_eq!(publish.attr("type"), Some("result"));
        alice.send("<message to='bob@cli.example' type='chat'><body>before the crash</body></message>").await;
        // Stanzas are processed in order: once the ping is answered, the message is stored.
        alice.iq("<iq type='get' id='p' to='cli.example'><ping xmlns='urn:xmpp:ping'/></iq>").await;
        // SIGKILL: no shutdown code runs.
        server.0.kill().unwrap();
        server.0.wait().unwrap();
    }
    let _server = serve_config(&config, port);
    let mut alice = ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;
    let roster = alice.iq("<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>").await;
    let item = roster.get_child("query", ns::ROSTER).unwrap().get_child("item", ns::ROSTER).unwrap();
    assert_eq!(item.attr("name"), Some("Bob"));
    let items = alice
        .iq("<iq type='get' id='i'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:example:n'/></pubsub></iq>")
        .await;
    let items = items.get_child("pubsub", "http://jabber.org/protocol/pubsub").unwrap();
    assert_eq!(items.get_child("items", "http://jabber.org/protocol/pubsub").unwrap().children().count(), 1);
    let mut bob = ClientBuilder::new(addr, "cli.example").login("bob", "pw").await;
    bob.send("<presence/>").await;
    let m = bob.expect(named("message")).await;
    assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "before the crash");
    let _ = std::fs::remove_dir_all(dir);
}

/// SIGTERM: sessions are told `system-shutdown`, what a client had not acknowledged goes to
/// offline storage, archives and offline messages are written, and the process exits in
/// bounded time; all of it is there after a restart.
#[tokio::test]
async fn sigterm_keeps_what_was_acknowledged_and_what_was_not_yet_acknowledged() {
    let dir = temp_dir("sigterm");
    let port = free_port();
    let config = write_config(&dir, port).await;
    let cfg = config.to_str().unwrap();
    for user in ["alice", "bob", "carol"] {
        assert!(run(&["user", "add", user, "--config", cfg], &dir, "pw\n").0);
    }
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    {
        let mut server = serve_config(&config, port);
        let mut bob = ClientBuilder::new(addr, "cli.example").login("bob", "pw").await;
        bob.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>").await;
        bob.expect(named("enabled")).await;
        bob.send("<presence/>").await;
        let mut alice = ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;
        for n in 1..=3 {
            alice.send(&format!("<message to='bob@cli.example' type='chat'><body>unacked {n}</body></message>")).await;
        }
        alice.send("<message to='carol@cli.example' type='chat'><body>for later</body></message>").await;
        alice.iq("<iq type='get' id='p' to='cli.example'><ping xmlns='urn:xmpp:ping'/></iq>").await;
        // Bob reads them but acknowledges nothing.
        for _ in 0..3 {
            bob.expect(|e| e.name() == "message").await;
        }
        let started = Instant::now();
        let term = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
        assert!(term.success());
        assert!(bob.expect_stream_error().await.contains("system-shutdown"));
        let status = server.0.wait().unwrap();
        assert!(status.success(), "{status:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "exited in {:?}", started.elapsed());
    }
    let _server = serve_config(&config, port);
    let mut bob = ClientBuilder::new(addr, "cli.example").login("bob", "pw").await;
    bob.send("<presence/>").await;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let m = bob.expect(named("message")).await;
        bodies.push(m.get_child("body", ns::CLIENT).unwrap().text());
    }
    assert_eq!(bodies, ["unacked 1", "unacked 2", "unacked 3"]);
    let mut carol = ClientBuilder::new(addr, "cli.example").login("carol", "pw").await;
    carol.send("<presence/>").await;
    let m = carol.expect(named("message")).await;
    assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "for later");
    let mut alice = ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;
    let archived = crate::corrections::archived(&mut alice, None).await;
    assert_eq!(archived.len(), 4, "alice's archive");
    let _ = std::fs::remove_dir_all(dir);
}

/// `[log] format = "json"`: every line the server logs is one JSON object.
#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = temp_dir("json-logs");
    let port = free_port();
    let config = write_config(&dir, port).await;
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replacen("[server]\n", "[server]\nlog_level = \"info\"\n", 1) + "\n[log]\nformat = \"json\"\n";
    std::fs::write(&config, text).unwrap();
    let mut child =
        rhein(&["serve", "--config", config.to_str().unwrap()], &dir).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let server = Server(child);
    let first = lines.next().unwrap().unwrap();
    let event: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(event["level"], "INFO", "{first}");
    assert!(event["fields"]["message"].is_string(), "{first}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

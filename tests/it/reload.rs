//! Reloading the configuration of the real binary (`rhein ctl reload`, SIGHUP): limits,
//! administrators, the log level, module settings and hosts change under a running session; a
//! listener change, or a module setting only a restart changes, is reported as needing one;
//! a file that does not parse is refused whole with its line and column, and the running
//! configuration stays.

use crate::cli::{Server, free_port, rhein, run, temp_dir};
use crate::ctl::ctl;
use crate::error_condition;
use rhein_testkit::{ClientBuilder, TestClient, ns};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const ADMIN: &str = "http://jabber.org/protocol/admin";

/// A config for `cli.example` with a loopback c2s listener on `port` (and one more on
/// `extra`, when given), `admins`, a cap on connections per address, and a log level.
pub(crate) fn config_text(
    dir: &Path,
    port: u16,
    extra: Option<u16>,
    admins: &str,
    per_address: usize,
    log: &str,
) -> String {
    let mut text = format!(
        "[server]\ndata_dir = \"{dir}/data\"\nstorage = \"sqlite://{dir}/data/rhein.db\"\nadmin_socket = \"{dir}/rhein.sock\"\n\
         log_level = \"{log}\"\nadmins = [{admins}]\n\n[limits]\nmax_connections_per_address = {per_address}\n\n\
         [[hosts]]\ndomain = \"cli.example\"\n\n[[listeners]]\nkind = \"c2s\"\naddress = \"127.0.0.1:{port}\"\n",
        dir = dir.display()
    );
    if let Some(extra) = extra {
        text.push_str(&format!("\n[[listeners]]\nkind = \"c2s\"\naddress = \"127.0.0.1:{extra}\"\n"));
    }
    text
}

/// Runs the server online-users command as `c`: its result, or its error.
async fn online_users(c: &mut TestClient) -> rhein_testkit::Element {
    c.iq(&format!(
        "<iq type='set' id='o' to='cli.example'><command xmlns='{}' node='{ADMIN}#get-online-users-num' action='execute'/></iq>",
        ns::COMMANDS
    ))
    .await
}

/// What the server answers a stream header for `host`, up to its features or the end, and
/// the connection.
async fn stream_answer(addr: SocketAddr, host: &str) -> (String, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let header = format!(
        "<?xml version='1.0'?><stream:stream to='{host}' xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    );
    tcp.write_all(header.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("</features>") && !seen.contains("</stream:stream>") {
        match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => break,
        }
    }
    (seen, tcp)
}

/// Whether a fresh connection gets a stream (not the per-address refusal), and the
/// connection, which holds its slot while it is kept.
async fn admitted(addr: SocketAddr) -> (bool, tokio::net::TcpStream) {
    let (seen, tcp) = stream_answer(addr, "cli.example").await;
    assert!(seen.contains("</features>") || seen.contains("policy-violation"), "no answer: {seen}");
    (!seen.contains("policy-violation"), tcp)
}

/// Starts the binary on `config` (written first) with `users` (password "pw"); the server,
/// its c2s address and its admin socket.
pub(crate) async fn serve(dir: &Path, config: &str, users: &[&str]) -> (Server, SocketAddr, std::path::PathBuf) {
    let path = dir.join("rhein.toml");
    std::fs::write(&path, config).unwrap();
    let cfg = path.to_str().unwrap();
    for user in users {
        assert!(run(&["user", "add", user, "--password-stdin", "--config", cfg], dir, "pw\n").0);
    }
    let server = Server(rhein(&["serve", "--config", cfg], dir).stderr(Stdio::null()).spawn().unwrap());
    let port = config.split("address = \"127.0.0.1:").nth(1).and_then(|r| r.split('"').next()).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, addr, dir.join("rhein.sock"))
}

/// Sends bob (offline) a message; the error condition it got back, if any. A ping after it
/// brings any error along.
async fn message_bob(alice: &mut TestClient, id: &str) -> Option<String> {
    alice.send(&format!("<message to='bob@cli.example' type='chat' id='{id}'><body>{id}</body></message>")).await;
    alice.iq(&format!("<iq type='get' id='after-{id}' to='cli.example'><ping xmlns='urn:xmpp:ping'/></iq>")).await;
    let error = alice.drain_backlog().into_iter().find(|e| e.name() == "message" && e.attr("id") == Some(id));
    error.and_then(|e| error_condition(&e))
}

/// The name the MUC service gives itself in disco.
async fn rooms_name(alice: &mut TestClient) -> String {
    let info = alice
        .iq("<iq type='get' id='d' to='conference.cli.example'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    let query = info.get_child("query", "http://jabber.org/protocol/disco#info").expect("disco#info");
    let identity = query.get_child("identity", "http://jabber.org/protocol/disco#info").expect("an identity");
    identity.attr("name").unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_reload_hands_modules_their_new_settings_and_names_what_needs_a_restart() {
    let dir = temp_dir("reload-modules");
    let port = free_port();
    let base = config_text(&dir, port, None, "", 10, "info");
    let with = |modules: &str| format!("{base}\n{modules}");
    let first = with("[modules.im]\noffline_limit = 1\n\n[modules.muc]\nname = \"Rooms\"\n");
    let (server, addr, socket) = serve(&dir, &first, &["alice", "bob"]).await;
    let mut alice = ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;
    alice.send("<presence/>").await;
    assert_eq!(message_bob(&mut alice, "m1").await, None, "stored");
    assert_eq!(message_bob(&mut alice, "m2").await.as_deref(), Some("service-unavailable"), "one is the limit");
    assert_eq!(rooms_name(&mut alice).await, "Rooms");

    // New limits for IM, a new name for MUC, and MAM settings that do not read.
    let second = with(
        "[modules.im]\noffline_limit = 3\n\n[modules.muc]\nname = \"Talk\"\n\n[modules.mam]\nmax_page = \"many\"\n",
    );
    std::fs::write(dir.join("rhein.toml"), &second).unwrap();
    let reload = ctl(&socket, &["reload"]).await;
    assert_eq!(reload.code, 0, "{}", reload.stderr);
    assert!(reload.stdout.contains("kept what was running for: module mam"), "{}", reload.stdout);
    assert!(!reload.stdout.contains("needs a restart"), "{}", reload.stdout);
    assert_eq!(message_bob(&mut alice, "m3").await, None, "three fit now");
    assert_eq!(rooms_name(&mut alice).await, "Talk");

    // The service's address changes only with a restart: MUC keeps all it runs with.
    let third = with("[modules.im]\noffline_limit = 3\n\n[modules.muc]\nname = \"Elsewhere\"\nsubdomain = \"rooms\"\n");
    std::fs::write(dir.join("rhein.toml"), &third).unwrap();
    let reload = ctl(&socket, &["reload"]).await;
    assert_eq!(reload.code, 0, "{}", reload.stderr);
    assert!(reload.stdout.contains("needs a restart to change: modules.muc (subdomain)"), "{}", reload.stdout);
    assert_eq!(rooms_name(&mut alice).await, "Talk");
    assert_eq!(message_bob(&mut alice, "m4").await, None, "the third");
    assert_eq!(message_bob(&mut alice, "m5").await.as_deref(), Some("service-unavailable"), "three is the limit");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_reload_adds_and_removes_hosts_with_their_services() {
    let dir = temp_dir("reload-hosts");
    let port = free_port();
    let one = config_text(&dir, port, None, "", 10, "info");
    let two = format!("{one}\n[[hosts]]\ndomain = \"second.example\"\n");
    let (server, addr, socket) = serve(&dir, &one, &["alice"]).await;
    let mut alice = ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;

    std::fs::write(dir.join("rhein.toml"), &two).unwrap();
    let cfg = dir.join("rhein.toml");
    let add =
        ["user", "add", "bob", "--domain", "second.example", "--password-stdin", "--config", cfg.to_str().unwrap()];
    assert!(run(&add, &dir, "pw\n").0);
    let reload = ctl(&socket, &["reload"]).await;
    assert_eq!(reload.code, 0, "{}", reload.stderr);
    assert!(reload.stdout.contains("hosts added: second.example"), "{}", reload.stdout);
    assert!(!reload.stdout.contains("needs a restart"), "{}", reload.stdout);

    // The new host takes logins, messages and its services; alice's session lived on.
    let mut bob = ClientBuilder::new(addr, "second.example").login("bob", "pw").await;
    bob.send("<presence/>").await;
    alice.send("<message to='bob@second.example' type='chat' id='hi'><body>hi</body></message>").await;
    let got = bob.expect(|e| e.name() == "message").await;
    assert_eq!(got.attr("from").map(|f| f.starts_with("alice@cli.example/")), Some(true), "{got:?}");
    let info = bob
        .iq("<iq type='get' id='d' to='conference.second.example'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    assert_eq!(info.attr("type"), Some("result"), "the MUC service of the new host: {info:?}");

    // Removed again: its sessions end with host-gone, and it is unknown from then on.
    std::fs::write(dir.join("rhein.toml"), &one).unwrap();
    let reload = ctl(&socket, &["reload"]).await;
    assert_eq!(reload.code, 0, "{}", reload.stderr);
    assert!(reload.stdout.contains("hosts removed (their sessions ended): second.example"), "{}", reload.stdout);
    assert_eq!(bob.expect_stream_error().await, "host-gone");
    let info = alice.iq("<iq type='get' id='d2' to='cli.example'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(info.attr("type"), Some("result"), "alice stays");
    assert!(stream_answer(addr, "second.example").await.0.contains("<host-unknown"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_reload_takes_limits_admins_and_log_level_and_refuses_a_broken_file() {
    let dir = temp_dir("reload");
    let (port, extra) = (free_port(), free_port());
    let config = dir.join("rhein.toml");
    std::fs::write(&config, config_text(&dir, port, None, "", 2, "error")).unwrap();
    let cfg = config.to_str().unwrap();
    assert!(run(&["user", "add", "alice", "--password-stdin", "--config", cfg], &dir, "pw\n").0);
    let log = dir.join("stderr.log");
    let stderr = std::fs::File::create(&log).unwrap();
    let server = Server(rhein(&["serve", "--config", cfg], &dir).stderr(Stdio::from(stderr)).spawn().unwrap());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let socket = dir.join("rhein.sock");

    let mut alice = ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;
    assert_eq!(error_condition(&online_users(&mut alice).await).as_deref(), Some("forbidden"));
    // Alice holds one of the two connections an address may have.
    let (second, _held) = admitted(addr).await;
    assert!(second);
    assert!(!admitted(addr).await.0, "the cap of 2 holds");

    std::fs::write(&config, config_text(&dir, port, Some(extra), "\"alice@cli.example\"", 10, "info")).unwrap();
    let reload = ctl(&socket, &["reload"]).await;
    assert_eq!(reload.code, 0, "{}", reload.stderr);
    assert!(reload.stdout.contains("needs a restart to change: listeners"), "{}", reload.stdout);
    assert!(admitted(addr).await.0, "the new cap of 10");
    assert!(std::net::TcpStream::connect(("127.0.0.1", extra)).is_err(), "a new listener waits for a restart");
    let answer = online_users(&mut alice).await;
    assert_eq!(answer.attr("type"), Some("result"), "alice administers now: {}", String::from(&answer));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("certificates reloaded"), "the info level is in force: {logged}");

    std::fs::write(&config, "[server\nlog_level = \"debug\"\n").unwrap();
    let refused = ctl(&socket, &["reload"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains("line 1, column"), "{}", refused.stderr);
    alice.iq("<iq type='get' id='p' to='cli.example'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert_eq!(online_users(&mut alice).await.attr("type"), Some("result"), "the running configuration stays");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

//! `rhein ctl` against a running server through its admin socket: every command, its JSON
//! and its exit statuses, federation links, and the socket refusing other users.

use crate::named;
use rhein_testkit::{Element, TestServer, ns};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_rhein");

/// A fresh directory for a socket.
fn socket_in(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rhein-ctl-{tag}-{}-{:?}", std::process::id(), Instant::now()));
    let dir = PathBuf::from(dir.to_string_lossy().replace([' ', '{', '}', ':', ','], ""));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.join("rhein.sock")
}

/// What one `rhein ctl` run did.
pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Ran {
    fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs `rhein ctl --socket SOCKET ARGS…`, as another user when `uid` is given.
async fn ctl_as(socket: &Path, args: &[&str], uid: Option<u32>) -> Ran {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(BIN);
    command.arg("ctl").arg("--socket").arg(socket).args(args);
    if let Some(uid) = uid {
        command.uid(uid).gid(uid);
    }
    // Off the runtime: the server under test runs on it.
    let out = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub(crate) async fn ctl(socket: &Path, args: &[&str]) -> Ran {
    ctl_as(socket, args, None).await
}

fn headline_body(e: &Element) -> Option<String> {
    (e.name() == "message" && e.attr("type") == Some("headline"))
        .then(|| e.get_child("body", ns::CLIENT).map(Element::text))
        .flatten()
}

#[tokio::test]
async fn ctl_commands_act_on_the_running_server() {
    let socket = socket_in("commands");
    let path = socket.clone();
    let server = TestServer::builder()
        .user("alice", "pw")
        .user("bob", "pw")
        .configure(move |c| c.server.admin_socket = Some(path))
        .start()
        .await;
    let mut alice = server.client("alice", "pw").await;
    alice.send("<presence/>").await;
    alice.iq("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;

    // status, for people and as JSON.
    let status = ctl(&socket, &["status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.contains("sessions    1 client"), "{}", status.stdout);
    let status = ctl(&socket, &["status", "--json"]).await.json();
    assert_eq!(status["result"]["client_sessions"], 1);
    assert_eq!(status["result"]["hosts"][0], "localhost");
    assert!(status["result"]["storage_backend"].is_string());
    assert!(status["result"]["memory_bytes"].as_u64().unwrap() > 0);

    // sessions: everyone's, one user's.
    let sessions = ctl(&socket, &["--json", "sessions"]).await.json();
    let alice_jid = alice.jid.clone().unwrap();
    assert_eq!(sessions["result"]["sessions"][0]["jid"], alice_jid.as_str());
    assert_eq!(sessions["result"]["sessions"][0]["available"], true);
    let none = ctl(&socket, &["sessions", "--user", "bob"]).await;
    assert_eq!((none.code, none.stdout.as_str()), (0, "no sessions\n"));

    // announce reaches every session; the message of the day every new one.
    let announced = ctl(&socket, &["announce", "maintenance at five"]).await;
    assert_eq!((announced.code, announced.stdout.as_str()), (0, "announced to 1 session(s)\n"));
    let got = alice.expect(|e| headline_body(e).is_some()).await;
    assert_eq!(headline_body(&got).as_deref(), Some("maintenance at five"));
    assert_eq!(got.attr("from"), Some("localhost"));
    assert_eq!(ctl(&socket, &["motd", "set", "welcome aboard"]).await.code, 0);
    let mut bob = server.client("bob", "pw").await;
    let motd = bob.expect(|e| headline_body(e).is_some()).await;
    assert_eq!(headline_body(&motd).as_deref(), Some("welcome aboard"));
    assert_eq!(ctl(&socket, &["motd", "clear"]).await.code, 0);
    let mut bob2 = server.connect().resource("second").login("bob", "pw").await;
    let id = bob2.barrier_to("localhost").await;
    bob2.expect_none_before(&id, |e| headline_body(e).is_some()).await;

    // kick: one session by full JID, with the reason told.
    let kicked = ctl(&socket, &["kick", &alice_jid, "--reason", "cool down"]).await;
    assert_eq!(kicked.code, 0, "{}", kicked.stderr);
    assert_eq!(alice.expect_stream_error().await, "policy-violation");
    let again = ctl(&socket, &["kick", "alice"]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("alice@localhost has no session"), "{}", again.stderr);

    // disable ends every session and refuses logins; enable lets the account in again.
    assert_eq!(ctl(&socket, &["disable", "bob@localhost"]).await.code, 0);
    assert_eq!(bob.expect_stream_error().await, "policy-violation");
    assert_eq!(bob2.expect_stream_error().await, "policy-violation");
    let mut refused = server.connect().open().await;
    assert_eq!(refused.authenticate("PLAIN", "bob", "pw").await, Err("account-disabled".into()));
    assert_eq!(ctl(&socket, &["enable", "bob"]).await.code, 0);
    let mut bob = server.client("bob", "pw").await;
    let unknown = ctl(&socket, &["disable", "nobody"]).await;
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("there is no account nobody@localhost"), "{}", unknown.stderr);

    // rooms, hidden ones too, and destroying one: its occupants are told why.
    let room = "hideout@conference.localhost";
    let hidden = "<field var='muc#roomconfig_publicroom'><value>0</value></field>";
    crate::muc::create(&mut bob, room, "bob", hidden).await;
    let rooms = ctl(&socket, &["rooms", "--json"]).await.json();
    let listed = &rooms["result"]["rooms"][0];
    assert_eq!((listed["jid"].as_str(), listed["public"].as_bool()), (Some(room), Some(false)));
    assert_eq!(listed["occupants"], 1);
    let destroyed = ctl(&socket, &["room", "destroy", room, "--reason", "spam"]).await;
    assert_eq!(destroyed.code, 0, "{}", destroyed.stderr);
    let gone = bob.expect(named("presence")).await;
    let destroy = gone.get_child("x", ns::MUC_USER).and_then(|x| x.get_child("destroy", ns::MUC_USER)).unwrap();
    assert_eq!(destroy.get_child("reason", ns::MUC_USER).map(Element::text).as_deref(), Some("spam"));
    assert_eq!(ctl(&socket, &["rooms"]).await.stdout, "no rooms\n");
    assert_eq!(ctl(&socket, &["room", "destroy", room]).await.code, 1);

    // Refusals name their reason; JSON shows them too.
    let no_federation = ctl(&socket, &["s2s", "--json"]).await;
    assert_eq!(no_federation.code, 1);
    let reply: serde_json::Value = serde_json::from_str(&no_federation.stdout).unwrap();
    assert_eq!(reply["outcome"], "refused");
    assert!(reply["reason"].as_str().unwrap().contains("federation is off"));

    // No server: exit status 2, naming the socket looked for.
    drop(server);
    let missing = socket.with_file_name("elsewhere.sock");
    let none = ctl(&missing, &["status"]).await;
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("no server running") && none.stderr.contains("elsewhere.sock"), "{}", none.stderr);
}

#[tokio::test]
async fn ctl_lists_and_closes_federation_links() {
    let socket = socket_in("s2s");
    let path = socket.clone();
    let (alpha, beta) = crate::s2s::pair_with(move |c| c.server.admin_socket = Some(path)).await;
    let mut alice = alpha.client("alice", "pw").await;
    let mut bob = beta.client("bob", "pw").await;
    alice.send("<presence/>").await;
    bob.send("<presence/>").await;
    alice.send("<message to='bob@beta.test' id='m1'><body>across</body></message>").await;
    bob.expect(named("message")).await;
    bob.send("<message to='alice@alpha.test' id='m2'><body>back</body></message>").await;
    alice.expect(named("message")).await;

    let links = ctl(&socket, &["s2s", "--json"]).await.json();
    let links = links["result"]["links"].as_array().unwrap().clone();
    assert!(
        links.iter().any(|l| l["remote"] == "beta.test" && l["inbound"] == false),
        "an outbound link to beta: {links:?}"
    );
    let closed = ctl(&socket, &["s2s", "--close", "beta.test"]).await;
    assert_eq!(closed.code, 0, "{}", closed.stderr);
    assert!(closed.stdout.starts_with(&format!("{} stream(s) closed", links.len())), "{}", closed.stdout);
    // The next message opens a new stream.
    alice.send("<message to='bob@beta.test' id='m3'><body>again</body></message>").await;
    let again = bob.expect(named("message")).await;
    assert_eq!(again.get_child("body", ns::CLIENT).map(Element::text).as_deref(), Some("again"));
}

#[tokio::test]
async fn the_admin_socket_is_the_server_users_alone() {
    let socket = socket_in("perm");
    let path = socket.clone();
    let _server = TestServer::builder().configure(move |c| c.server.admin_socket = Some(path)).start().await;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    if std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).ok() != Some(0) {
        eprintln!("not root: the test cannot act as a second user; the mode is checked");
        return;
    }
    // Another user cannot open it...
    let nobody = ctl_as(&socket, &["status"], Some(65534)).await;
    assert_eq!(nobody.code, 1, "{}", nobody.stderr);
    assert!(nobody.stderr.contains("permission denied"), "{}", nobody.stderr);
    // ...and if the file were opened to everyone, the server still refuses on the peer's
    // credentials.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let nobody = ctl_as(&socket, &["status"], Some(65534)).await;
    assert_eq!(nobody.code, 1, "{}", nobody.stderr);
    assert!(nobody.stderr.contains("only the server's user"), "{}", nobody.stderr);
}

/// `rhein ctl` sends nothing to a socket that someone else put in a directory anyone may
/// write to: it could answer in the server's name.
#[tokio::test]
async fn ctl_does_not_trust_a_stranger_s_socket() {
    if std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).ok() != Some(0) {
        eprintln!("not root: cannot give a socket to another user");
        return;
    }
    let socket = socket_in("stranger");
    let dir = socket.parent().unwrap().to_owned();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::os::unix::fs::chown(&socket, Some(65534), Some(65534)).unwrap();
    let refused = ctl(&socket, &["status"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("not the server's socket"), "{}", refused.stderr);
}

//! The database misbehaves under traffic: PostgreSQL restarts, SQLite's disk fills up. The
//! server stays up, senders learn what was not stored (an error, never a silent loss),
//! nothing acknowledged without an error is lost, and service resumes on its own.
//!
//! Each test needs something of the machine: a PostgreSQL installation of its own to restart
//! (the PostgreSQL pass), or root (or sudo) to mount a small file system (the SQLite pass). Without it a
//! test says so and passes, except under `CI=true`, where it fails.

use rhein_testkit::{Element, TestClient, TestServer, ns};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SM: &str = "urn:xmpp:sm:3";

/// Skips a test that needs `what`, which this machine lacks (never under CI).
fn skip(what: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must provide {what}");
    eprintln!("skipped: needs {what}");
}

/// Runs a command to its end (off the runtime's threads), as the `postgres` user if we are
/// root (PostgreSQL refuses to run as root).
async fn run(program: &Path, args: &[&str], as_postgres: bool) -> bool {
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    tokio::task::spawn_blocking(move || cmd.status().is_ok_and(|s| s.success())).await.unwrap_or(false)
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// A PostgreSQL server of the test's own on loopback, to stop and start at will.
struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    async fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists())
            .max()?;
        let dir = std::env::temp_dir().join(format!("rhein-chaos-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).ok()?;
        let as_postgres = is_root();
        if as_postgres && !run(Path::new("chown"), &["postgres", dir.to_str()?], false).await {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let pg = Self { bin, dir, port, as_postgres };
        let data = pg.dir.join("data");
        let initdb = ["-D", data.to_str()?, "-A", "trust", "-U", "postgres"];
        if !run(&pg.bin.join("initdb"), &initdb, as_postgres).await || !pg.ctl("start").await {
            return None;
        }
        Some(pg)
    }

    async fn ctl(&self, action: &str) -> bool {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let options = format!("-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off", self.port, self.dir.display());
        let args = [
            "-D",
            data.to_str().unwrap_or_default(),
            "-l",
            log.to_str().unwrap_or_default(),
            "-w",
            "-m",
            "immediate",
            "-o",
            &options,
            action,
        ];
        run(&self.bin.join("pg_ctl"), &args, self.as_postgres).await
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = cmd.args(["-D", &data.to_string_lossy(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A sender with stream management: sends bursts to an offline account and keeps count of
/// what the server acknowledged and what it refused.
struct Sender {
    client: TestClient,
    to: String,
    /// Messages sent so far (their ids are c0, c1, ...).
    next: usize,
    /// Stanzas sent so far, what the server's `h` must reach.
    stanzas: usize,
    refused: HashSet<String>,
}

impl Sender {
    async fn new(server: &TestServer, user: &str, to: &str) -> Self {
        let mut client = server.client(user, "pw").await;
        // The server may wait for its database for a while.
        client.set_patience(Duration::from_secs(60));
        client.send(&format!("<enable xmlns='{SM}'/>")).await;
        client.expect(|e| e.is("enabled", SM)).await;
        Self { client, to: to.into(), next: 0, stanzas: 0, refused: HashSet::new() }
    }

    /// Sends `n` messages and waits for their acknowledgement (up to `patience`); returns
    /// how many of them came back as errors.
    async fn burst(&mut self, n: usize, patience: Duration) -> usize {
        let first = self.next;
        let burst: String = (first..first + n)
            .map(|i| format!("<message to='{}' type='chat' id='c{i}'><body>{i}</body></message>", self.to))
            .collect();
        self.next += n;
        self.stanzas += n;
        self.client.send(&format!("{burst}<r xmlns='{SM}'/>")).await;
        let expected = self.stanzas;
        let acked = tokio::time::timeout(patience, async {
            loop {
                let a = self.client.expect(|e| e.is("a", SM)).await;
                if a.attr("h").and_then(|h| h.parse::<usize>().ok()) == Some(expected) {
                    break;
                }
                self.client.send(&format!("<r xmlns='{SM}'/>")).await;
            }
        });
        acked.await.expect("every message acknowledged, stored or refused");
        // Errors travel through the session's queue, and `<a/>` does not: a ping's answer,
        // queued after them, brings them all.
        self.ping().await;
        let before = self.refused.len();
        for el in self.client.drain_backlog() {
            if el.name() == "message" && el.attr("type") == Some("error") {
                self.refused.extend(el.attr("id").map(str::to_owned));
            }
        }
        self.refused.len() - before
    }

    /// The server answers, whatever its database does.
    async fn ping(&mut self) {
        let pong = self.client.iq("<iq type='get' id='alive' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
        assert_eq!(pong.attr("type"), Some("result"));
        self.stanzas += 1;
    }

    /// The ids acknowledged without an error: each must reach the recipient.
    fn stored(&self) -> HashSet<String> {
        (0..self.next).map(|i| format!("c{i}")).filter(|id| !self.refused.contains(id)).collect()
    }
}

/// Logs in as `user` and collects the ids of the stored messages it gets, until every one
/// of `expected` came or none came for a while. More may come than `expected`: a message
/// refused when the database vanished between its COMMIT and the answer was stored all the
/// same (the sender got an error and may resend; a duplicate, never a loss).
async fn collect_offline(server: &TestServer, user: &str, expected: &HashSet<String>) -> HashSet<String> {
    let mut c = server.client(user, "pw").await;
    // The outer timeout below decides when delivery has stalled, not the client's patience.
    c.set_patience(Duration::from_secs(60));
    c.send("<presence/>").await;
    let mut got = HashSet::new();
    while !expected.is_subset(&got) {
        let next = tokio::time::timeout(Duration::from_secs(10), c.expect(|e: &Element| e.name() == "message"));
        match next.await {
            Ok(m) if m.get_child("body", ns::CLIENT).is_some() => {
                got.extend(m.attr("id").map(str::to_owned));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarting_mid_traffic_loses_nothing_acknowledged() {
    if std::env::var("RHEIN_TEST_POSTGRES_URL").map_or(true, |u| u.is_empty()) {
        return; // the PostgreSQL pass runs it
    }
    let Some(pg) = PrivatePostgres::start().await else {
        return skip("PostgreSQL's binaries (initdb, pg_ctl)");
    };
    let server = TestServer::builder().storage(&pg.url()).user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = Sender::new(&server, "alice", "bob@localhost").await;
    assert_eq!(alice.burst(100, Duration::from_secs(20)).await, 0, "before the restart everything is stored");

    // PostgreSQL goes away mid-traffic and comes back a moment later.
    let sending = async {
        let mut refused = 0;
        for _ in 0..10 {
            refused += alice.burst(20, Duration::from_secs(60)).await;
        }
        refused
    };
    let restart = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(pg.ctl("stop").await, "PostgreSQL stops");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(pg.ctl("start").await, "PostgreSQL starts again");
    };
    let (refused, ()) = tokio::join!(sending, restart);
    eprintln!("refused while PostgreSQL restarted: {refused}");

    // The server reconnected by itself: new messages are stored again, the session lived on.
    assert_eq!(alice.burst(50, Duration::from_secs(60)).await, 0, "stored again after the restart");
    alice.ping().await;
    let stored = alice.stored();
    let got = collect_offline(&server, "bob", &stored).await;
    let refused_yet_stored = alice.refused.intersection(&got).count();
    eprintln!("refused yet stored (the database went away between COMMIT and its answer): {refused_yet_stored}");
    let lost: Vec<_> = stored.difference(&got).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost, e.g. {:?}", lost.len(), lost.first());
}

/// A small tmpfs of the test's own, unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    /// Mounts it as root, or through `sudo` (owned by the test's user then).
    async fn mount(megabytes: u32) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("rhein-chaos-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let meta = std::fs::metadata(&dir).ok()?;
        let (uid, gid) = (std::os::unix::fs::MetadataExt::uid(&meta), std::os::unix::fs::MetadataExt::gid(&meta));
        let options = format!("size={megabytes}m,uid={uid},gid={gid}");
        let args = ["mount", "-t", "tmpfs", "-o", &options, "tmpfs", dir.to_str()?];
        let mounted = if is_root() {
            run(Path::new(args[0]), &args[1..], false).await
        } else {
            run(Path::new("sudo"), &[&["-n"], &args[..]].concat(), false).await
        };
        mounted.then_some(Self { dir })
    }

    /// Fills the file system up; the filler's path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        // Bounded: far more than the file system holds.
        for _ in 0..100_000 {
            if f.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = f.flush();
        path
    }
}

fn sudo_umount() -> Command {
    let mut c = Command::new("sudo");
    c.args(["-n", "umount"]);
    c
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let umount = if is_root() { Command::new("umount") } else { sudo_umount() };
        let _ = { umount }.arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_loudly_and_recovers() {
    if std::env::var("RHEIN_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) {
        return; // the SQLite pass runs it
    }
    let Some(disk) = SmallDisk::mount(16).await else {
        return skip("root or sudo, to mount a small tmpfs");
    };
    let url = format!("sqlite://{}", disk.dir.join("rhein.db").display());
    let server = TestServer::builder().storage(&url).user("alice", "pw").user("bob", "pw").start().await;
    let mut alice = Sender::new(&server, "alice", "bob@localhost").await;
    assert_eq!(alice.burst(50, Duration::from_secs(20)).await, 0, "stored while there is room");

    let filler = disk.fill();
    let refused = alice.burst(50, Duration::from_secs(60)).await;
    assert!(refused > 0, "a full disk refuses writes, and senders are told");

    // The server stays up and serves what needs no writing.
    alice.ping().await;

    // Space returns: writes succeed again without a restart.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(alice.burst(50, Duration::from_secs(20)).await, 0, "stored again once there is room");
    let stored = alice.stored();
    let got = collect_offline(&server, "bob", &stored).await;
    let lost: Vec<_> = stored.difference(&got).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost, e.g. {:?}", lost.len(), lost.first());
}

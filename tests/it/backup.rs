//! `rhein backup` while the real binary serves and a client writes, and `rhein restore`
//! into a fresh data directory: what was acknowledged before the backup is in it.

use crate::cli::{free_port, run, serve_config, temp_dir, write_config};
use rhein_testkit::{ClientBuilder, ns};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Whether the suite runs against PostgreSQL (`write_config` then names a fresh database).
pub(crate) fn on_postgres() -> bool {
    std::env::var("RHEIN_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_what_was_acknowledged() {
    let dir = temp_dir("backup");
    let port = free_port();
    let config = write_config(&dir, port).await;
    let cfg = config.to_str().unwrap();
    if on_postgres() {
        // The suite runs against PostgreSQL: the command names pg_dump instead.
        let file = dir.join("rhein.backup");
        let (ok, _, err) = run(&["backup", file.to_str().unwrap(), "--config", cfg], &dir, "");
        assert!(!ok && err.contains("pg_dump"), "{err}");
        return;
    }
    assert!(run(&["user", "add", "alice", "--config", cfg], &dir, "pw\n").0);
    assert!(run(&["user", "add", "bob", "--config", cfg], &dir, "pw\n").0);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = serve_config(&config, port);

    // Alice writes to bob (offline) without pause, in bursts; a burst counts once a ping
    // sent after it is answered (stanzas are processed in order).
    let mut alice = ClientBuilder::new(addr, "cli.example").login("alice", "pw").await;
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        async move {
            let mut i = 0;
            while !stop.load(Ordering::Acquire) && i < 900 {
                for n in i..i + 20 {
                    alice.send(&format!("<message to='bob@cli.example' type='chat'><body>{n}</body></message>")).await;
                }
                let pong = alice
                    .iq(&format!("<iq type='get' id='p{i}' to='cli.example'><ping xmlns='urn:xmpp:ping'/></iq>"))
                    .await;
                assert_eq!(pong.attr("type"), Some("result"));
                i += 20;
                acknowledged.store(i, Ordering::Release);
            }
        }
    });
    while acknowledged.load(Ordering::Acquire) < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Backups until one overlapped acknowledged writes (each takes some tens of ms, as
    // long as a burst): the last is restored below.
    let mut before = 0;
    let mut file = dir.clone();
    for attempt in 0..20 {
        file = dir.join(format!("rhein-{attempt}.backup"));
        before = acknowledged.load(Ordering::Acquire);
        let took = std::time::Instant::now();
        let (ok, out, err) = {
            let (file, cfg, dir) = (file.to_str().unwrap().to_owned(), cfg.to_owned(), dir.clone());
            tokio::task::spawn_blocking(move || run(&["backup", &file, "--config", &cfg], &dir, "")).await.unwrap()
        };
        assert!(ok, "{err}");
        assert!(out.starts_with("backed up "), "{out}");
        let after = acknowledged.load(Ordering::Acquire);
        eprintln!(
            "backup {attempt}: {before} messages acknowledged when it began, {after} when it ended {:?} later",
            took.elapsed()
        );
        if after > before {
            break;
        }
    }
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    let backup_file = file.to_str().unwrap();

    // A second backup to the same file is refused; restoring under the running server too.
    let (ok, _, err) = run(&["backup", backup_file, "--config", cfg], &dir, "");
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = run(&["restore", backup_file, "--config", cfg], &dir, "");
    assert!(!ok && err.contains("a server is running"), "{err}");
    drop(server);

    // Into a fresh data directory, served by a new server.
    let fresh = temp_dir("restored");
    let port2 = free_port();
    let config2 = write_config(&fresh, port2).await;
    let cfg2 = config2.to_str().unwrap();
    let (ok, out, err) = run(&["restore", backup_file, "--config", cfg2], &fresh, "");
    assert!(ok, "{err}");
    assert!(out.starts_with("restored "), "{out}");
    let _server2 = serve_config(&config2, port2);
    let addr2 = format!("127.0.0.1:{port2}").parse().unwrap();
    let mut bob = ClientBuilder::new(addr2, "cli.example").login("bob", "pw").await;
    bob.send("<presence/>").await;
    // Offline messages are queued to the session as its presence is handled, before the
    // answer to a ping sent after it.
    bob.send("<iq type='get' id='done' to='cli.example'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    let mut got = Vec::new();
    loop {
        let el = bob.expect(|e| e.name() == "message" || e.attr("id") == Some("done")).await;
        if el.name() != "message" {
            break;
        }
        got.push(el.get_child("body", ns::CLIENT).unwrap().text().parse::<usize>().unwrap());
    }
    eprintln!("{} messages restored", got.len());
    assert!(got.len() >= before, "{} restored, {before} acknowledged before the backup", got.len());
    // One snapshot: every message up to some point, once, in order.
    assert_eq!(got, (0..got.len()).collect::<Vec<_>>(), "a consistent prefix of what was written");
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(fresh);
}

/// Restoring over a database no server has open keeps the old one as `.bak`; a file that
/// is not a backup is refused with nothing changed.
#[tokio::test]
async fn restore_keeps_the_replaced_database_and_refuses_what_is_no_backup() {
    if on_postgres() {
        return;
    }
    let dir = temp_dir("restore");
    let config = write_config(&dir, free_port()).await;
    let cfg = config.to_str().unwrap();
    assert!(run(&["user", "add", "alice", "--config", cfg], &dir, "pw\n").0);
    let file = dir.join("first.backup");
    assert!(run(&["backup", file.to_str().unwrap(), "--config", cfg], &dir, "").0);
    assert!(run(&["user", "add", "bob", "--config", cfg], &dir, "pw\n").0);

    let junk = dir.join("junk");
    std::fs::write(&junk, "<xml/>").unwrap();
    let (ok, _, err) = run(&["restore", junk.to_str().unwrap(), "--config", cfg], &dir, "");
    assert!(!ok && err.contains("is not a Rhein backup"), "{err}");
    let (_, out, _) = run(&["user", "list", "--config", cfg], &dir, "");
    assert_eq!(out, "alice@cli.example\nbob@cli.example\n");

    let (ok, out, err) = run(&["restore", file.to_str().unwrap(), "--config", cfg], &dir, "");
    assert!(ok, "{err}");
    assert!(out.contains("rhein.db.bak"), "{out}");
    let (_, out, _) = run(&["user", "list", "--config", cfg], &dir, "");
    assert_eq!(out, "alice@cli.example\n");
    assert!(dir.join("data/rhein.db.bak").exists());
    let _ = std::fs::remove_dir_all(dir);
}

//! The unread overview on a large archive: one account with `RHEIN_BENCH_ARCHIVE_ROWS`
//! messages (default 1,000,000) over 100 conversations (90 chats in its archive, 10 rooms
//! with archives of their own), in a SQLite file like the embedded default, or in the
//! database `RHEIN_BENCH_STORAGE_URL` names (an empty PostgreSQL database). Each chat and
//! room gets a read position somewhere in its history (an XEP-0490 displayed state) and a
//! few mentions; then the overview the account asks for at login is timed (p50/p99), after
//! a warm-up (and on PostgreSQL after a `VACUUM ANALYZE`).
//! `cargo bench -p rhein-storage --bench unread`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rhein_storage::{ArchiveRow, Db, Marks};
use std::time::{Duration, Instant};

const OWNER: &str = "heavy@bench.example";
const CHATS: usize = 90;
const ROOMS: usize = 10;
const SAMPLES: usize = 1000;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn chat(i: usize) -> String {
    format!("c{i}@bench.example")
}

fn room(i: usize) -> String {
    format!("r{i}@rooms.bench.example")
}

fn main() {
    let rows: usize = std::env::var("RHEIN_BENCH_ARCHIVE_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("rhein-unread-bench-{}", std::process::id()));
    let url = std::env::var("RHEIN_BENCH_STORAGE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = Db::connect(&url).await.unwrap();
        let body = "x".repeat(100);
        let message = |i: usize| ArchiveRow {
            stanza_id: format!("s{i}"),
            with_jid: chat(i % CHATS),
            ts: 1_700_000_000_000 + i as i64,
            stanza: format!(
                "<message xmlns='jabber:client' type='chat' from='{}/phone'><body>{body}</body></message>",
                chat(i % CHATS)
            ),
        };
        // A tenth of the messages in rooms, the rest in the account's chats.
        let in_rooms = rows / 10;
        let start = Instant::now();
        for chunk in (0..rows - in_rooms).collect::<Vec<_>>().chunks(10_000) {
            let batch: Vec<ArchiveRow> = chunk.iter().map(|i| message(*i)).collect();
            db.archive().append_batch(OWNER, &batch).await.unwrap();
        }
        for r in 0..ROOMS {
            let per_room = in_rooms / ROOMS;
            for chunk in (0..per_room).collect::<Vec<_>>().chunks(10_000) {
                let batch: Vec<ArchiveRow> =
                    chunk.iter().map(|i| ArchiveRow { with_jid: OWNER.into(), ..message(*i) }).collect();
                db.archive().append_batch(&room(r), &batch).await.unwrap();
            }
        }
        let fill = start.elapsed();
        println!(
            "archive of {rows} messages ({CHATS} chats, {ROOMS} rooms), filled in {:.1} s ({:.0} rows/s)",
            fill.as_secs_f64(),
            rows as f64 / fill.as_secs_f64()
        );
        if url.starts_with("postgres") {
            // What autovacuum would have done by the time anyone logs in; measured right after
            // the bulk load, its ANALYZE ran beside the queries and made the tail.
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("VACUUM ANALYZE").execute(&mut c).await.unwrap();
            c.close().await.unwrap();
        }

        // Read positions: each chat read up to a message in the last fifth of its history
        // (so thousands of unread messages to count once), each room likewise.
        let start = Instant::now();
        let mut marks = Vec::new();
        let chat_rows = rows - in_rooms;
        for c in 0..CHATS {
            let read = chat_rows - CHATS * (1 + c * 20) + c;
            let t = Instant::now();
            assert!(db.unread().displayed(OWNER, &chat(c), OWNER, &format!("s{read}")).await.unwrap());
            marks.push(t.elapsed());
        }
        for r in 0..ROOMS {
            let read = in_rooms / ROOMS - 1 - r * 500;
            let t = Instant::now();
            assert!(db.unread().displayed(OWNER, &room(r), &room(r), &format!("s{read}")).await.unwrap());
            marks.push(t.elapsed());
        }
        marks.sort();
        println!(
            "{} read positions set in {:.2} s (p50 {:.3} ms, p99 {:.3} ms each: one index range count)",
            CHATS + ROOMS,
            start.elapsed().as_secs_f64(),
            percentile(&marks, 0.5),
            percentile(&marks, 0.99)
        );
        // New messages after the positions, some mentioning the account, counted as they come.
        for i in 0..200 {
            let mentioned = if i % 10 == 0 { vec![OWNER.to_owned()] } else { Vec::new() };
            let row = ArchiveRow { stanza_id: format!("n{i}"), ..message(i) };
            db.archive()
                .append_marked(OWNER, &row, Some(Marks { author: None, mentioned: mentioned.clone() }))
                .await
                .unwrap();
            let in_room = ArchiveRow { stanza_id: format!("n{i}"), with_jid: "x@bench.example".into(), ..message(i) };
            db.archive()
                .append_marked(&room(i % ROOMS), &in_room, Some(Marks { author: None, mentioned }))
                .await
                .unwrap();
        }

        let open: Vec<String> = (0..CHATS).map(chat).collect();
        let rooms: Vec<String> = (0..ROOMS).map(room).collect();
        let mut times = Vec::with_capacity(SAMPLES);
        let mut unread = 0;
        // Warm-up: statements prepared, pages cached.
        for _ in 0..SAMPLES / 10 {
            db.unread().overview(OWNER, &open, &rooms, 200).await.unwrap();
        }
        for _ in 0..SAMPLES {
            let start = Instant::now();
            let overview = db.unread().overview(OWNER, &open, &rooms, 200).await.unwrap();
            times.push(start.elapsed());
            assert_eq!(overview.len(), CHATS + ROOMS);
            unread = overview.iter().map(|c| c.unread).sum::<i64>();
        }
        times.sort();
        println!("\n| query | p50 ms | p99 ms |\n|---|---|---|");
        println!(
            "| unread overview, {} conversations ({unread} unread in all) | {:.3} | {:.3} |",
            CHATS + ROOMS,
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
        db.close().await;
    });
    let _ = std::fs::remove_dir_all(dir);
}

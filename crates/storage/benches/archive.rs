//! Archive queries on a large archive: one account with `RHEIN_BENCH_ARCHIVE_ROWS` messages
//! (default 1,000,000) over 100 conversations, in a SQLite file like the embedded default.
//! Reports the fill rate and p50/p99 of the queries clients make most (the newest page of a
//! conversation, with its full count). `cargo bench -p rhein-storage --bench archive`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rhein_storage::{ArchiveQuery, ArchiveRow, Db, Page};
use std::time::{Duration, Instant};

const OWNER: &str = "heavy@bench.example";
const CONVERSATIONS: usize = 100;
const SAMPLES: usize = 500;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn measure(db: &Db, what: &str, mut q: impl FnMut(usize) -> ArchiveQuery) {
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let query = q(i);
        let start = Instant::now();
        let page = db.archive().query(OWNER, &query).await.unwrap().unwrap();
        times.push(start.elapsed());
        assert!(!page.rows.is_empty());
    }
    times.sort();
    println!("| {what} | {:.3} | {:.3} |", percentile(&times, 0.5), percentile(&times, 0.99));
}

fn main() {
    let rows: usize = std::env::var("RHEIN_BENCH_ARCHIVE_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("rhein-archive-bench-{}", std::process::id()));
    let url = format!("sqlite://{}/bench.db", dir.display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = Db::connect(&url).await.unwrap();
        let body = "x".repeat(100);
        let start = Instant::now();
        for chunk in (0..rows).collect::<Vec<_>>().chunks(10_000) {
            let batch: Vec<ArchiveRow> = chunk
                .iter()
                .map(|i| ArchiveRow {
                    stanza_id: format!("s{i}"),
                    with_jid: format!("c{}@bench.example", i % CONVERSATIONS),
                    ts: 1_700_000_000_000 + *i as i64,
                    stanza: format!("<message xmlns='jabber:client' type='chat'><body>{body}</body></message>"),
                })
                .collect();
            db.archive().append_batch(OWNER, &batch).await.unwrap();
        }
        let fill = start.elapsed();
        println!(
            "archive of {rows} messages ({CONVERSATIONS} conversations), filled in {:.1} s ({:.0} rows/s)\n",
            fill.as_secs_f64(),
            rows as f64 / fill.as_secs_f64()
        );
        println!("| query (max 50, with full count) | p50 ms | p99 ms |\n|---|---|---|");
        let with = |i: usize| Some(format!("c{}@bench.example", i % CONVERSATIONS));
        measure(&db, "newest page of one conversation", |i| ArchiveQuery {
            with: with(i),
            page: Page::Last,
            max: 50,
            ..Default::default()
        })
        .await;
        measure(&db, "newest page of the whole archive", |_| ArchiveQuery {
            page: Page::Last,
            max: 50,
            ..Default::default()
        })
        .await;
        measure(&db, "page before a message in the middle", |i| ArchiveQuery {
            with: with(i),
            page: Page::Before(format!("s{}", rows / 2 + i % CONVERSATIONS)),
            max: 50,
            ..Default::default()
        })
        .await;
        measure(&db, "one day of one conversation", |i| ArchiveQuery {
            with: with(i),
            start: Some(1_700_000_000_000 + (rows / 2) as i64),
            end: Some(1_700_000_000_000 + (rows / 2) as i64 + 86_400_000),
            max: 50,
            ..Default::default()
        })
        .await;
        db.close().await;
    });
    let _ = std::fs::remove_dir_all(dir);
}

//! The audit register: what one recorded action costs, and how long
//! verifying a register takes.
//!
//! `cargo bench -p vigie-ground --bench audit`
//!
//! - `append_file`: one `Audit::record` on a database file (WAL,
//!   `synchronous=FULL`: the row is on disk when it returns) plus the head
//!   anchor write. Every drone command pays this twice (before, result).
//! - `append_memory`: the same on an in-memory database: the cost without
//!   the disk.
//! - `verify_100k`: `check_chain` over 100 000 rows already read.
//! - `verify_file_10k`: `verify_with` on a file register of 10 000 rows
//!   written by the writer: read, chain, checkpoint signatures, head.
//! - `writer_enqueue_10k`: 10 000 entries queued on the server's writer
//!   thread (group commit) then one flush: what a reconnection storm's
//!   session records cost, per entry.
//! - `writer_receipts_64x`: 64 threads each recording with a receipt
//!   (waiting for the commit) at once, as concurrent drone commands or
//!   footage queries do: the batch shares one `fsync`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use vigie_ground::guardrails::audit::{self, Actor, Audit, Entry, Row};
use vigie_ground::store::Store;

fn entry(i: i64) -> Entry {
    Entry::new(
        i,
        Actor::Operator("paul".into()),
        "drone.command",
        "drone:udp0:1",
    )
    .detail(json!({"command": "goto", "lat_deg": 48.925, "lon_deg": 2.361, "alt_m": 60.0}))
}

fn chain(n: i64) -> Vec<Row> {
    let mut rows = Vec::with_capacity(n as usize);
    let mut prev = audit::GENESIS.to_string();
    for seq in 1..=n {
        let mut row = Row {
            seq,
            time_ms: seq,
            actor: "operator:paul".into(),
            action: "drone.command".into(),
            target: "drone:udp0:1".into(),
            detail: r#"{"command":"goto","lat_deg":48.925,"lon_deg":2.361,"alt_m":60.0}"#.into(),
            reason: String::new(),
            prev_hash: prev,
            hash: String::new(),
        };
        row.hash = audit::row_hash(&row);
        prev = row.hash.clone();
        rows.push(row);
    }
    rows
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("vigie-bench-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).expect("store");
    let file = Audit::open(&store).expect("audit");
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("append_file", |b| {
        b.iter(|| {
            i += 1;
            black_box(file.record(entry(i)).expect("record"))
        })
    });
    let mem = Store::in_memory().expect("store");
    let memory = Audit::open(&mem).expect("audit");
    group.bench_function("append_memory", |b| {
        b.iter(|| {
            i += 1;
            black_box(memory.record(entry(i)).expect("record"))
        })
    });
    let batched = Audit::start(&store).expect("writer");
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(10);
    group.bench_function("writer_enqueue_10k", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                for k in 0..10_000 {
                    batched.enqueue(entry(k)).expect("enqueue");
                }
                batched.flush().expect("flush");
            }
            start.elapsed()
        })
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("writer_receipts_64x", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                std::thread::scope(|s| {
                    for k in 0..64 {
                        let batched = batched.clone();
                        s.spawn(move || black_box(batched.record(entry(k)).expect("record")));
                    }
                });
            }
            start.elapsed()
        })
    });
    if let Some(stats) = batched.writer_stats() {
        eprintln!(
            "writer: {} rows in {} batches ({:.1} rows per commit)",
            stats.rows,
            stats.batches,
            stats.rows as f64 / stats.batches.max(1) as f64
        );
    }
    drop(batched);
    let vdir = dir.join("verify");
    let vstore = Store::open(&vdir).expect("store");
    {
        let writer = Audit::start(&vstore).expect("writer");
        for k in 0..10_000 {
            writer.enqueue(entry(k)).expect("enqueue");
        }
        writer.flush().expect("flush");
    }
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("verify_file_10k", |b| {
        b.iter(|| {
            let report = audit::verify_with(&vstore, &audit::VerifyOptions::default());
            black_box(report.expect("verify"))
        })
    });
    let rows = chain(100_000);
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.sample_size(10);
    group.bench_function("verify_100k", |b| {
        b.iter(|| black_box(audit::check_chain(&rows, None).expect("intact")))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);

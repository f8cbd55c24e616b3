//! The audit register against someone with file access to the data
//! directory: every kind of tamper is named by `verify`, at the right row,
//! also after a restart that wrote new rows.
//!
//! The attacker here has the database and the head file, not the signing
//! key (kept in its own file, which a copy of the database does not carry).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rusqlite::params;
use serde_json::json;
use vigie_ground::guardrails::audit::{self, Actor, Audit, Entry, Tamper};
use vigie_ground::store::Store;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-tamper-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn entry(i: i64) -> Entry {
    Entry::new(
        1_000 + i,
        Actor::Operator("paul".into()),
        "drone.command",
        "drone:udp0:1",
    )
    .detail(json!({"command": "goto", "i": i}))
}

/// Appends `n` rows through the server's writer (one or a few batches), as
/// a run of the server would, then stops it.
fn run_server(store: &Store, first: i64, n: i64) {
    let audit = Audit::start(store).unwrap();
    for i in first..first + n {
        audit.enqueue(entry(i)).unwrap();
    }
    audit.flush().unwrap();
}

fn sql(store: &Store, q: &str) {
    store.with_conn(|c| c.execute_batch(q)).unwrap();
}

fn head(dir: &Path) -> PathBuf {
    dir.join(audit::HEAD_FILE)
}

fn first_bad(store: &Store) -> Tamper {
    match audit::verify(store).unwrap() {
        Ok(n) => panic!("a tampered register verified as intact ({n} rows)"),
        Err(t) => t,
    }
}

/// Rewrites row `seq` and recomputes its hash and every later one, as
/// someone who knows the (public) hashing rule would.
fn rewrite_and_rehash(store: &Store, seq: i64) {
    let mut rows = Audit::open(store)
        .unwrap()
        .range(i64::MIN, i64::MAX)
        .unwrap();
    let at = rows.iter().position(|r| r.seq == seq).unwrap();
    rows[at].reason = "nothing happened".into();
    for i in at..rows.len() {
        if i > 0 {
            rows[i].prev_hash = rows[i - 1].hash.clone();
        }
        rows[i].hash = audit::row_hash(&rows[i]);
    }
    store
        .with_conn(|c| {
            for r in &rows[at..] {
                c.execute(
                    "UPDATE audit_log SET reason = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
                    params![r.reason, r.prev_hash, r.hash, r.seq],
                )?;
            }
            Ok(())
        })
        .unwrap();
    // The head as the old format wrote it: `seq hash`.
    let last = rows.last().unwrap();
    let dir = store.path().parent().unwrap();
    std::fs::write(head(dir), format!("{} {}\n", last.seq, last.hash)).unwrap();
}

#[test]
fn a_removed_tail_with_the_head_file_deleted_is_caught() {
    let dir = temp("tail-head-deleted");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 5);
    sql(&store, "DELETE FROM audit_log WHERE seq > 3");
    std::fs::remove_file(head(&dir)).unwrap();
    assert_eq!(first_bad(&store).seq(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_removed_tail_with_the_head_file_emptied_is_caught() {
    let dir = temp("tail-head-emptied");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 5);
    sql(&store, "DELETE FROM audit_log WHERE seq > 3");
    std::fs::write(head(&dir), "").unwrap();
    assert_eq!(first_bad(&store).seq(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_emptied_head_file_alone_is_an_error_not_a_fresh_start() {
    let dir = temp("head-emptied");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 5);
    std::fs::write(head(&dir), "").unwrap();
    first_bad(&store);
    std::fs::remove_file(head(&dir)).unwrap();
    first_bad(&store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_removed_tail_stays_caught_after_a_restart_writes_new_rows() {
    let dir = temp("tail-restart");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 5);
    sql(&store, "DELETE FROM audit_log WHERE seq > 3");
    drop(store);
    let store = Store::open(&dir).unwrap();
    run_server(&store, 100, 3);
    let seqs: Vec<i64> = Audit::open(&store)
        .unwrap()
        .range(i64::MIN, i64::MAX)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert!(
        !seqs[3..].contains(&4) && !seqs[3..].contains(&5),
        "removed sequence numbers are never given again: {seqs:?}"
    );
    assert_eq!(first_bad(&store).seq(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_row_rewritten_with_every_later_hash_recomputed_is_named() {
    let dir = temp("rehash");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 4);
    run_server(&store, 4, 4);
    rewrite_and_rehash(&store, 3);
    assert_eq!(first_bad(&store).seq(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_head_file_rolled_back_to_an_older_copy_is_caught() {
    let dir = temp("head-rollback");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 3);
    let old = std::fs::read(head(&dir)).unwrap();
    run_server(&store, 3, 2);
    std::fs::write(head(&dir), old).unwrap();
    assert_eq!(first_bad(&store).seq(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tampers an attacker with file access (not the key) can do.
#[derive(Debug, Clone)]
enum Kind {
    /// Change one row's content.
    Edit(i64),
    /// Delete one row before the last.
    Delete(i64),
    /// Swap the sequence numbers of two rows.
    Reorder(i64, i64),
    /// Delete every row after this one.
    Truncate(i64),
    /// Delete the head file.
    HeadRemoved,
    /// Empty the head file.
    HeadEmptied,
    /// Put back the head file as it was after this row.
    HeadRolledBack(i64),
    /// Rewrite this row and recompute every later hash.
    Rehash(i64),
}

impl Kind {
    /// The row `verify` must name: the first one the tamper touches.
    fn expected_seq(&self, n: i64) -> i64 {
        match *self {
            Kind::Edit(k) | Kind::Delete(k) | Kind::Rehash(k) => k,
            Kind::Reorder(i, j) => i.min(j),
            Kind::Truncate(k) | Kind::HeadRolledBack(k) => k + 1,
            // The first row no longer anchored.
            Kind::HeadRemoved | Kind::HeadEmptied => n + 1,
        }
    }
}

fn kind(n: i64) -> impl Strategy<Value = Kind> {
    prop_oneof![
        (1..=n).prop_map(Kind::Edit),
        (1..n).prop_map(Kind::Delete),
        (1..n)
            .prop_flat_map(move |i| (Just(i), i + 1..=n))
            .prop_map(|(i, j)| Kind::Reorder(i, j)),
        (1..n).prop_map(Kind::Truncate),
        Just(Kind::HeadRemoved),
        Just(Kind::HeadEmptied),
        (1..n).prop_map(Kind::HeadRolledBack),
        (1..=n).prop_map(Kind::Rehash),
    ]
}

/// Builds a register of `n` rows in `batches` runs, applies the tamper,
/// optionally restarts the server for a few more rows, and checks verify.
fn tamper_case(case: usize, n: i64, kind: &Kind, restart: bool) -> Result<(), TestCaseError> {
    let dir = temp(&format!("prop-{case}"));
    let store = Store::open(&dir).unwrap();
    let mut rolled_back = None;
    for i in 0..n {
        run_server(&store, i, 1);
        if matches!(kind, Kind::HeadRolledBack(k) if *k == i + 1) {
            rolled_back = Some(std::fs::read(head(&dir)).unwrap());
        }
    }
    match *kind {
        Kind::Edit(k) => sql(
            &store,
            &format!("UPDATE audit_log SET target = 'drone:elsewhere' WHERE seq = {k}"),
        ),
        Kind::Delete(k) => sql(&store, &format!("DELETE FROM audit_log WHERE seq = {k}")),
        Kind::Reorder(i, j) => sql(
            &store,
            &format!(
                "UPDATE audit_log SET seq = -1 WHERE seq = {i};
                 UPDATE audit_log SET seq = {i} WHERE seq = {j};
                 UPDATE audit_log SET seq = {j} WHERE seq = -1;"
            ),
        ),
        Kind::Truncate(k) => sql(&store, &format!("DELETE FROM audit_log WHERE seq > {k}")),
        Kind::HeadRemoved => std::fs::remove_file(head(&dir)).unwrap(),
        Kind::HeadEmptied => std::fs::write(head(&dir), "").unwrap(),
        Kind::HeadRolledBack(_) => std::fs::write(head(&dir), rolled_back.unwrap()).unwrap(),
        Kind::Rehash(k) => rewrite_and_rehash(&store, k),
    }
    if restart {
        drop(store);
        let store = Store::open(&dir).unwrap();
        run_server(&store, 1000, 3);
    }
    let store = Store::open(&dir).unwrap();
    let verdict = audit::verify(&store).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    match verdict {
        Ok(rows) => Err(TestCaseError::fail(format!(
            "{kind:?} on {n} rows (restart: {restart}) verified as intact ({rows} rows)"
        ))),
        Err(t) => {
            prop_assert_eq!(
                t.seq(),
                kind.expected_seq(n),
                "{:?} on {} rows (restart: {}): {}",
                kind,
                n,
                restart,
                t
            );
            Ok(())
        }
    }
}

#[test]
fn no_random_tamper_verifies_as_intact_and_the_right_row_is_named() {
    let config = Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let case = std::sync::atomic::AtomicUsize::new(0);
    let strategy = (2i64..12).prop_flat_map(|n| (Just(n), kind(n), any::<bool>()));
    runner
        .run(&strategy, |(n, kind, restart)| {
            let c = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tamper_case(c, n, &kind, restart)
        })
        .unwrap();
}

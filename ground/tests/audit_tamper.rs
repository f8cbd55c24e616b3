//! The audit register against someone with file access to the data
//! directory: every kind of tamper is named by `verify`, at the right row,
//! also after a restart that wrote new rows.
//!
//! The attacker here has the database and the head file, not the signing
//! key (kept in its own file, which a copy of the database does not carry).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use rusqlite::params;
use serde_json::json;
use vigie_ground::config::Config;
use vigie_ground::guardrails::audit::{self, Actor, Audit, Entry, Tamper, VerifyOptions};
use vigie_ground::guardrails::audit_seal::{self, AuditConfig};
use vigie_ground::server::Server;
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
    // Two runs, so at least two batches, after the copy.
    run_server(&store, 3, 1);
    run_server(&store, 4, 1);
    std::fs::write(head(&dir), old).unwrap();
    assert_eq!(first_bad(&store).seq(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `kill -9` or a power cut between a batch's commit and the head's write
/// leaves the head exactly one batch behind, with the batch's rows present
/// and signed: nothing is lost, so the register verifies (with a note) and
/// the server starts again, as it must after a crash.
#[test]
fn a_head_one_batch_behind_after_an_abrupt_stop_is_no_tamper() {
    let dir = temp("crash-window");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 3);
    let before_last_batch = std::fs::read(head(&dir)).unwrap();
    run_server(&store, 3, 1);
    // The last batch committed, its head never written.
    std::fs::write(head(&dir), before_last_batch).unwrap();
    match audit::verify(&store).unwrap() {
        Ok(n) => assert_eq!(n, 4),
        Err(t) => panic!("an abrupt stop read as tampering: {t}"),
    }
    // The next run writes on and the head catches up.
    run_server(&store, 4, 2);
    assert_eq!(audit::verify(&store).unwrap().ok(), Some(6));
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
        // At least two one-row batches behind: one batch behind is what an
        // abrupt stop leaves (see above), not a tamper.
        (1..n - 1).prop_map(Kind::HeadRolledBack),
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
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let case = std::sync::atomic::AtomicUsize::new(0);
    let strategy = (3i64..12).prop_flat_map(|n| (Just(n), kind(n), any::<bool>()));
    runner
        .run(&strategy, |(n, kind, restart)| {
            let c = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tamper_case(c, n, &kind, restart)
        })
        .unwrap();
}

/// Copies every file of `from` into `to` (a backup of the data directory).
fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_consistent_rollback_of_the_whole_directory_is_caught_by_the_inspectors_copy() {
    let dir = temp("rollback");
    let backup = temp("rollback-backup");
    {
        let store = Store::open(&dir).unwrap();
        run_server(&store, 0, 3);
    }
    copy_dir(&dir, &backup);
    let inspector = {
        let store = Store::open(&dir).unwrap();
        run_server(&store, 3, 2);
        let public_key = audit_seal::read_public_key(&dir.join(audit_seal::PUBLIC_KEY_FILE))
            .unwrap()
            .unwrap();
        VerifyOptions {
            public_key: Some(public_key),
            checkpoints: audit::export_checkpoints(&store).unwrap(),
        }
    };
    // Someone puts back the older copy of everything: database, head,
    // checkpoint file. On its own it is consistent...
    std::fs::remove_dir_all(&dir).unwrap();
    copy_dir(&backup, &dir);
    let store = Store::open(&dir).unwrap();
    assert_eq!(audit::verify(&store).unwrap(), Ok(3));
    // ...but not with what the inspector kept.
    let report = audit::verify_with(&store, &inspector).unwrap();
    assert_eq!(
        report.first(),
        Some(&Tamper::Removed { seq: 4 }),
        "{report:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&backup);
}

#[test]
fn a_register_resealed_with_another_key_fails_with_the_inspectors_public_key() {
    let dir = temp("other-key");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 3);
    let key = audit_seal::read_public_key(&dir.join(audit_seal::PUBLIC_KEY_FILE))
        .unwrap()
        .unwrap();
    // Rewrite a row, then replace key, public key and every checkpoint
    // with new ones made by a fresh key (the register "re-sealed").
    rewrite_and_rehash(&store, 2);
    std::fs::remove_file(dir.join("ca").join(audit_seal::SIGNING_KEY_FILE)).unwrap();
    std::fs::remove_file(dir.join(audit_seal::PUBLIC_KEY_FILE)).unwrap();
    std::fs::remove_file(dir.join(audit_seal::CHECKPOINT_FILE)).unwrap();
    std::fs::remove_file(head(&dir)).unwrap();
    sql(&store, "DELETE FROM audit_checkpoint");
    drop(store);
    let store = Store::open(&dir).unwrap();
    drop(Audit::open(&store).unwrap());
    let inspector = VerifyOptions {
        public_key: Some(key),
        checkpoints: Vec::new(),
    };
    let report = audit::verify_with(&store, &inspector).unwrap();
    assert!(!report.intact());
    assert_eq!(report.first().unwrap().seq(), 1, "{report:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_register_from_before_signing_is_sealed_as_found_and_said_so() {
    let dir = temp("legacy");
    let store = Store::open(&dir).unwrap();
    audit::migrate(&store).unwrap();
    // Rows as an older version wrote them: chained, no checkpoint, no key,
    // an unsigned head.
    let mut prev = audit::GENESIS.to_string();
    for seq in 1..=4 {
        let mut row = audit::Row {
            seq,
            time_ms: seq,
            actor: "system".into(),
            action: "config.loaded".into(),
            target: "server".into(),
            detail: "{}".into(),
            reason: String::new(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        row.hash = audit::row_hash(&row);
        store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO audit_log (seq, time_ms, actor, action, target, detail, reason, prev_hash, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![row.seq, row.time_ms, row.actor, row.action, row.target, row.detail, row.reason, row.prev_hash, row.hash],
                )
            })
            .unwrap();
        prev = row.hash;
    }
    std::fs::write(head(&dir), format!("4 {prev}\n")).unwrap();
    let before = audit::verify_with(&store, &VerifyOptions::default()).unwrap();
    assert!(before.intact(), "{before:?}");
    assert!(
        before
            .lines()
            .join("\n")
            .contains("rows 1..4 are not signed"),
        "{before:?}"
    );
    // The first signing version to open it seals the rows as found.
    run_server(&store, 10, 2);
    let after = audit::verify_with(&store, &VerifyOptions::default()).unwrap();
    assert!(after.intact(), "{after:?}");
    assert_eq!(after.predates_signing, Some((1, 4)));
    assert_eq!(after.signed_rows, 6);
    assert!(
        after
            .lines()
            .join("\n")
            .contains("rows 1..4 predate signing"),
        "{after:?}"
    );
    // From then on, a rewrite of an old row is caught too.
    rewrite_and_rehash(&store, 2);
    assert_eq!(first_bad(&store), Tamper::Rewritten { seq: 2 });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_signing_key_is_private_and_apart_from_the_database() {
    let dir = temp("key-mode");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 1);
    let key = dir.join("ca").join(audit_seal::SIGNING_KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Elsewhere when configured; offline commands find it through the
    // locator the server writes.
    let elsewhere = temp("key-elsewhere");
    let config = AuditConfig {
        signing_key: Some(elsewhere.join("audit.key")),
        checkpoint_dir: Some(elsewhere.clone()),
        accept_damaged: false,
    };
    let dir2 = temp("key-configured");
    let store2 = Store::open(&dir2).unwrap();
    let (audit, damage) = audit::start_checked(&store2, &config).unwrap();
    assert_eq!(damage, None);
    audit.record(entry(1)).unwrap();
    drop(audit);
    assert!(elsewhere.join("audit.key").exists());
    assert!(elsewhere.join(audit_seal::CHECKPOINT_FILE).exists());
    assert!(!dir2.join("ca").join(audit_seal::SIGNING_KEY_FILE).exists());
    Audit::open(&store2).unwrap().record(entry(2)).unwrap();
    assert!(!dir2.join("ca").join(audit_seal::SIGNING_KEY_FILE).exists());
    assert_eq!(audit::verify(&store2).unwrap(), Ok(2));
    for d in [&dir, &elsewhere, &dir2] {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn server_config(dir: &Path) -> Config {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.http.listen = "127.0.0.1:0".parse().unwrap();
    c.quic.listen = "127.0.0.1:0".parse().unwrap();
    c.mavlink.links = Vec::new();
    c
}

/// `GET path` over a raw TCP connection; the response body.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_damaged_register_unless_accepted_then_says_so() {
    let dir = temp("serve");
    {
        let store = Store::open(&dir).unwrap();
        run_server(&store, 0, 5);
        sql(&store, "DELETE FROM audit_log WHERE seq > 3");
    }
    let refused = Server::start(server_config(&dir))
        .await
        .err()
        .expect("refused");
    let text = format!("{refused:#}");
    assert!(text.contains("TAMPERED at seq 4"), "{text}");
    assert!(text.contains("--accept-damaged-audit"), "{text}");
    let mut config = server_config(&dir);
    config.audit.accept_damaged = true;
    let server = Server::start(config).await.expect("starts when accepted");
    let damage = server.state().audit_damage.clone().expect("damage shown");
    assert!(damage.contains("seq 4"), "{damage}");
    let http = server.state().listener("http").unwrap();
    let health: serde_json::Value =
        serde_json::from_str(&get(http, "/api/v1/health").await).unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["audit_damage"].as_str().unwrap().contains("seq 4"),
        "{health}"
    );
    server.stop().await.unwrap();
    let store = Store::open(&dir).unwrap();
    let rows = Audit::open(&store)
        .unwrap()
        .range(i64::MIN, i64::MAX)
        .unwrap();
    let accepted = rows
        .iter()
        .find(|r| r.action == audit::DAMAGE_ACCEPTED)
        .expect("the damage is in the register");
    assert!(
        accepted.detail.contains("\"first_bad_seq\":4"),
        "{accepted:?}"
    );
    // And it stays named.
    assert_eq!(first_bad(&store).seq(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_not_signed_by_the_key_is_named_as_forged() {
    let dir = temp("forged-checkpoint");
    let store = Store::open(&dir).unwrap();
    run_server(&store, 0, 4);
    // Someone appends a checkpoint of their own (signed by another key).
    let other = audit_seal::Signer::ephemeral().unwrap();
    let rows = Audit::open(&store)
        .unwrap()
        .range(i64::MIN, i64::MAX)
        .unwrap();
    let fake = audit_seal::Checkpoint::sign(&other, 2, vec![rows[1].hash.clone()], 0, false);
    audit_seal::append_checkpoints(&dir.join(audit_seal::CHECKPOINT_FILE), &[fake]).unwrap();
    let report = audit::verify_with(&store, &VerifyOptions::default()).unwrap();
    assert!(
        matches!(
            report.first(),
            Some(Tamper::ForgedCheckpoint { first_seq: 2, .. })
        ),
        "{report:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

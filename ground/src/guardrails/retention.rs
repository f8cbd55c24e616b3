//! Retention: what is kept, for how long, legal holds, and the register of
//! what was deleted.
//!
//! What Vigie keeps that falls under retention limits:
//! - **Coverage history** (`coverage_interval`: which camera or drone saw
//!   which ground, when): purged `[coverage] history_retention_days` after
//!   each interval ended.
//! - **Recordings index** (`recording_index`: source, start, end, footprint,
//!   storage URI; see [`super::recordings`]), registered by recorders. Drone recordings go `drone_recordings_days` after the operation
//!   (the recording's end), fixed video-protection ones after
//!   `fixed_video_days`. Deleting the index row is the signal for the
//!   storage to delete the file (the register lists the URI).
//! - **Telemetry / position history**: the recorded picture (`timeline_step`,
//!   for replay) is purged by whole keyframe periods after `telemetry_days`;
//!   the last known state of each unit (`unit_last_known`, to recover after a
//!   restart) is forgotten once the unit is silent that long. Legal holds do
//!   not apply to the timeline yet (export what is needed first).
//!
//! A legal hold (`vigie retention hold ITEM --reason ...`) suspends the purge
//! of one item (an item seized for proceedings) until released. Every purge
//! pass writes what it deleted to `deletion_register`.
//!
//! [`plan`] is pure (candidates, holds, limits, `now` in → deletions out) and
//! tested on virtual time; [`purge`] runs it against the store.

use std::collections::HashSet;

use rusqlite::{OptionalExtension as _, params};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// This module's migrations, in order. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE recording_index (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        location TEXT NOT NULL,
        uri TEXT NOT NULL
    );
    CREATE TABLE legal_hold (
        item TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        held_by TEXT NOT NULL,
        held_ms INTEGER NOT NULL
    );
    CREATE TABLE deletion_register (
        id INTEGER PRIMARY KEY,
        deleted_ms INTEGER NOT NULL,
        item TEXT NOT NULL,
        category TEXT NOT NULL,
        ended_ms INTEGER NOT NULL,
        detail TEXT NOT NULL
    );",
    // 2: the proceedings' reference of a hold; the recordings index as a
    // VMS keeps one (source kind, footprint, authorisation, who registered).
    "ALTER TABLE legal_hold ADD COLUMN reference TEXT NOT NULL DEFAULT '';
    ALTER TABLE recording_index ADD COLUMN source_kind TEXT NOT NULL DEFAULT '';
    ALTER TABLE recording_index ADD COLUMN footprint TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE recording_index ADD COLUMN authorisation INTEGER;
    ALTER TABLE recording_index ADD COLUMN recorded_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE recording_index ADD COLUMN registered_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE recording_index ADD COLUMN min_lat REAL;
    ALTER TABLE recording_index ADD COLUMN min_lon REAL;
    ALTER TABLE recording_index ADD COLUMN max_lat REAL;
    ALTER TABLE recording_index ADD COLUMN max_lon REAL;
    CREATE INDEX recording_index_time ON recording_index (start_ms, end_ms);
    CREATE INDEX deletion_register_time ON deletion_register (deleted_ms);",
];

/// Creates or upgrades the retention tables.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate_module("retention", MIGRATIONS)
}

const DAY_MS: i64 = 86_400_000;

/// `[retention]` in the configuration: how long recordings and telemetry are
/// kept. Coverage history's limit is `[coverage] history_retention_days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Drone recordings, days after the operation (legal maximum 7 unless
    /// seized). Counted from the segment's end, which is never after the
    /// operation's. Default 7.
    pub drone_recordings_days: u32,
    /// Fixed video-protection recordings, days (legal maximum 30). Default 30.
    pub fixed_video_days: u32,
    /// Patrol tablets' camera recordings, days. Default 30 (as fixed
    /// video-protection, the longest the law allows it).
    pub tablet_recordings_days: u32,
    /// The recorded picture (timeline) and the last known state of a unit
    /// not heard from since, days. Default 30.
    pub telemetry_days: u32,
    /// Time between purge passes, seconds. Default 3600.
    pub purge_interval_s: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            drone_recordings_days: 7,
            fixed_video_days: 30,
            tablet_recordings_days: 30,
            telemetry_days: 30,
            purge_interval_s: 3600,
        }
    }
}

/// Every retention limit in force, milliseconds, from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// `[retention]` as configured.
    pub config: RetentionConfig,
    /// Coverage history, from `[coverage] history_retention_days`.
    pub coverage_history_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            config: RetentionConfig::default(),
            coverage_history_ms: 30 * DAY_MS,
        }
    }
}

impl Limits {
    /// The limits of a server configuration.
    pub fn from_config(config: &crate::config::Config) -> Limits {
        Limits {
            config: config.retention.clone(),
            coverage_history_ms: config.coverage.retention_ms(),
        }
    }
}

/// What kind of data an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A drone recording in the index.
    DroneRecording,
    /// A fixed video-protection recording in the index.
    FixedRecording,
    /// A patrol tablet's recording in the index.
    TabletRecording,
    /// A coverage-history interval.
    CoverageHistory,
    /// A unit's last known state.
    Telemetry,
}

impl Category {
    /// The name in the register.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::DroneRecording => "drone_recording",
            Category::FixedRecording => "fixed_recording",
            Category::TabletRecording => "tablet_recording",
            Category::CoverageHistory => "coverage_history",
            Category::Telemetry => "telemetry",
        }
    }

    /// A recording's category from its stored name (drone when unknown:
    /// the shortest limit).
    pub fn parse_recording(name: &str) -> Category {
        match name {
            "fixed_recording" => Category::FixedRecording,
            "tablet_recording" => Category::TabletRecording,
            _ => Category::DroneRecording,
        }
    }

    /// How long this category is kept under `limits`, milliseconds.
    pub fn limit_ms(self, limits: &Limits) -> i64 {
        let days = match self {
            Category::DroneRecording => limits.config.drone_recordings_days,
            Category::FixedRecording => limits.config.fixed_video_days,
            Category::TabletRecording => limits.config.tablet_recordings_days,
            Category::CoverageHistory => return limits.coverage_history_ms,
            Category::Telemetry => limits.config.telemetry_days,
        };
        i64::from(days) * DAY_MS
    }
}

/// Something that may be purged.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Item name, as holds name it: `recording:ID`, `coverage:ID`,
    /// `camera:ID@IMPORTED_MS` (a retired fixed camera), `unit:ID`.
    pub item: String,
    /// Its category.
    pub category: Category,
    /// When it ended (its retention runs from there), Unix milliseconds.
    pub ended_ms: i64,
    /// What the register says about it (source, URI).
    pub detail: String,
}

/// The items of `candidates` due for deletion at `now_ms`: past their
/// category's limit and not under a legal hold.
pub fn plan<'a>(
    now_ms: i64,
    cfg: &Limits,
    candidates: &'a [Candidate],
    holds: &HashSet<String>,
) -> Vec<&'a Candidate> {
    candidates
        .iter()
        .filter(|c| now_ms - c.ended_ms > c.category.limit_ms(cfg))
        .filter(|c| !holds.contains(&c.item))
        .collect()
}

/// A recording to index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// Id (0 before it is stored).
    pub id: i64,
    /// Source unit id (a drone, a fixed camera).
    pub source: String,
    /// Drone or fixed camera recording.
    pub category: Category,
    /// Start, Unix milliseconds.
    pub start_ms: i64,
    /// End, Unix milliseconds.
    pub end_ms: i64,
    /// Where, as free text or GeoJSON.
    pub location: String,
    /// Where the file is stored.
    pub uri: String,
}

/// A legal hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    /// The held item.
    pub item: String,
    /// Why it is held.
    pub reason: String,
    /// Who placed it.
    pub held_by: String,
    /// When, Unix milliseconds.
    pub held_ms: i64,
    /// The proceedings' reference (case or seizure number); empty for holds
    /// placed before it was asked.
    #[serde(default)]
    pub reference: String,
}

/// One line of the deletion register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deleted {
    /// When it was deleted, Unix milliseconds.
    pub deleted_ms: i64,
    /// The item.
    pub item: String,
    /// Its category.
    pub category: String,
    /// When it ended, Unix milliseconds.
    pub ended_ms: i64,
    /// What it was.
    pub detail: String,
}

/// Why a hold could not be placed or released.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// The item name is not one Vigie keeps.
    #[error(
        "{0:?} is not an item: use recording:ID, coverage:ID, camera:ID@IMPORTED_MS or unit:ID (`vigie retention list` shows recordings)"
    )]
    BadItem(String),
    /// The reason is empty.
    #[error("a legal hold needs a reason: the proceedings' reference")]
    NoReason,
    /// No hold on that item.
    #[error("no legal hold on {0}")]
    NotHeld(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Indexes a recording; returns its id.
    pub fn index_recording(&self, r: &Recording) -> Result<i64, StoreError> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO recording_index (source, kind, start_ms, end_ms, location, uri)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    r.source,
                    r.category.as_str(),
                    r.start_ms,
                    r.end_ms,
                    r.location,
                    r.uri
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Every indexed recording.
    pub fn list_recordings(&self) -> Result<Vec<Recording>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT id, source, kind, start_ms, end_ms, location, uri FROM recording_index ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                let kind: String = r.get(2)?;
                Ok(Recording {
                    id: r.get(0)?,
                    source: r.get(1)?,
                    category: Category::parse_recording(&kind),
                    start_ms: r.get(3)?,
                    end_ms: r.get(4)?,
                    location: r.get(5)?,
                    uri: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Places a legal hold on `item` (no proceedings' reference).
    pub fn hold(&self, item: &str, reason: &str, by: &str, now_ms: i64) -> Result<(), HoldError> {
        self.hold_for(item, reason, "", by, now_ms)
    }

    /// Places a legal hold on `item` for `reason`, citing the proceedings'
    /// `reference` (a case or seizure number), or updates the one there.
    pub fn hold_for(
        &self,
        item: &str,
        reason: &str,
        reference: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<(), HoldError> {
        let valid = ["recording:", "coverage:", "camera:", "unit:"]
            .iter()
            .any(|p| item.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
        if !valid {
            return Err(HoldError::BadItem(item.into()));
        }
        if reason.trim().is_empty() {
            return Err(HoldError::NoReason);
        }
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO legal_hold (item, reason, held_by, held_ms, reference) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(item) DO UPDATE SET reason = excluded.reason, held_by = excluded.held_by,
                    held_ms = excluded.held_ms, reference = excluded.reference",
                params![item, reason, by, now_ms, reference],
            )
        })?;
        Ok(())
    }

    /// Releases the legal hold on `item`.
    pub fn release(&self, item: &str) -> Result<(), HoldError> {
        let n =
            self.with_conn(|c| c.execute("DELETE FROM legal_hold WHERE item = ?1", params![item]))?;
        if n == 0 {
            return Err(HoldError::NotHeld(item.into()));
        }
        Ok(())
    }

    /// Every legal hold.
    pub fn holds(&self) -> Result<Vec<Hold>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT item, reason, held_by, held_ms, reference FROM legal_hold ORDER BY item",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Hold {
                    item: r.get(0)?,
                    reason: r.get(1)?,
                    held_by: r.get(2)?,
                    held_ms: r.get(3)?,
                    reference: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The deletion register, oldest first.
    pub fn deletions(&self) -> Result<Vec<Deleted>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT deleted_ms, item, category, ended_ms, detail FROM deletion_register ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Deleted {
                    deleted_ms: r.get(0)?,
                    item: r.get(1)?,
                    category: r.get(2)?,
                    ended_ms: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }
}

/// Whether a table exists (coverage tables are created by the coverage
/// module; a data directory may not have them yet).
fn has_table(c: &rusqlite::Connection, name: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Everything that could be purged at `now_ms` under `cfg`: only rows past
/// the smallest limit are read.
fn candidates(store: &Store, now_ms: i64, cfg: &Limits) -> Result<Vec<Candidate>, StoreError> {
    store.with_conn(|c| {
        let mut out = Vec::new();
        let before = |cat: Category| now_ms - cat.limit_ms(cfg);
        let mut stmt = c.prepare(
            "SELECT id, source, kind, end_ms, uri FROM recording_index WHERE end_ms < ?1",
        )?;
        let oldest = before(Category::DroneRecording)
            .max(before(Category::FixedRecording))
            .max(before(Category::TabletRecording));
        let rows = stmt.query_map(params![oldest], |r| {
            let kind: String = r.get(2)?;
            Ok(Candidate {
                item: format!("recording:{}", r.get::<_, i64>(0)?),
                category: Category::parse_recording(&kind),
                ended_ms: r.get(3)?,
                detail: format!("{} {}", r.get::<_, String>(1)?, r.get::<_, String>(4)?),
            })
        })?;
        for r in rows {
            out.push(r?);
        }
        if has_table(c, "coverage_interval")? {
            let mut stmt =
                c.prepare("SELECT id, source_id, to_ms FROM coverage_interval WHERE to_ms < ?1")?;
            let rows = stmt.query_map(params![before(Category::CoverageHistory)], |r| {
                Ok(Candidate {
                    item: format!("coverage:{}", r.get::<_, i64>(0)?),
                    category: Category::CoverageHistory,
                    ended_ms: r.get(2)?,
                    detail: r.get(1)?,
                })
            })?;
            for r in rows {
                out.push(r?);
            }
            // Retired fixed cameras are kept for history as long as it.
            let mut stmt = c.prepare(
                "SELECT id, imported_ms, retired_ms FROM coverage_camera
                 WHERE retired_ms IS NOT NULL AND retired_ms < ?1",
            )?;
            let rows = stmt.query_map(params![before(Category::CoverageHistory)], |r| {
                let id: String = r.get(0)?;
                Ok(Candidate {
                    item: format!("camera:{id}@{}", r.get::<_, i64>(1)?),
                    category: Category::CoverageHistory,
                    ended_ms: r.get(2)?,
                    detail: format!("retired fixed camera {id}"),
                })
            })?;
            for r in rows {
                out.push(r?);
            }
        }
        let mut stmt =
            c.prepare("SELECT id, updated_ms FROM unit_last_known WHERE updated_ms < ?1")?;
        let rows = stmt.query_map(params![before(Category::Telemetry)], |r| {
            Ok(Candidate {
                item: format!("unit:{}", r.get::<_, String>(0)?),
                category: Category::Telemetry,
                ended_ms: r.get(1)?,
                detail: "last known state".into(),
            })
        })?;
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    })
}

/// One purge pass at `now_ms`: deletes what [`plan`] says, writes each
/// deletion to the register in the same transaction, returns how many
/// items went by category.
pub fn purge(
    store: &Store,
    now_ms: i64,
    cfg: &Limits,
) -> Result<Vec<(Category, usize)>, StoreError> {
    migrate(store)?;
    let all = candidates(store, now_ms, cfg)?;
    let holds: HashSet<String> = store.holds()?.into_iter().map(|h| h.item).collect();
    let due = plan(now_ms, cfg, &all, &holds);
    let mut counts: Vec<(Category, usize)> = Vec::new();
    // Segment files this ground recorded, removed once their rows are.
    let mut files: Vec<String> = Vec::new();
    store.with_conn(|c| {
        let tx = c.transaction()?;
        let video = has_table(&tx, "video_segment")?;
        for d in &due {
            let n = match d.item.split_once(':') {
                Some(("recording", id)) => {
                    let id = id.parse::<i64>().unwrap_or(-1);
                    if video {
                        files.extend(
                            tx.query_row(
                                "SELECT path FROM video_segment WHERE recording = ?1",
                                params![id],
                                |r| r.get::<_, String>(0),
                            )
                            .optional()?,
                        );
                        tx.execute(
                            "DELETE FROM video_view_where WHERE id IN
                               (SELECT id FROM video_view WHERE recording = ?1)",
                            params![id],
                        )?;
                        tx.execute("DELETE FROM video_view WHERE recording = ?1", params![id])?;
                        tx.execute(
                            "DELETE FROM video_fragment WHERE recording = ?1",
                            params![id],
                        )?;
                        tx.execute(
                            "DELETE FROM video_segment WHERE recording = ?1",
                            params![id],
                        )?;
                    }
                    tx.execute("DELETE FROM recording_index WHERE id = ?1", params![id])?
                }
                Some(("coverage", id)) => tx.execute(
                    "DELETE FROM coverage_interval WHERE id = ?1",
                    params![id.parse::<i64>().unwrap_or(-1)],
                )?,
                Some(("camera", key)) => {
                    let (id, imported) = key.rsplit_once('@').unwrap_or((key, "-1"));
                    tx.execute(
                        "DELETE FROM coverage_camera WHERE id = ?1 AND imported_ms = ?2",
                        params![id, imported.parse::<i64>().unwrap_or(-1)],
                    )?
                }
                Some(("unit", id)) => {
                    tx.execute("DELETE FROM unit_last_known WHERE id = ?1", params![id])?
                }
                _ => 0,
            };
            if n == 0 {
                continue;
            }
            tx.execute(
                "INSERT INTO deletion_register (deleted_ms, item, category, ended_ms, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![now_ms, d.item, d.category.as_str(), d.ended_ms, d.detail],
            )?;
            match counts.iter_mut().find(|(c, _)| *c == d.category) {
                Some((_, n)) => *n += 1,
                None => counts.push((d.category, 1)),
            }
        }
        tx.commit()
    })?;
    for f in files {
        if let Err(e) = std::fs::remove_file(&f)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!("the purged segment file {f} could not be removed: {e}");
        }
    }
    // The recorded picture goes by whole keyframe periods, as one register
    // line per pass (its rows are many and small).
    if has_timeline(store)? {
        let before = now_ms - Category::Telemetry.limit_ms(cfg);
        let n = store.purge_timeline_before(before)?;
        if n > 0 {
            store.with_conn(|c| {
                c.execute(
                    "INSERT INTO deletion_register (deleted_ms, item, category, ended_ms, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        now_ms,
                        format!("timeline:before:{before}"),
                        Category::Telemetry.as_str(),
                        before,
                        format!("{n} recorded picture steps")
                    ],
                )
            })?;
            match counts.iter_mut().find(|(c, _)| *c == Category::Telemetry) {
                Some((_, k)) => *k += n,
                None => counts.push((Category::Telemetry, n)),
            }
        }
    }
    Ok(counts)
}

fn has_timeline(store: &Store) -> Result<bool, StoreError> {
    store.with_conn(|c| has_table(c, "timeline_step"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(item: &str, category: Category, ended_ms: i64) -> Candidate {
        Candidate {
            item: item.into(),
            category,
            ended_ms,
            detail: String::new(),
        }
    }

    #[test]
    fn each_category_has_its_limit_and_holds_suspend_the_purge() {
        let cfg = Limits::default();
        let day = DAY_MS;
        let c = vec![
            cand("recording:1", Category::DroneRecording, 0),
            cand("recording:2", Category::FixedRecording, 0),
            cand("coverage:3", Category::CoverageHistory, 0),
            cand("recording:4", Category::DroneRecording, 0),
        ];
        let none = HashSet::new();
        let names = |v: Vec<&Candidate>| v.iter().map(|c| c.item.clone()).collect::<Vec<_>>();
        assert!(
            plan(7 * day, &cfg, &c, &none).is_empty(),
            "exactly 7 days: kept"
        );
        assert_eq!(
            names(plan(7 * day + 1, &cfg, &c, &none)),
            ["recording:1", "recording:4"]
        );
        let held: HashSet<String> = ["recording:4".to_string()].into();
        assert_eq!(names(plan(7 * day + 1, &cfg, &c, &held)), ["recording:1"]);
        assert_eq!(
            names(plan(30 * day + 1, &cfg, &c, &held)),
            ["recording:1", "recording:2", "coverage:3"]
        );
    }

    #[test]
    fn a_purge_pass_deletes_registers_and_respects_holds() {
        let store = Store::in_memory().unwrap();
        migrate(&store).unwrap();
        crate::coverage::history::migrate(&store).unwrap();
        let cfg = Limits::default();
        let rec = |end_ms| Recording {
            id: 0,
            source: "drone:udp0:1".into(),
            category: Category::DroneRecording,
            start_ms: end_ms - 1000,
            end_ms,
            location: "Stade de France".into(),
            uri: format!("file:///rec/{end_ms}.mp4"),
        };
        let a = store.index_recording(&rec(1_000)).unwrap();
        let b = store.index_recording(&rec(2_000)).unwrap();
        let fresh = store.index_recording(&rec(6 * DAY_MS)).unwrap();
        store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO coverage_interval (source_id, kind, network, from_ms, to_ms,
                        min_lon, min_lat, max_lon, max_lat, ring)
                     VALUES ('drone:udp0:1', 'drone', 'police', 0, 5000, 0, 0, 0, 0, '[]')",
                    [],
                )
            })
            .unwrap();
        store
            .hold(
                &format!("recording:{b}"),
                "PV 2026/123",
                "operator:odile",
                10,
            )
            .unwrap();
        assert!(store.hold("recording:", "x", "y", 0).is_err());
        assert!(store.hold("recording:9", " ", "y", 0).is_err());

        let now = 8 * DAY_MS;
        let counts = purge(&store, now, &cfg).unwrap();
        assert_eq!(counts, vec![(Category::DroneRecording, 1)]);
        let left: Vec<i64> = store
            .list_recordings()
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(left, vec![b, fresh]);
        let register = store.deletions().unwrap();
        assert_eq!(register.len(), 1);
        assert_eq!(register[0].item, format!("recording:{a}"));
        assert_eq!(register[0].deleted_ms, now);
        assert!(register[0].detail.contains("file:///rec/1000.mp4"));

        // Coverage goes after 30 days; the released hold lets b go too.
        store.release(&format!("recording:{b}")).unwrap();
        assert!(store.release(&format!("recording:{b}")).is_err());
        let counts = purge(&store, 31 * DAY_MS, &cfg).unwrap();
        assert!(
            counts.contains(&(Category::CoverageHistory, 1)),
            "{counts:?}"
        );
        assert!(
            counts.contains(&(Category::DroneRecording, 2)),
            "{counts:?}"
        );
        assert_eq!(store.deletions().unwrap().len(), 4);
        assert!(store.list_recordings().unwrap().is_empty());
    }
}

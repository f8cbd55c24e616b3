//! Timeline steps in SQLite.

use rusqlite::{OptionalExtension, params};

use super::Step;
use crate::store::{Store, StoreError};

/// This module's migrations, in order. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &["CREATE TABLE timeline_step (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        keyframe INTEGER NOT NULL,
        units TEXT NOT NULL,
        removed TEXT NOT NULL
    );
    CREATE INDEX timeline_step_at ON timeline_step (at_ms);"];

/// Creates or upgrades the timeline table.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate_module("timeline", MIGRATIONS)
}

impl Store {
    /// Appends one recorded step.
    pub fn append_step(&self, step: &Step) -> Result<(), StoreError> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            path: self.path().to_path_buf(),
            table: "timeline_step",
            detail: e.to_string(),
        };
        let units = serde_json::to_string(&step.units).map_err(corrupt)?;
        let removed = serde_json::to_string(&step.removed).map_err(corrupt)?;
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO timeline_step (at_ms, keyframe, units, removed) VALUES (?1, ?2, ?3, ?4)",
                params![step.at_ms, step.keyframe, units, removed],
            )
            .map(|_| ())
        })
    }

    /// The steps needed to replay `[from_ms, to_ms]`: from the last keyframe
    /// at or before `from_ms` (or the first one after it) to `to_ms`.
    pub fn timeline_steps(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Step>, StoreError> {
        let rows = self.with_conn(|c| {
            let start: Option<i64> = c
                .query_row(
                    "SELECT COALESCE(
                        (SELECT MAX(at_ms) FROM timeline_step WHERE keyframe = 1 AND at_ms <= ?1),
                        (SELECT MIN(at_ms) FROM timeline_step WHERE keyframe = 1 AND at_ms > ?1))",
                    params![from_ms],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            let Some(start) = start else {
                return Ok(Vec::new());
            };
            let mut stmt = c.prepare(
                "SELECT at_ms, keyframe, units, removed FROM timeline_step
                 WHERE at_ms >= ?1 AND at_ms <= ?2 ORDER BY at_ms, id",
            )?;
            let rows = stmt.query_map(params![start, to_ms], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(at_ms, keyframe, units, removed)| {
                let corrupt = |e: serde_json::Error| StoreError::Corrupt {
                    path: self.path().to_path_buf(),
                    table: "timeline_step",
                    detail: format!("step at {at_ms}: {e}"),
                };
                Ok(Step {
                    at_ms,
                    keyframe,
                    units: serde_json::from_str(&units).map_err(corrupt)?,
                    removed: serde_json::from_str(&removed).map_err(corrupt)?,
                })
            })
            .collect()
    }

    /// First and last recorded instants, Unix ms.
    pub fn timeline_span(&self) -> Result<Option<(i64, i64)>, StoreError> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT MIN(at_ms), MAX(at_ms) FROM timeline_step",
                [],
                |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
        })
        .map(|(a, b)| a.zip(b))
    }

    /// Deletes the steps that no replay after `before_ms` needs (everything
    /// before the last keyframe at or before `before_ms`); returns how many.
    pub fn purge_timeline_before(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.with_conn(|c| {
            c.execute(
                "DELETE FROM timeline_step WHERE at_ms < (
                    SELECT COALESCE(MAX(at_ms), 0) FROM timeline_step
                    WHERE keyframe = 1 AND at_ms <= ?1)",
                params![before_ms],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use vigie_protocols::api::{Unit, UnitKind, UnitStatus};

    use super::*;
    use crate::timeline::{Recorder, Replay};

    fn unit(id: &str, status: UnitStatus) -> Unit {
        Unit::new(id, UnitKind::Drone, status, "test")
    }

    #[test]
    fn a_stored_period_replays_like_the_recording_and_purges_whole_keyframes() {
        let store = Store::in_memory().unwrap();
        migrate(&store).unwrap();
        let mut rec = Recorder::new(5_000);
        let mut truth = Vec::new();
        for t in 0..20i64 {
            let status = if t % 3 == 0 {
                UnitStatus::Busy
            } else {
                UnitStatus::Available
            };
            let units = vec![unit("a", status), unit(&format!("b{}", t / 7), status)];
            if let Some(s) = rec.step(t * 1_000, &units) {
                store.append_step(&s).unwrap();
            }
            truth.push(units);
        }
        assert_eq!(store.timeline_span().unwrap(), Some((0, 19_000)));
        // A window in the middle starts from the keyframe before it.
        let replay = Replay::new(store.timeline_steps(7_500, 12_000).unwrap());
        for t in 8..=12i64 {
            assert_eq!(replay.picture_at(t * 1_000), truth[t as usize], "t={t}");
        }
        // Purging before 12 s keeps the keyframe at 10 s and what follows.
        let purged = store.purge_timeline_before(12_000).unwrap();
        assert!(purged > 0);
        assert_eq!(store.timeline_span().unwrap().unwrap().0, 10_000);
        let replay = Replay::new(store.timeline_steps(12_000, 19_000).unwrap());
        assert_eq!(replay.picture_at(15_000), truth[15]);
    }
}

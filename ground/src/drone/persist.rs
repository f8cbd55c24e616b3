//! What the drone link keeps in SQLite: signing timestamp reservations, so
//! that signatures never go backwards across a restart; and what of the
//! saved picture it lets come back (never a duplicate).

use rusqlite::{OptionalExtension, params};
use vigie_protocols::api::Unit;

use crate::store::{Store, StoreError};

/// This module's migrations, in order. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &["CREATE TABLE drone_signing (
        link TEXT PRIMARY KEY,
        reserved_until INTEGER NOT NULL
    );"];

/// Creates or upgrades the drone tables.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate_module("drone", MIGRATIONS)
}

/// The units of a saved picture that may be restored: every one but the
/// drone duplicates (`drone:<link>:<id>@<address>`), which are also deleted
/// from the store (a spoofing run must not come back at every restart).
pub fn restorable(store: &Store, units: Vec<Unit>) -> Result<Vec<Unit>, StoreError> {
    let (dups, keep): (Vec<Unit>, Vec<Unit>) = units
        .into_iter()
        .partition(|u| super::link::is_duplicate_unit_id(&u.id));
    if !dups.is_empty() {
        tracing::info!(
            "{} saved duplicate drone unit(s) not restored and forgotten",
            dups.len()
        );
        let ids: Vec<String> = dups.into_iter().map(|u| u.id).collect();
        store.forget_units(&ids)?;
    }
    Ok(keep)
}

/// Whether a unit of the picture is saved: drone duplicates never are.
pub fn persisted(unit: &Unit) -> bool {
    !super::link::is_duplicate_unit_id(&unit.id)
}

impl Store {
    /// Deletes the saved last known state of units `ids`.
    pub fn forget_units(&self, ids: &[String]) -> Result<(), StoreError> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached("DELETE FROM unit_last_known WHERE id = ?1")?;
                for id in ids {
                    stmt.execute(params![id])?;
                }
            }
            tx.commit()
        })
    }

    /// The persisted signing timestamp reservation of a link (0 if none).
    pub fn signing_reservation(&self, link: &str) -> Result<u64, StoreError> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT reserved_until FROM drone_signing WHERE link = ?1",
                params![link],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0).max(0) as u64)
        })
    }

    /// Persists a link's signing reservation (never lowers it).
    pub fn save_signing_reservation(
        &self,
        link: &str,
        reserved_until: u64,
    ) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO drone_signing (link, reserved_until) VALUES (?1, ?2)
                 ON CONFLICT(link) DO UPDATE SET reserved_until = MAX(reserved_until, excluded.reserved_until)",
                params![link, reserved_until as i64],
            )
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_duplicates_are_neither_restored_nor_kept() {
        let s = Store::in_memory().unwrap();
        migrate(&s).unwrap();
        let unit = |id: &str| {
            Unit::new(
                id,
                vigie_protocols::api::UnitKind::Drone,
                vigie_protocols::api::UnitStatus::LinkLost,
                "mavlink:udp0",
            )
        };
        let saved = vec![unit("drone:udp0:7"), unit("drone:udp0:7@10.0.0.9:40001")];
        s.save_units(&saved, 1).unwrap();
        let back = restorable(&s, s.load_units().unwrap()).unwrap();
        assert_eq!(back, vec![unit("drone:udp0:7")]);
        assert_eq!(s.load_units().unwrap(), vec![unit("drone:udp0:7")]);
        assert!(persisted(&saved[0]) && !persisted(&saved[1]));
    }

    #[test]
    fn reservations_only_go_up() {
        let s = Store::in_memory().unwrap();
        migrate(&s).unwrap();
        assert_eq!(s.signing_reservation("udp0").unwrap(), 0);
        s.save_signing_reservation("udp0", 500).unwrap();
        s.save_signing_reservation("udp0", 100).unwrap();
        assert_eq!(s.signing_reservation("udp0").unwrap(), 500);
    }
}

//! What the drone link keeps in SQLite: signing timestamp reservations, so
//! that signatures never go backwards across a restart.

use rusqlite::{OptionalExtension, params};

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

impl Store {
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
    fn reservations_only_go_up() {
        let s = Store::in_memory().unwrap();
        migrate(&s).unwrap();
        assert_eq!(s.signing_reservation("udp0").unwrap(), 0);
        s.save_signing_reservation("udp0", 500).unwrap();
        s.save_signing_reservation("udp0", 100).unwrap();
        assert_eq!(s.signing_reservation("udp0").unwrap(), 500);
    }
}

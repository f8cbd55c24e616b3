//! Operator tokens in SQLite: only their SHA-256 is stored.
//!
//! A token is `vgt_` followed by 64 hex digits (32 random bytes from the
//! operating system). Resolving a token is one indexed lookup; a revoked token
//! stops working on the next request.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Operator, Role};
use crate::store::{Store, StoreError};

/// This module's migrations, in order. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &["CREATE TABLE operator_token (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        token_sha256 BLOB NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );"];

/// Prefix of every token, so a leaked one is recognisable in logs and scans.
pub const TOKEN_PREFIX: &str = "vgt_";

/// Creates or upgrades the token table.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate_module("auth", MIGRATIONS)
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Token id.
    pub id: i64,
    /// Operator name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// When it was issued, Unix milliseconds.
    pub created_ms: i64,
    /// When it was revoked, Unix milliseconds, if it was.
    pub revoked_ms: Option<i64>,
}

/// A freshly issued token: the secret is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedToken {
    /// What is stored about it.
    pub info: TokenInfo,
    /// The bearer token to give the operator.
    pub token: String,
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The operator name is empty, too long or has odd characters.
    #[error("operator name {0:?} is not valid: use 1-64 letters, digits, '.', '-', '_' or '@'")]
    BadName(String),
    /// The system random source failed.
    #[error("the system random number generator failed; cannot issue a token")]
    Random,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn info_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, String, i64, Option<i64>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

impl Store {
    /// Issues a token for `name` with `role`; returns it once.
    pub fn issue_token(
        &self,
        name: &str,
        role: Role,
        now_ms: i64,
    ) -> Result<IssuedToken, IssueError> {
        if !valid_name(name) {
            return Err(IssueError::BadName(name.to_string()));
        }
        let mut secret = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
            .map_err(|_| IssueError::Random)?;
        let mut token = String::with_capacity(TOKEN_PREFIX.len() + 64);
        token.push_str(TOKEN_PREFIX);
        for b in secret {
            token.push_str(&format!("{b:02x}"));
        }
        let hash = digest(&token);
        let id = self.with_conn(|c| {
            c.execute(
                "INSERT INTO operator_token (name, role, token_sha256, created_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), &hash[..], now_ms],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        Ok(IssuedToken {
            info: TokenInfo {
                id,
                name: name.to_string(),
                role,
                created_ms: now_ms,
                revoked_ms: None,
            },
            token,
        })
    }

    /// The operator a token belongs to, if it is known and not revoked.
    pub fn resolve_token(&self, token: &str) -> Result<Option<Operator>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = digest(token);
        let row = self.with_conn(|c| {
            c.query_row(
                "SELECT id, name, role FROM operator_token
                 WHERE token_sha256 = ?1 AND revoked_ms IS NULL",
                params![&hash[..]],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()
        })?;
        let Some((token_id, name, role)) = row else {
            return Ok(None);
        };
        let role = self.stored_role(&role)?;
        Ok(Some(Operator {
            token_id,
            name,
            role,
        }))
    }

    /// A role as stored: a name no role has means the table was edited
    /// by hand or by a newer version, and is said so.
    fn stored_role(&self, role: &str) -> Result<Role, StoreError> {
        role.parse()
            .map_err(|e: super::UnknownRole| StoreError::Corrupt {
                path: self.path().to_path_buf(),
                table: "operator_token",
                detail: e.to_string(),
            })
    }

    /// Every token ever issued, oldest first.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, role, created_ms, revoked_ms FROM operator_token ORDER BY id",
            )?;
            let rows = stmt.query_map([], info_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(id, name, role, created_ms, revoked_ms)| {
                let role = self.stored_role(&role)?;
                Ok(TokenInfo {
                    id,
                    name,
                    role,
                    created_ms,
                    revoked_ms,
                })
            })
            .collect()
    }

    /// Revokes one token by id, or every live token of an operator by name.
    /// Returns how many tokens were revoked.
    pub fn revoke_tokens(&self, id_or_name: &str, now_ms: i64) -> Result<usize, StoreError> {
        self.with_conn(|c| match id_or_name.parse::<i64>() {
            Ok(id) => c.execute(
                "UPDATE operator_token SET revoked_ms = ?2
                     WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, now_ms],
            ),
            Err(_) => c.execute(
                "UPDATE operator_token SET revoked_ms = ?2
                     WHERE name = ?1 AND revoked_ms IS NULL",
                params![id_or_name, now_ms],
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let s = Store::in_memory().unwrap();
        migrate(&s).unwrap();
        s
    }

    #[test]
    fn issued_token_resolves_to_its_operator_until_revoked() {
        let s = store();
        let t = s.issue_token("claire", Role::Dispatcher, 1_000).unwrap();
        assert!(t.token.starts_with(TOKEN_PREFIX));
        assert_eq!(t.token.len(), TOKEN_PREFIX.len() + 64);
        let op = s.resolve_token(&t.token).unwrap().unwrap();
        assert_eq!(op.name, "claire");
        assert_eq!(op.role, Role::Dispatcher);
        assert_eq!(s.revoke_tokens("claire", 2_000).unwrap(), 1);
        assert_eq!(s.resolve_token(&t.token).unwrap(), None);
        let listed = s.list_tokens().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].revoked_ms, Some(2_000));
    }

    #[test]
    fn tokens_are_distinct_and_the_secret_is_not_stored() {
        let s = store();
        let a = s.issue_token("a", Role::Pilot, 0).unwrap();
        let b = s.issue_token("a", Role::Pilot, 0).unwrap();
        assert_ne!(a.token, b.token);
        let stored: Vec<u8> = s
            .with_conn(|c| {
                c.query_row(
                    "SELECT token_sha256 FROM operator_token WHERE id = ?1",
                    [a.info.id],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(stored.len(), 32);
        assert!(!a.token.as_bytes().windows(32).any(|w| w == &stored[..]));
        // Revoking by id touches only that token.
        assert_eq!(s.revoke_tokens(&a.info.id.to_string(), 5).unwrap(), 1);
        assert!(s.resolve_token(&b.token).unwrap().is_some());
    }

    #[test]
    fn unknown_or_malformed_tokens_resolve_to_nobody() {
        let s = store();
        s.issue_token("x", Role::Admin, 0).unwrap();
        for t in ["", "vgt_", "Bearer", "vgt_00", "not-a-token"] {
            assert_eq!(s.resolve_token(t).unwrap(), None, "{t:?}");
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let s = store();
        for n in ["", "a b", "x/y", &"n".repeat(65)] {
            assert!(matches!(
                s.issue_token(n, Role::Admin, 0),
                Err(IssueError::BadName(_))
            ));
        }
    }
}

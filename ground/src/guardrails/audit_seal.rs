//! Signatures that make the audit register tamper-evident against someone
//! with file access: Ed25519 checkpoints and a signed head.
//!
//! The hash chain alone is unkeyed: whoever can write the database can
//! rewrite a row and recompute every later hash. So every batch the register
//! commits is sealed by a [`Checkpoint`] (first and last seq, the hash of
//! every row in it, the time) signed with a key kept in its own file (mode
//! 0600, by default `<data_dir>/ca/audit-signing.key`, or
//! `[audit] signing_key`), never in the database. Each checkpoint is stored
//! twice: in the `audit_checkpoint` table, in the same transaction as its
//! rows, and appended to `audit-checkpoints.jsonl` outside the database
//! (`[audit] checkpoint_dir`). The head file `audit-head` holds the last
//! seq and hash, signed too. The public key (`audit-signing.pub`, in the
//! data directory) is what an inspector keeps and verifies with: a copy of
//! the database cannot be re-sealed without the private key, and an
//! inspector's earlier export of the checkpoints catches even a rollback
//! made consistently in all three places.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// Name of the signing key file in the data directory's key folder (`ca/`).
pub const SIGNING_KEY_FILE: &str = "audit-signing.key";

/// Name of the public key file, in the data directory.
pub const PUBLIC_KEY_FILE: &str = "audit-signing.pub";

/// Name of the checkpoint file, in the checkpoint directory.
pub const CHECKPOINT_FILE: &str = "audit-checkpoints.jsonl";

/// Name of the file, in the data directory, where the server writes where
/// its key and checkpoints are when they are not in the default places, so
/// that offline commands sign with the same key.
pub const LOCATOR_FILE: &str = "audit-seal.toml";

/// Domain separation of what is signed, so a checkpoint signature cannot be
/// passed off as a head signature or the other way round.
const CHECKPOINT_CONTEXT: &[u8] = b"vigie audit checkpoint v1\0";
/// See [`CHECKPOINT_CONTEXT`].
const HEAD_CONTEXT: &[u8] = b"vigie audit head v1\0";

/// First word of a signed head file, telling it from the unsigned
/// `seq hash` of older versions.
const HEAD_TAG: &str = "signed-v1";

/// `[audit]` in the configuration: where the register's seal lives, and
/// whether to start on a damaged register.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// The Ed25519 signing key (PKCS#8, created mode 0600 on first start).
    /// Default `<data_dir>/ca/audit-signing.key`. Put it on another volume
    /// than the database so that a copy of one is not a copy of both.
    pub signing_key: Option<PathBuf>,
    /// Directory of `audit-checkpoints.jsonl`. Default: the data directory.
    pub checkpoint_dir: Option<PathBuf>,
    /// Start even when the register does not verify (the damage is recorded
    /// in the register, logged and shown by `/api/v1/health`). Default
    /// false: `vigie serve` refuses to start. `--accept-damaged-audit` sets
    /// it for one run.
    pub accept_damaged: bool,
}

/// Where a register's seal lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealPaths {
    /// The private signing key.
    pub signing_key: PathBuf,
    /// The public key an inspector verifies with.
    pub public_key: PathBuf,
    /// The checkpoint file outside the database.
    pub checkpoints: PathBuf,
    /// The signed head.
    pub head: PathBuf,
    /// Taken while a batch is committed and its anchors written, and while
    /// verify reads, so no one reads a head that is about to move.
    pub lock: PathBuf,
}

/// The locator file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Locator {
    signing_key: Option<PathBuf>,
    checkpoint_dir: Option<PathBuf>,
}

impl SealPaths {
    /// The paths for `data_dir` under `config` (defaults where unset).
    pub fn new(data_dir: &Path, config: &AuditConfig) -> SealPaths {
        let signing_key = config
            .signing_key
            .clone()
            .unwrap_or_else(|| crate::patrol::ca::ca_dir(data_dir).join(SIGNING_KEY_FILE));
        let checkpoint_dir = config
            .checkpoint_dir
            .clone()
            .unwrap_or_else(|| data_dir.to_path_buf());
        SealPaths {
            signing_key,
            public_key: data_dir.join(PUBLIC_KEY_FILE),
            checkpoints: checkpoint_dir.join(CHECKPOINT_FILE),
            head: data_dir.join(super::audit::HEAD_FILE),
            lock: data_dir.join("audit-head.lock"),
        }
    }

    /// The paths an offline command uses: those the server wrote in the
    /// locator file, else the defaults.
    pub fn located(data_dir: &Path) -> Result<SealPaths, SealError> {
        let path = data_dir.join(LOCATOR_FILE);
        let locator: Locator = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| SealError::Locator {
                path: path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Locator::default(),
            Err(source) => return Err(SealError::Io { path, source }),
        };
        Ok(SealPaths::new(
            data_dir,
            &AuditConfig {
                signing_key: locator.signing_key,
                checkpoint_dir: locator.checkpoint_dir,
                accept_damaged: false,
            },
        ))
    }

    /// Writes the locator file when `config` moves the key or the
    /// checkpoints (removes a stale one otherwise).
    pub fn write_locator(data_dir: &Path, config: &AuditConfig) -> Result<(), SealError> {
        let path = data_dir.join(LOCATOR_FILE);
        if config.signing_key.is_none() && config.checkpoint_dir.is_none() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(SealError::Io { path, source: e })
                }
                _ => Ok(()),
            };
        }
        let locator = Locator {
            signing_key: config.signing_key.clone(),
            checkpoint_dir: config.checkpoint_dir.clone(),
        };
        let text = toml::to_string(&locator).map_err(|e| SealError::Locator {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|source| SealError::Io { path, source })
    }
}

/// Why the seal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A file could not be read or written.
    #[error("audit seal file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The signing key file is not a usable Ed25519 key.
    #[error(
        "audit signing key {path} is not an Ed25519 PKCS#8 key ({message}): restore it from its backup"
    )]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The register is signed but its key is gone.
    #[error(
        "the audit register is signed but its signing key {path} is missing: restore it from its backup (set `[audit] signing_key` if it lives elsewhere); `vigie audit verify` still works with the public key"
    )]
    KeyMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The locator file does not parse.
    #[error("{path}: {message}; delete it and start the server with its configuration")]
    Locator {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A public key file that does not hold a key.
    #[error("{path} is not an audit public key (64 hex characters, as in audit-signing.pub)")]
    BadPublicKey {
        /// The file.
        path: PathBuf,
    },
    /// A checkpoint file with lines that are not checkpoints.
    #[error(
        "{path}: lines {lines:?} are not checkpoints (JSON lines from `vigie audit checkpoints`)"
    )]
    Garbled {
        /// The file.
        path: PathBuf,
        /// 1-based line numbers.
        lines: Vec<usize>,
    },
    /// No randomness for a new key.
    #[error("cannot create the audit signing key: no system randomness")]
    Random,
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Bytes of lower-case or upper-case hex; `None` when it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The private key that seals the register.
pub struct Signer {
    /// The key pair.
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public_key", &hex(self.public_key()))
            .finish()
    }
}

impl Signer {
    /// Loads the key at `paths.signing_key`; when it does not exist and
    /// `may_create`, creates it (0600) and writes the public key file.
    /// Refreshes the public key file when it is missing.
    pub fn load_or_create(paths: &SealPaths, may_create: bool) -> Result<Signer, SealError> {
        let path = &paths.signing_key;
        let signer = match std::fs::read(path) {
            Ok(der) => Signer::from_pkcs8(path, &der)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => {
                let rng = ring::rand::SystemRandom::new();
                let der = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| SealError::Random)?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| SealError::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?;
                }
                write_new_private(path, der.as_ref())?;
                tracing::info!(key = %path.display(), "created the audit signing key");
                Signer::from_pkcs8(path, der.as_ref())?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SealError::KeyMissing { path: path.clone() });
            }
            Err(source) => {
                return Err(SealError::Io {
                    path: path.clone(),
                    source,
                });
            }
        };
        if !paths.public_key.exists() {
            std::fs::write(&paths.public_key, format!("{}\n", hex(signer.public_key()))).map_err(
                |source| SealError::Io {
                    path: paths.public_key.clone(),
                    source,
                },
            )?;
        }
        Ok(signer)
    }

    /// A key from PKCS#8 bytes (for tests: any 32-byte seed works).
    fn from_pkcs8(path: &Path, der: &[u8]) -> Result<Signer, SealError> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(|key| Signer { key })
            .map_err(|e| SealError::BadKey {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
    }

    /// A fresh key held in memory only (tests, benches).
    pub fn ephemeral() -> Result<Signer, SealError> {
        let rng = ring::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| SealError::Random)?;
        Signer::from_pkcs8(Path::new("(memory)"), der.as_ref())
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// Signature of `message`, hex.
    fn sign(&self, message: &[u8]) -> String {
        hex(self.key.sign(message).as_ref())
    }
}

/// Creates `path` (it must not exist) with mode 0600 and `bytes`, synced.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    let io = |source| SealError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Reads a public key file (64 hex characters).
pub fn read_public_key(path: &Path) -> Result<Option<Vec<u8>>, SealError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(unhex(&text).filter(|k| k.len() == 32)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SealError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Whether `signature` (hex) is `public_key`'s over `message`.
fn signature_ok(public_key: &[u8], message: &[u8], signature: &str) -> bool {
    unhex(signature).is_some_and(|sig| {
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(message, &sig)
            .is_ok()
    })
}

/// A signed statement that rows `first_seq..=last_seq` had these hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// First row covered.
    pub first_seq: i64,
    /// Last row covered.
    pub last_seq: i64,
    /// When it was signed, Unix milliseconds.
    pub time_ms: i64,
    /// The `hash` of every covered row, in order (hex).
    pub hashes: Vec<String>,
    /// True for the checkpoints signed when signing began on a register
    /// written by an older version: those rows were sealed as found then,
    /// not as they were written.
    #[serde(default)]
    pub predates_signing: bool,
    /// Ed25519 signature (hex) over the fields above.
    pub signature: String,
}

impl Checkpoint {
    /// Signs a checkpoint over `hashes`, the rows from `first_seq` on.
    pub fn sign(
        signer: &Signer,
        first_seq: i64,
        hashes: Vec<String>,
        time_ms: i64,
        predates_signing: bool,
    ) -> Checkpoint {
        let mut cp = Checkpoint {
            first_seq,
            last_seq: first_seq + hashes.len() as i64 - 1,
            time_ms,
            hashes,
            predates_signing,
            signature: String::new(),
        };
        cp.signature = signer.sign(&cp.message());
        cp
    }

    /// What is signed: every field in a fixed order, integers as 8
    /// big-endian bytes, each hash length-prefixed.
    fn message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.hashes.len() * 72);
        out.extend_from_slice(CHECKPOINT_CONTEXT);
        out.extend_from_slice(&self.first_seq.to_be_bytes());
        out.extend_from_slice(&self.last_seq.to_be_bytes());
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out.push(u8::from(self.predates_signing));
        out.extend_from_slice(&(self.hashes.len() as u64).to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(&(h.len() as u64).to_be_bytes());
            out.extend_from_slice(h.as_bytes());
        }
        out
    }

    /// Whether it is consistent and signed by `public_key`.
    pub fn verifies(&self, public_key: &[u8]) -> bool {
        self.last_seq - self.first_seq + 1 == self.hashes.len() as i64
            && signature_ok(public_key, &self.message(), &self.signature)
    }

    /// The covered rows as `(seq, hash)`.
    pub fn rows(&self) -> impl Iterator<Item = (i64, &str)> {
        (self.first_seq..).zip(self.hashes.iter().map(String::as_str))
    }
}

/// A signed statement that the register reached `seq` with `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHead {
    /// Last seq.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// When it was signed, Unix milliseconds.
    pub time_ms: i64,
    /// Ed25519 signature (hex).
    pub signature: String,
}

impl SignedHead {
    /// Signs a head.
    pub fn sign(signer: &Signer, seq: i64, hash: &str, time_ms: i64) -> SignedHead {
        let mut head = SignedHead {
            seq,
            hash: hash.to_string(),
            time_ms,
            signature: String::new(),
        };
        head.signature = signer.sign(&head.message());
        head
    }

    fn message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(HEAD_CONTEXT);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out.extend_from_slice(self.hash.as_bytes());
        out
    }

    /// Whether it is signed by `public_key`.
    pub fn verifies(&self, public_key: &[u8]) -> bool {
        signature_ok(public_key, &self.message(), &self.signature)
    }

    /// The file's line.
    pub fn line(&self) -> String {
        format!(
            "{HEAD_TAG} {} {} {} {}\n",
            self.seq, self.hash, self.time_ms, self.signature
        )
    }
}

/// What the head file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadFile {
    /// No file.
    Missing,
    /// An empty (or blank) file.
    Empty,
    /// `seq hash`, as versions before signing wrote it.
    Unsigned {
        /// Last seq.
        seq: i64,
        /// Its hash.
        hash: String,
    },
    /// A signed head (signature not yet checked).
    Signed(SignedHead),
    /// Something else.
    Garbled,
}

impl HeadFile {
    /// Parses the file's text.
    pub fn parse(text: &str) -> HeadFile {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            [] => HeadFile::Empty,
            [seq, hash] => match seq.parse() {
                Ok(seq) => HeadFile::Unsigned {
                    seq,
                    hash: hash.to_string(),
                },
                Err(_) => HeadFile::Garbled,
            },
            [tag, seq, hash, time, sig] if *tag == HEAD_TAG => match (seq.parse(), time.parse()) {
                (Ok(seq), Ok(time_ms)) => HeadFile::Signed(SignedHead {
                    seq,
                    hash: hash.to_string(),
                    time_ms,
                    signature: sig.to_string(),
                }),
                _ => HeadFile::Garbled,
            },
            _ => HeadFile::Garbled,
        }
    }

    /// The seq and hash it states, whatever its form.
    pub fn stated(&self) -> Option<(i64, &str)> {
        match self {
            HeadFile::Unsigned { seq, hash } => Some((*seq, hash)),
            HeadFile::Signed(h) => Some((h.seq, &h.hash)),
            _ => None,
        }
    }
}

/// Reads the head file.
pub fn read_head(path: &Path) -> Result<HeadFile, SealError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(HeadFile::parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HeadFile::Missing),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(HeadFile::Garbled),
        Err(source) => Err(SealError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Replaces the head file atomically (a new file synced, then renamed over
/// the old one), so a crash leaves the old head or the new one, never half.
pub fn write_head(path: &Path, head: &SignedHead) -> Result<(), SealError> {
    let tmp = path.with_extension("new");
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| SealError::Io { path: p, source }
    };
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(head.line().as_bytes()).map_err(io(&tmp))?;
    f.sync_data().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Checkpoints as JSON lines, as the checkpoint file and exports hold them.
pub fn to_json_lines(checkpoints: &[Checkpoint]) -> String {
    let mut text = String::new();
    for cp in checkpoints {
        // A struct of integers, strings and a bool always serialises.
        text.push_str(&serde_json::to_string(cp).unwrap_or_default());
        text.push('\n');
    }
    text
}

/// Appends checkpoints to the file, one JSON line each, in one write
/// (`O_APPEND`: two processes appending do not interleave lines).
pub fn append_checkpoints(path: &Path, checkpoints: &[Checkpoint]) -> Result<(), SealError> {
    let io = |source| SealError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = to_json_lines(checkpoints);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

/// Checkpoints read from a file, and the lines that are not checkpoints
/// (1-based line numbers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointFile {
    /// The checkpoints, in file order.
    pub checkpoints: Vec<Checkpoint>,
    /// Lines that do not parse.
    pub garbled_lines: Vec<usize>,
    /// Whether the file exists.
    pub exists: bool,
}

/// Reads a checkpoint file (JSON lines); a missing file is empty.
pub fn read_checkpoints(path: &Path) -> Result<CheckpointFile, SealError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(CheckpointFile::default());
        }
        Err(source) => {
            return Err(SealError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut out = CheckpointFile {
        exists: true,
        ..CheckpointFile::default()
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Checkpoint>(line) {
            Ok(cp) => out.checkpoints.push(cp),
            Err(_) => out.garbled_lines.push(i + 1),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_with_its_key_only_and_not_once_changed() {
        let signer = Signer::ephemeral().unwrap();
        let other = Signer::ephemeral().unwrap();
        let cp = Checkpoint::sign(&signer, 5, vec!["aa".into(), "bb".into()], 9, false);
        assert_eq!(cp.last_seq, 6);
        assert!(cp.verifies(signer.public_key()));
        assert!(!cp.verifies(other.public_key()));
        let mut changed = cp.clone();
        changed.hashes[1] = "cc".into();
        assert!(!changed.verifies(signer.public_key()));
        let mut moved = cp.clone();
        moved.first_seq = 6;
        moved.last_seq = 7;
        assert!(!moved.verifies(signer.public_key()));
        let line = serde_json::to_string(&cp).unwrap();
        let back: Checkpoint = serde_json::from_str(&line).unwrap();
        assert!(back.verifies(signer.public_key()));
    }

    #[test]
    fn a_head_round_trips_through_its_file_line_and_old_heads_still_parse() {
        let signer = Signer::ephemeral().unwrap();
        let head = SignedHead::sign(&signer, 42, "abcd", 7);
        let HeadFile::Signed(back) = HeadFile::parse(&head.line()) else {
            panic!("not parsed back");
        };
        assert!(back.verifies(signer.public_key()));
        let mut forged = back.clone();
        forged.seq = 41;
        assert!(!forged.verifies(signer.public_key()));
        assert_eq!(
            HeadFile::parse("12 ff\n"),
            HeadFile::Unsigned {
                seq: 12,
                hash: "ff".into()
            }
        );
        assert_eq!(HeadFile::parse("  \n"), HeadFile::Empty);
        assert_eq!(HeadFile::parse("x y z"), HeadFile::Garbled);
    }

    #[test]
    fn hex_round_trips_and_rejects_non_hex() {
        assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("é1"), None);
    }
}

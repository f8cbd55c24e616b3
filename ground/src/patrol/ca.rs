//! The deployment certificate authority: it issues the certificates that
//! identify every tablet (unit id + role) and the server itself, and keeps the
//! list of issued and revoked certificates.
//!
//! Files, in `<data dir>/ca/`: `ca.cert.pem` (the trust anchor handed to
//! tablets) and `ca.key.pem` (mode 0600, never leaves the server). Issued and
//! revoked certificates are rows in SQLite (`patrol_cert`), so `vigie ca
//! revoke` takes effect on a running server at its next refresh
//! ([`RevocationList::refresh`]).
//!
//! Naming, as `protocols/README.md` specifies: subject CN = unit id, OU = role,
//! O = `Vigie`, plus a URI SAN `urn:vigie:unit:<unit>` (a URN names the unit
//! the way other PKIs name workloads, e.g. SPIFFE IDs). The server's own
//! certificate carries only the DNS SAN `vigie-ground`, the name clients
//! verify: hostname checkers such as Python's `service_identity` read every
//! URI SAN of a server certificate as `scheme:host` and abort the handshake
//! on a URN (TLS alert 42, "Certificate extensions could not be parsed").

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rusqlite::params;
use sha2::{Digest, Sha256};

use crate::guardrails::audit_seal::hex;
use crate::store::{Store, StoreError};

/// Subject Organization of every certificate the CA issues.
pub const ORGANIZATION: &str = "Vigie";

/// Default lifetime of a unit certificate: one season of events.
pub const DEFAULT_UNIT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// Lifetime of the CA itself.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Tables of this module; append only.
const MIGRATIONS: &[&str] = &[
    // 1: every certificate issued, and when it was revoked.
    "CREATE TABLE patrol_cert (
        serial TEXT PRIMARY KEY,
        unit TEXT NOT NULL,
        role TEXT NOT NULL,
        not_after_ms INTEGER NOT NULL,
        issued_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );
    CREATE INDEX patrol_cert_unit ON patrol_cert (unit);",
];

/// Why a CA operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// `init` on a directory that already has a CA.
    #[error(
        "a deployment CA already exists in {0}: keep it (every issued certificate depends on it) or use another data directory"
    )]
    AlreadyExists(PathBuf),
    /// No CA in the data directory.
    #[error("no deployment CA in {0}: run `vigie ca init --data-dir <dir>` first")]
    Missing(PathBuf),
    /// Reading or writing a CA file failed.
    #[error("CA file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Certificate generation or parsing failed.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A unit id the naming rules refuse.
    #[error("invalid unit id {0:?}: use 1 to 32 letters, digits, '-' or '_'")]
    BadUnit(String),
    /// A role that does not exist.
    #[error("unknown role {0:?}: use patrol, supervisor, operator or server")]
    BadRole(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a certificate allows its holder to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A field unit with a tablet.
    Patrol,
    /// A field supervisor: a patrol that may also broadcast.
    Supervisor,
    /// An operator client in the control room.
    Operator,
    /// The ground server; may not connect as a client.
    Server,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Patrol, Role::Supervisor, Role::Operator, Role::Server];

    /// The name written in certificates (OU).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patrol => "patrol",
            Role::Supervisor => "supervisor",
            Role::Operator => "operator",
            Role::Server => "server",
        }
    }

    /// Whether a holder may open a client session.
    pub fn may_connect(self) -> bool {
        !matches!(self, Role::Server)
    }

    /// Whether a holder may send broadcasts to every unit.
    pub fn may_broadcast(self) -> bool {
        matches!(self, Role::Supervisor | Role::Operator)
    }
}

impl std::str::FromStr for Role {
    type Err = CaError;

    fn from_str(s: &str) -> Result<Role, CaError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| CaError::BadRole(s.to_string()))
    }
}

/// Checks a unit id against the naming rules.
pub fn check_unit_id(unit: &str) -> Result<(), CaError> {
    let ok = (1..=32).contains(&unit.len())
        && unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CaError::BadUnit(unit.to_string()))
    }
}

/// A certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key (PKCS#8), DER.
    pub key_der: Vec<u8>,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// End of validity, Unix milliseconds.
    pub not_after_ms: i64,
}

/// Validity window of a certificate, Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Start, Unix ms.
    pub not_before_ms: i64,
    /// End, Unix ms.
    pub not_after_ms: i64,
}

impl Validity {
    /// From now (minus a minute of clock-skew margin) for `lifetime`.
    pub fn from_now(lifetime: Duration) -> Validity {
        let now = crate::time::unix_ms();
        Validity {
            not_before_ms: now - 60_000,
            not_after_ms: now + lifetime.as_millis() as i64,
        }
    }
}

/// The deployment CA, loaded with its key.
pub struct DeploymentCa {
    /// Signs certificates; carries the CA's subject and key.
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM (handed to tablets as `ca.pem`).
    cert_pem: String,
    /// The CA certificate, DER (the server's trust anchor).
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for DeploymentCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentCa").finish_non_exhaustive()
    }
}

/// The CA directory inside a data directory.
pub fn ca_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ca")
}

impl DeploymentCa {
    /// Creates a new CA in `<data_dir>/ca/`; refuses if one exists.
    pub fn init(data_dir: &Path, name: &str) -> Result<DeploymentCa, CaError> {
        let dir = ca_dir(data_dir);
        let cert_path = dir.join("ca.cert.pem");
        if cert_path.exists() {
            return Err(CaError::AlreadyExists(dir));
        }
        std::fs::create_dir_all(&dir).map_err(|source| CaError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, ORGANIZATION);
        dn.push(DnType::CommonName, format!("Vigie deployment CA {name}"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, Validity::from_now(CA_VALIDITY));
        let key = KeyPair::generate()?;
        params.serial_number = Some(serial_for(&key, name));
        let cert = params.self_signed(&key)?;
        let key_path = dir.join("ca.key.pem");
        write_private(&key_path, &key.serialize_pem())?;
        write_file(&cert_path, &cert.pem())?;
        tracing::info!("created deployment CA in {}", dir.display());
        Ok(DeploymentCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads the CA from `<data_dir>/ca/`.
    pub fn open(data_dir: &Path) -> Result<DeploymentCa, CaError> {
        let dir = ca_dir(data_dir);
        let cert_path = dir.join("ca.cert.pem");
        if !cert_path.exists() {
            return Err(CaError::Missing(dir));
        }
        let cert_pem = read_file(&cert_path)?;
        let key = KeyPair::from_pem(&read_file(&dir.join("ca.key.pem"))?)?;
        let cert_der = pem_to_der(&cert_pem).ok_or_else(|| CaError::Io {
            path: cert_path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no CERTIFICATE block"),
        })?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
        Ok(DeploymentCa {
            issuer,
            cert_pem,
            cert_der,
        })
    }

    /// Loads the CA, creating it first if the data directory has none.
    pub fn open_or_init(data_dir: &Path, name: &str) -> Result<DeploymentCa, CaError> {
        match DeploymentCa::open(data_dir) {
            Err(CaError::Missing(_)) => DeploymentCa::init(data_dir, name),
            other => other,
        }
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Issues a certificate naming `unit` and `role`, valid over `validity`,
    /// and records it in `store` (when given) so it can be revoked later.
    pub fn issue(
        &self,
        unit: &str,
        role: Role,
        validity: Validity,
        store: Option<&Store>,
    ) -> Result<IssuedCert, CaError> {
        check_unit_id(unit)?;
        // A server certificate carries the DNS name clients verify and
        // nothing else (see the module doc); a unit certificate its URN.
        let mut params = if role == Role::Server {
            CertificateParams::new(vec![vigie_protocols::tablet::SERVER_NAME.to_string()])?
        } else {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params
                .subject_alt_names
                .push(SanType::URI(unit_urn(unit).try_into()?));
            params
        };
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, ORGANIZATION);
        dn.push(DnType::OrganizationalUnitName, role.as_str());
        dn.push(DnType::CommonName, unit);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if role == Role::Server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let issued = self.sign(params, unit, validity)?;
        if let Some(store) = store {
            store.migrate_module("patrol_ca", MIGRATIONS)?;
            store.with_conn(|c| {
                c.execute(
                    "INSERT INTO patrol_cert (serial, unit, role, not_after_ms, issued_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        issued.serial,
                        unit,
                        role.as_str(),
                        validity.not_after_ms,
                        crate::time::unix_ms()
                    ],
                )
            })?;
        }
        Ok(issued)
    }

    /// Signs `params` with a fresh key, valid over `validity`, its serial
    /// derived from the key and `seed`.
    fn sign(
        &self,
        mut params: CertificateParams,
        seed: &str,
        validity: Validity,
    ) -> Result<IssuedCert, CaError> {
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, validity);
        let key = KeyPair::generate()?;
        let serial = serial_for(&key, seed);
        let serial_hex = hex(&serial.to_bytes());
        params.serial_number = Some(serial);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            serial: serial_hex,
            not_after_ms: validity.not_after_ms,
        })
    }
}

impl DeploymentCa {
    /// Issues the HTTPS listener's certificate: server authentication for
    /// `names` (DNS names or IP addresses), not recorded as a unit.
    pub fn issue_https(&self, names: &[String], validity: Validity) -> Result<IssuedCert, CaError> {
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, ORGANIZATION);
        dn.push(DnType::OrganizationalUnitName, Role::Server.as_str());
        dn.push(
            DnType::CommonName,
            names.first().map_or("localhost", |n| n.as_str()),
        );
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, "https", validity)
    }
}

/// The URI subject alternative name of a unit certificate: `urn:vigie:unit:P17`.
pub fn unit_urn(unit: &str) -> String {
    format!("{UNIT_URN_PREFIX}{unit}")
}

/// Prefix of [`unit_urn`].
pub const UNIT_URN_PREFIX: &str = "urn:vigie:unit:";

/// Marks every certificate issued to `unit` as revoked; returns how many.
pub fn revoke_unit(store: &Store, unit: &str, now_ms: i64) -> Result<usize, CaError> {
    store.migrate_module("patrol_ca", MIGRATIONS)?;
    Ok(store.with_conn(|c| {
        c.execute(
            "UPDATE patrol_cert SET revoked_ms = ?1 WHERE unit = ?2 AND revoked_ms IS NULL",
            params![now_ms, unit],
        )
    })?)
}

/// The serials revoked so far, as the TLS verifier consults them.
#[derive(Debug, Default)]
pub struct RevocationList {
    /// Revoked serial numbers, lower-case hex.
    serials: RwLock<HashSet<String>>,
}

impl RevocationList {
    /// Reloads the revoked serials from the store; returns how many there are.
    pub fn refresh(&self, store: &Store) -> Result<usize, CaError> {
        store.migrate_module("patrol_ca", MIGRATIONS)?;
        let serials: HashSet<String> = store.with_conn(|c| {
            let mut stmt =
                c.prepare_cached("SELECT serial FROM patrol_cert WHERE revoked_ms IS NOT NULL")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        let n = serials.len();
        *self.serials.write().unwrap_or_else(|p| p.into_inner()) = serials;
        Ok(n)
    }

    /// Whether `serial` (lower-case hex) is revoked.
    pub fn is_revoked(&self, serial: &str) -> bool {
        self.serials
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(serial)
    }
}

/// Who a verified client certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitIdentity {
    /// Unit id (CN).
    pub unit: String,
    /// Role (OU), as written; may be unknown to this build.
    pub role: String,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// Start of validity, Unix ms.
    pub not_before_ms: i64,
    /// End of validity, Unix ms.
    pub not_after_ms: i64,
}

impl UnitIdentity {
    /// Reads the identity from a DER certificate; `None` when it does not
    /// follow the naming rules (no CN or OU, a bad unit id, or a unit URN
    /// that names another unit than the CN).
    pub fn from_der(der: &[u8]) -> Option<UnitIdentity> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let unit = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let role = subject
            .iter_organizational_unit()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        check_unit_id(&unit).ok()?;
        // The unit's URN must be there and name the CN's unit; a URN of
        // another unit anywhere is a forgery.
        let mut named_by_urn = false;
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::URI(uri) = name
                    && let Some(named) = uri.strip_prefix(UNIT_URN_PREFIX)
                {
                    if named != unit {
                        return None;
                    }
                    named_by_urn = true;
                }
            }
        }
        if !named_by_urn {
            return None;
        }
        let validity = cert.validity();
        Some(UnitIdentity {
            unit,
            role,
            serial: hex(cert.raw_serial()),
            not_before_ms: validity.not_before.timestamp().saturating_mul(1000),
            not_after_ms: validity.not_after.timestamp().saturating_mul(1000),
        })
    }
}

fn set_validity(params: &mut CertificateParams, v: Validity) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_millis(v.not_before_ms.max(0) as u64);
    params.not_after = epoch + Duration::from_millis(v.not_after_ms.max(0) as u64);
}

/// Whether a certificate says it is for client authentication: an
/// extended key usage extension that lists `clientAuth`. WebPKI accepts a
/// certificate without the extension at all; a unit certificate must
/// carry it (ours always do), so a certificate made for another purpose
/// never passes for a tablet's.
pub fn has_client_auth_usage(der: &[u8]) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    matches!(cert.extended_key_usage(), Ok(Some(eku)) if eku.value.client_auth)
}

/// A 16-byte positive serial, unique in practice: a hash of the fresh public
/// key, the name and the time.
fn serial_for(key: &KeyPair, name: &str) -> SerialNumber {
    let mut h = Sha256::new();
    h.update(key.public_key_raw());
    h.update(name.as_bytes());
    h.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_le_bytes(),
    );
    let mut bytes: [u8; 16] = [0; 16];
    bytes.copy_from_slice(&h.finalize()[..16]);
    // Positive, and without a leading zero byte that DER would strip.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// The DER of the first CERTIFICATE block of a PEM text.
pub fn pem_to_der(pem_text: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::from_pem_slice(pem_text.as_bytes())
        .ok()
        .map(|c| c.to_vec())
}

fn read_file(path: &Path) -> Result<String, CaError> {
    std::fs::read_to_string(path).map_err(|source| CaError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), CaError> {
    std::fs::write(path, text).map_err(|source| CaError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a unit's credentials as `vigie ca issue` does and
/// [`crate::operator::client::load_client_config`] reads them, in `out` (created if
/// needed): `<unit>.cert.pem`, `<unit>.key.pem` (mode 0600) and `ca.pem`.
pub fn write_unit_files(
    out: &Path,
    unit: &str,
    cert: &IssuedCert,
    ca_pem: &str,
) -> Result<(), CaError> {
    let write = |path: PathBuf, text: &str| {
        std::fs::write(&path, text).map_err(|source| CaError::Io { path, source })
    };
    std::fs::create_dir_all(out).map_err(|source| CaError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    write(out.join(format!("{unit}.cert.pem")), &cert.cert_pem)?;
    write_private(&out.join(format!("{unit}.key.pem")), &cert.key_pem)?;
    write(out.join("ca.pem"), ca_pem)
}

/// Writes a private key readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> Result<(), CaError> {
    crate::store::write_private(path, text.as_bytes()).map_err(|source| CaError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigie-ca-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn issued_certificates_name_unit_and_role_and_can_be_revoked() {
        let dir = temp("issue");
        let ca = DeploymentCa::init(&dir, "test").unwrap();
        assert!(matches!(
            DeploymentCa::init(&dir, "test"),
            Err(CaError::AlreadyExists(_))
        ));
        let store = Store::in_memory().unwrap();
        let cert = ca
            .issue(
                "P17",
                Role::Patrol,
                Validity::from_now(DEFAULT_UNIT_VALIDITY),
                Some(&store),
            )
            .unwrap();
        let id = UnitIdentity::from_der(&cert.cert_der).unwrap();
        assert_eq!(id.unit, "P17");
        assert_eq!(id.role, "patrol");
        assert_eq!(id.serial, cert.serial);

        // Reopened from disk, the CA still signs certificates that chain to
        // the same anchor.
        let reopened = DeploymentCa::open(&dir).unwrap();
        assert_eq!(reopened.cert_der(), ca.cert_der());
        let other = reopened
            .issue(
                "S1",
                Role::Supervisor,
                Validity::from_now(DEFAULT_UNIT_VALIDITY),
                Some(&store),
            )
            .unwrap();
        assert_ne!(other.serial, cert.serial);

        let list = RevocationList::default();
        assert_eq!(list.refresh(&store).unwrap(), 0);
        assert_eq!(revoke_unit(&store, "P17", 1).unwrap(), 1);
        assert_eq!(revoke_unit(&store, "P17", 2).unwrap(), 0, "already revoked");
        list.refresh(&store).unwrap();
        assert!(list.is_revoked(&cert.serial));
        assert!(!list.is_revoked(&other.serial));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every subject alternative name of a DER certificate, as text.
    fn sans(der: &[u8]) -> Vec<String> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        let Some(san) = cert.subject_alternative_name().unwrap() else {
            return Vec::new();
        };
        san.value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => format!("dns:{d}"),
                GeneralName::URI(u) => format!("uri:{u}"),
                other => format!("other:{other:?}"),
            })
            .collect()
    }

    #[test]
    fn server_certificates_name_only_the_dns_name_clients_verify() {
        // Hostname checkers (Python's service_identity behind aioquic) parse
        // every URI SAN of a server certificate as `scheme:host` and abort
        // the handshake on a URN: the server certificate must have none.
        let dir = temp("server-san");
        let ca = DeploymentCa::init(&dir, "test").unwrap();
        let valid = Validity::from_now(DEFAULT_UNIT_VALIDITY);
        let server = ca
            .issue(
                vigie_protocols::tablet::SERVER_NAME,
                Role::Server,
                valid,
                None,
            )
            .unwrap();
        assert_eq!(sans(&server.cert_der), vec!["dns:vigie-ground"]);
        let unit = ca.issue("P17", Role::Patrol, valid, None).unwrap();
        assert_eq!(sans(&unit.cert_der), vec!["uri:urn:vigie:unit:P17"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_unit_urn_naming_another_unit_than_the_cn_is_no_identity() {
        let dir = temp("urn-mismatch");
        let ca = DeploymentCa::init(&dir, "test").unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationalUnitName, "patrol");
        dn.push(DnType::CommonName, "P17");
        params.distinguished_name = dn;
        params
            .subject_alt_names
            .push(SanType::URI(unit_urn("P18").try_into().unwrap()));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        assert_eq!(UnitIdentity::from_der(cert.der()), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A patrol certificate signed by the deployment CA with `urn` (if any)
    /// and `eku` (if any).
    fn custom(ca: &DeploymentCa, urn: Option<&str>, eku: bool) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationalUnitName, "patrol");
        dn.push(DnType::CommonName, "P17");
        params.distinguished_name = dn;
        if let Some(u) = urn {
            params
                .subject_alt_names
                .push(SanType::URI(unit_urn(u).try_into().unwrap()));
        }
        if eku {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = KeyPair::generate().unwrap();
        params.signed_by(&key, &ca.issuer).unwrap().der().to_vec()
    }

    #[test]
    fn a_unit_certificate_needs_its_urn_and_client_authentication_usage() {
        let dir = temp("urn-eku");
        let ca = DeploymentCa::init(&dir, "test").unwrap();
        let good = custom(&ca, Some("P17"), true);
        assert!(UnitIdentity::from_der(&good).is_some());
        assert!(has_client_auth_usage(&good));
        assert_eq!(
            UnitIdentity::from_der(&custom(&ca, None, true)),
            None,
            "no URN"
        );
        assert!(
            !has_client_auth_usage(&custom(&ca, Some("P17"), false)),
            "no EKU"
        );
        let issued = ca
            .issue(
                "P17",
                Role::Patrol,
                Validity::from_now(DEFAULT_UNIT_VALIDITY),
                None,
            )
            .unwrap();
        assert!(has_client_auth_usage(&issued.cert_der));
        let server = ca
            .issue(
                vigie_protocols::tablet::SERVER_NAME,
                Role::Server,
                Validity::from_now(DEFAULT_UNIT_VALIDITY),
                None,
            )
            .unwrap();
        assert!(!has_client_auth_usage(&server.cert_der));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_and_roles_are_checked() {
        assert!(check_unit_id("P17").is_ok());
        assert!(check_unit_id("").is_err());
        assert!(check_unit_id("P 17").is_err());
        assert!(check_unit_id(&"x".repeat(33)).is_err());
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert!("admin".parse::<Role>().is_err());
        assert!(!Role::Server.may_connect());
        assert!(!Role::Patrol.may_broadcast());
        let dir = temp("missing");
        assert!(matches!(DeploymentCa::open(&dir), Err(CaError::Missing(_))));
    }
}

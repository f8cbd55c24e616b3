//! TLS configuration of the patrol link: the server's mutual-TLS config with
//! a client-certificate verifier that checks the chain, the validity window
//! and the revocation list, and the matching client config used by tablets
//! (simulated ones, tests, tools).
//!
//! Handshake refusals surface to the client as TLS alerts (`unknown_ca`,
//! `certificate_expired`, `certificate_revoked`, `certificate_required`), so
//! the reason is clear on the tablet without a session.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};
use vigie_protocols::tablet::ALPN;

use super::ca::{RevocationList, UnitIdentity};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A PEM file did not hold what was expected.
    #[error("{what}: {detail}; expected the PEM files written by `vigie ca issue`")]
    Pem {
        /// Which input.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// QUIC refused the TLS configuration.
    #[error("QUIC TLS configuration: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Certificates most recently verified in a full handshake and not yet
/// claimed by their connection; beyond, the oldest claims are forgotten.
pub const MAX_UNCLAIMED_VERIFICATIONS: usize = 16_384;

/// Which connections went through a full handshake: the verifier notes each
/// certificate it accepts, the connection claims the note once established.
/// A connection finding no note resumed a TLS session (rustls skips client
/// verification then; quinn does not say which it was). A certificate
/// verified for a handshake that then failed leaves a note, so the set is
/// bounded ([`MAX_UNCLAIMED_VERIFICATIONS`], cleared when over).
#[derive(Debug, Default)]
pub struct FullHandshakes {
    /// Certificate SHA-256 fingerprint → verifications not yet claimed.
    verified: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl FullHandshakes {
    /// The verifier accepted the certificate with this fingerprint.
    pub fn verified(&self, fingerprint: &str) {
        let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() >= MAX_UNCLAIMED_VERIFICATIONS {
            v.clear();
        }
        *v.entry(fingerprint.to_string()).or_insert(0) += 1;
    }

    /// Whether a connection with this certificate went through a full
    /// handshake (claims the note); `false`: it resumed.
    pub fn claim(&self, fingerprint: &str) -> bool {
        let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        match v.get_mut(fingerprint) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                v.remove(fingerprint);
                true
            }
            None => false,
        }
    }
}

/// SHA-256 of a certificate's DER, lower-case hex: its fingerprint.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Verifies client certificates: chain to the deployment CA, validity,
/// client-auth usage, unit naming, then the revocation list.
#[derive(Debug)]
struct UnitCertVerifier {
    /// WebPKI chain, validity and usage checks.
    inner: Arc<dyn ClientCertVerifier>,
    /// Serials refused even though they chain correctly.
    revoked: Arc<RevocationList>,
    /// Notes of accepted certificates, for the session register.
    full: Arc<FullHandshakes>,
}

impl ClientCertVerifier for UnitCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let identity = UnitIdentity::from_der(end_entity);
        let who = identity.as_ref().map_or("?", |i| i.unit.as_str());
        if let Err(e) = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            tracing::warn!(unit = who, "refused a client certificate: {e}");
            return Err(e);
        }
        // A certificate without client-authentication usage is refused as
        // a server certificate is (unsupported_certificate, alert 43).
        if !super::ca::has_client_auth_usage(end_entity) {
            tracing::warn!(
                unit = who,
                "refused a certificate without client-authentication usage"
            );
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::InvalidPurpose,
            ));
        }
        // No unit id (CN), role (OU) or URN naming that unit: access_denied
        // (alert 49).
        let Some(identity) = identity else {
            tracing::warn!(
                "refused a client certificate without a unit id (CN), role (OU) and its urn:vigie:unit URN"
            );
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        };
        if self.revoked.is_revoked(&identity.serial) {
            tracing::warn!(unit = %identity.unit, serial = %identity.serial, "refused a revoked certificate");
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        self.full.verified(&fingerprint(end_entity));
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Transport limits shared by server and clients: one control stream, a few
/// report streams, datagrams on, keep-alives so NAT bindings survive. A
/// client accepts the streams an operator client may ask the server for:
/// the live picture and up to
/// [`MAX_VIDEO_FEEDS`](super::session::MAX_VIDEO_FEEDS) live video feeds,
/// which the server opens only for operator clients that subscribed.
pub fn transport_config(server: bool) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(if server { 1u32 } else { 0u32 }.into());
    let client_streams = 1 + super::session::MAX_VIDEO_FEEDS as u32;
    t.max_concurrent_uni_streams(if server { 4u32 } else { client_streams }.into());
    t.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(
        30_000,
    ))));
    t.keep_alive_interval(Some(Duration::from_secs(10)));
    t.datagram_receive_buffer_size(Some(if server { 16 * 1024 } else { 0 }));
    // Per-connection receive windows bound the memory one client can pin.
    t.stream_receive_window(quinn::VarInt::from_u32(256 * 1024));
    t.receive_window(quinn::VarInt::from_u32(2 * 1024 * 1024 + 512 * 1024));
    t.send_window(512 * 1024);
    t
}

/// Lifetime of a session ticket, seconds (a hint to clients; the key that
/// seals tickets is replaced after [`TICKET_KEY_LIFETIME`]).
pub const TICKET_LIFETIME_S: u32 = 12 * 3600;

/// Age after which the ticket key is replaced (and the old one erased) at
/// the next server start.
pub const TICKET_KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Seals TLS 1.3 session tickets with a key kept in the data directory, so
/// that tickets issued before a crash still resume after the restart: the
/// reconnection storm then costs the server resumptions (no certificate
/// chain to verify, nothing to sign) instead of full handshakes. The key is
/// replaced at start-up once older than [`TICKET_KEY_LIFETIME`], which bounds
/// how long a stolen key could open recorded resumptions.
pub struct PersistentTicketer {
    /// ChaCha20-Poly1305 key.
    key: ring::aead::LessSafeKey,
}

impl std::fmt::Debug for PersistentTicketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentTicketer").finish_non_exhaustive()
    }
}

impl PersistentTicketer {
    /// Loads the key from `path` (hex, with its creation time), or makes and
    /// stores a new one when there is none, it is unreadable, or too old.
    pub fn open(path: &std::path::Path, now_ms: i64) -> Result<PersistentTicketer, TlsError> {
        let existing = std::fs::read_to_string(path).ok().and_then(|text| {
            let (created, hex) = text.trim().split_once(' ')?;
            let created: i64 = created.parse().ok()?;
            let fresh = now_ms.saturating_sub(created) < TICKET_KEY_LIFETIME.as_millis() as i64;
            (fresh && hex.len() == 64).then_some(())?;
            let mut key = [0u8; 32];
            for (i, b) in key.iter_mut().enumerate() {
                *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
            }
            Some(key)
        });
        let key = match existing {
            Some(k) => k,
            None => {
                let mut k = [0u8; 32];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut k).map_err(
                    |_| TlsError::Pem {
                        what: "session ticket key",
                        detail: "no system randomness".into(),
                    },
                )?;
                let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
                super::ca::write_private(path, &format!("{now_ms} {hex}\n")).map_err(|e| {
                    TlsError::Pem {
                        what: "session ticket key",
                        detail: e.to_string(),
                    }
                })?;
                k
            }
        };
        let unbound =
            ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &key).map_err(|_| {
                TlsError::Pem {
                    what: "session ticket key",
                    detail: "bad key length".into(),
                }
            })?;
        Ok(PersistentTicketer {
            key: ring::aead::LessSafeKey::new(unbound),
        })
    }
}

impl rustls::server::ProducesTickets for PersistentTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        TICKET_LIFETIME_S
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; ring::aead::NONCE_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).ok()?;
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(b"vigie ticket"),
                &mut sealed,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let nonce = cipher.get(..ring::aead::NONCE_LEN)?;
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = cipher.get(ring::aead::NONCE_LEN..)?.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, ring::aead::Aad::from(b"vigie ticket"), &mut sealed)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// The server's QUIC config: mutual TLS 1.3, ALPN `vigie/1`, session tickets
/// sealed by `ticketer` for cheap resumption (also after a restart), no 0-RTT
/// (a replayed 0-RTT ack would be harmless, but a replayed Hello from a
/// revoked unit would not be). A resumed session does not re-run the client
/// certificate verifier: the connection edge re-checks revocation and
/// validity from the certificate the ticket carries.
pub fn server_config(
    ca_der: &[u8],
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    revoked: Arc<RevocationList>,
    ticketer: Arc<PersistentTicketer>,
) -> Result<quinn::ServerConfig, TlsError> {
    server_config_noting(ca_der, cert_der, key_der, revoked, ticketer, Arc::default())
}

/// [`server_config`], noting full handshakes in `full`.
pub fn server_config_noting(
    ca_der: &[u8],
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    revoked: Arc<RevocationList>,
    ticketer: Arc<PersistentTicketer>,
    full: Arc<FullHandshakes>,
) -> Result<quinn::ServerConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec()))?;
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build()?;
    let verifier = Arc::new(UnitCertVerifier {
        inner,
        revoked,
        full,
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(cert_der)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
        )?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.ticketer = ticketer;
    tls.send_tls13_tickets = 2;
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(Arc::new(transport_config(true)));
    Ok(config)
}

/// A tablet's QUIC client config from the three PEM texts `vigie ca issue`
/// writes. Keeps session tickets in memory for resumption.
pub fn client_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<quinn::ClientConfig, TlsError> {
    let pem_err = |what: &'static str| {
        move |e: rustls::pki_types::pem::Error| TlsError::Pem {
            what,
            detail: e.to_string(),
        }
    };
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(ca.map_err(pem_err("CA certificate"))?)?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(pem_err("unit certificate"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(pem_err("unit key"))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots);
    let mut tls = if chain.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_auth_cert(chain, key)?
    };
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport_config(false)));
    Ok(config)
}

/// A client config that presents no certificate (to test refusals).
pub fn anonymous_client_config(ca_pem: &str) -> Result<quinn::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(ca.map_err(|e| TlsError::Pem {
            what: "CA certificate",
            detail: e.to_string(),
        })?)?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport_config(false)));
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::ProducesTickets as _;

    #[test]
    fn tickets_survive_a_restart_until_the_key_is_too_old() {
        let dir = std::env::temp_dir().join(format!("vigie-ticket-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tls-ticket.key");
        let t0 = 1_700_000_000_000;
        let first = PersistentTicketer::open(&path, t0).unwrap();
        let ticket = first.encrypt(b"session state").unwrap();
        assert_eq!(first.decrypt(&ticket).unwrap(), b"session state");
        // Tampered or truncated tickets are refused, not panicked on.
        let mut bad = ticket.clone();
        bad[20] ^= 1;
        assert_eq!(first.decrypt(&bad), None);
        assert_eq!(first.decrypt(&ticket[..5]), None);
        // The restarted server opens the same ticket...
        let restarted = PersistentTicketer::open(&path, t0 + 3_600_000).unwrap();
        assert_eq!(restarted.decrypt(&ticket).unwrap(), b"session state");
        // ...but not once the key has been replaced for age.
        let later = t0 + TICKET_KEY_LIFETIME.as_millis() as i64 + 1;
        let renewed = PersistentTicketer::open(&path, later).unwrap();
        assert_eq!(renewed.decrypt(&ticket), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Helpers shared by the ground's integration tests. Each test binary
//! compiles this module and uses part of it.
#![allow(dead_code)]

use vigie_ground::patrol::ca::{DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
use vigie_ground::patrol::tls;

/// A QUIC client configuration with a certificate the data directory's
/// deployment CA issues now for `unit` in `role`.
pub fn client(dir: &std::path::Path, unit: &str, role: Role) -> quinn::ClientConfig {
    let ca = DeploymentCa::open(dir).unwrap();
    let store = vigie_ground::store::Store::open(dir).unwrap();
    let cert = ca
        .issue(
            unit,
            role,
            Validity::from_now(DEFAULT_UNIT_VALIDITY),
            Some(&store),
        )
        .unwrap();
    tls::client_config(ca.cert_pem(), &cert.cert_pem, &cert.key_pem).unwrap()
}

//! Interop: a tablet written in Python from `protocols/proto/vigie.proto`
//! and `protocols/README.md` alone (aioquic + protobuf, see
//! `tests/interop/tablet_client.py`) talks to the real `vigie` binary.
//!
//! Needs `python3` with the packages of `scripts/requirements-test.txt`
//! (`scripts/test.sh` installs them).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::{Running, VIGIE};

fn vigie(args: &[&str]) {
    let out = Command::new(VIGIE).args(args).output().expect("run vigie");
    assert!(
        out.status.success(),
        "vigie {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `vigie serve` on free ports; returns it with its HTTP and QUIC addresses.
fn serve(data: &Path) -> (Running, String, String) {
    let served = common::server::serve(data);
    (served.running, served.http, served.quic)
}

/// Whether `python3` with the interop packages is present; when not, says
/// so on stderr (the test then passes without running: `scripts/test.sh`
/// installs them from `scripts/requirements-test.txt`).
fn python_ready(test: &str) -> bool {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import aioquic, google.protobuf, grpc_tools, cryptography",
        ])
        .output();
    match probe {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            common::skip::skip(
                test,
                &format!(
                    "Python packages missing (pip install -r scripts/requirements-test.txt): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            );
            false
        }
        Err(e) => {
            common::skip::skip(
                test,
                &format!("python3 not found ({e}); install it and scripts/requirements-test.txt"),
            );
            false
        }
    }
}

fn python(args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/tablet_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 ran a moment ago");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.success(), format!("{stdout}\n{stderr}"))
}

/// An operator token (dispatcher) for the HTTP API of `data`.
fn token(data: &Path) -> String {
    let out = Command::new(VIGIE)
        .args([
            "token",
            "issue",
            "--name",
            "interop",
            "--role",
            "dispatcher",
            "--data-dir",
        ])
        .arg(data)
        .output()
        .expect("run vigie token issue");
    assert!(
        out.status.success(),
        "vigie token issue failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A fresh data directory with a CA and certificates issued to `units`
/// (written to `<data>/certs`); returns (data dir, certs dir).
fn deployment(name: &str, units: &[&str]) -> (PathBuf, PathBuf) {
    let data: PathBuf =
        std::env::temp_dir().join(format!("vigie-interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let data_s = data.to_str().expect("utf-8 temp dir");
    let certs = data.join("certs");
    let certs_s = certs.to_str().expect("utf-8 temp dir");
    vigie(&["ca", "init", "--data-dir", data_s]);
    for unit in units {
        vigie(&[
            "ca",
            "issue",
            "--data-dir",
            data_s,
            "--unit",
            unit,
            "--role",
            "patrol",
            "--out",
            certs_s,
        ]);
    }
    (data, certs)
}

fn proto() -> String {
    let proto = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols/proto/vigie.proto");
    proto.to_str().expect("utf-8 path").to_string()
}

#[test]
fn python_tablet_built_from_the_proto_alone_gets_and_acknowledges_an_order() {
    if !python_ready("python_tablet_built_from_the_proto_alone_gets_and_acknowledges_an_order") {
        return;
    }
    let (data, certs) = deployment("ok", &["P17"]);
    let token = token(&data);
    let (_server, http, quic) = serve(&data);
    let (certs_s, proto) = (certs.to_str().expect("utf-8"), proto());
    let (ok, out) = python(&[
        "--quic", &quic, "--http", &http, "--certs", certs_s, "--unit", "P17", "--proto", &proto,
        "--mode", "ok", "--token", &token,
    ]);
    assert!(
        ok && out.contains("OK unit=P17"),
        "python tablet failed:\n{out}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn python_tablet_without_a_valid_certificate_is_refused() {
    if !python_ready("python_tablet_without_a_valid_certificate_is_refused") {
        return;
    }
    // P18's certificate is revoked before the server starts, so the server
    // knows it from its first revocation-list load.
    let (data, certs) = deployment("refused", &["P17", "P18"]);
    let token = token(&data);
    vigie(&[
        "ca",
        "revoke",
        "--data-dir",
        data.to_str().expect("utf-8"),
        "P18",
    ]);
    let (_server, http, quic) = serve(&data);
    let (certs_s, proto) = (certs.to_str().expect("utf-8"), proto());
    // The reason phrase the server's TLS alert carries, for each case.
    for (unit, mode, reason, phrase) in [
        ("P17", "no-cert", "no certificate", "no certificates"),
        (
            "P17",
            "foreign-ca",
            "certificate signed by another CA",
            "UnknownIssuer",
        ),
        ("P18", "issued", "revoked certificate", "Revoked"),
    ] {
        let (ok, out) = python(&[
            "--quic", &quic, "--http", &http, "--certs", certs_s, "--unit", unit, "--proto",
            &proto, "--mode", mode,
        ]);
        assert!(
            ok && out.contains("REFUSED") && out.contains(phrase),
            "a tablet with a {reason} was not refused with {phrase:?}:\n{out}"
        );
    }
    // The refusals did not disturb the server: a valid tablet still works.
    let (ok, out) = python(&[
        "--quic", &quic, "--http", &http, "--certs", certs_s, "--unit", "P17", "--proto", &proto,
        "--mode", "ok", "--token", &token,
    ]);
    assert!(
        ok && out.contains("OK unit=P17"),
        "a valid tablet failed after the refusals:\n{out}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

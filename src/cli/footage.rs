//! `vigie footage`: recorded video found by place and time, and exported
//! with its provenance, through a running server.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use sha2::Digest as _;
use vigie_ground::video::http::{ExportRequest, FootageAnswer, Manifest};

use super::coverage::{Window, parse_lat_lon};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vigie footage query --at 48.9245,2.3601 --from 2026-07-14T14:02:00Z --to 2026-07-14T14:10:00Z --reason \"incident 42\"\n  vigie footage export --source drone:udp0:1 --from 2026-07-14T14:02:00Z --to 2026-07-14T14:03:00Z --reason \"requisition PV 2026/77\" --out export-42"
)]
pub struct FootageArgs {
    #[command(flatten)]
    pub server: super::token::ServerOpt,
    /// Time zone times are shown in.
    #[arg(long, global = true, default_value = "Europe/Paris")]
    pub tz: String,
    #[command(subcommand)]
    pub command: FootageCommand,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum FootageCommand {
    /// Which sources recorded a point between two times: the exact spans,
    /// the segments behind them, best pixel density first.
    Query {
        /// The point, `LAT,LON`.
        #[arg(long, value_parser = parse_lat_lon)]
        at: [f64; 2],
        #[command(flatten)]
        window: Window,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cut one source's footage of a window into MP4 files with a manifest
    /// (source, owner, authorisations, SHA-256, audit entries), downloaded
    /// into a directory and checked against the manifest's hashes.
    Export {
        /// The source (a unit id or a camera id).
        #[arg(long)]
        source: String,
        #[command(flatten)]
        window: Window,
        /// Directory the files and `manifest.json` are written to.
        #[arg(long)]
        out: PathBuf,
    },
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(300)))
        .build()
        .into()
}

/// The server's answer, or its error message.
fn answer(
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    base: &str,
) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
    let mut resp = resp.map_err(|e| {
        anyhow::anyhow!("cannot reach the server at {base}: {e} (is `vigie serve` running? --server sets the address)")
    })?;
    if !resp.status().is_success() {
        let status = resp.status();
        let why = resp
            .body_mut()
            .read_json::<vigie_protocols::api::ApiError>()
            .map(|e| e.error)
            .unwrap_or_else(|_| status.to_string());
        anyhow::bail!("the server refused ({status}): {why}");
    }
    Ok(resp)
}

fn span(a: i64, b: i64, tz: &str) -> String {
    format!(
        "{} → {}",
        vigie_ground::time::clock(a, tz),
        vigie_ground::time::clock(b, tz)
    )
}

/// Runs a `vigie footage` subcommand.
pub fn run(args: FootageArgs) -> anyhow::Result<()> {
    let (base, bearer) = args.server.endpoint()?;
    let tz = args.tz.as_str();
    match args.command {
        FootageCommand::Query {
            at: [lat, lon],
            window: Window { from, to, reason },
            json,
        } => {
            let url = format!("{base}/api/v1/footage");
            let resp = agent()
                .get(&url)
                .header("Authorization", &bearer)
                .query("lat", lat.to_string())
                .query("lon", lon.to_string())
                .query("from", from.to_string())
                .query("to", to.to_string())
                .query("reason", &reason)
                .call();
            let a: FootageAnswer = answer(resp, &base)?
                .body_mut()
                .read_json()
                .map_err(|e| anyhow::anyhow!("unexpected answer from {url}: {e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else if a.masked {
                println!("the point lies in a privacy mask: no footage of it is shown");
            } else if a.footage.is_empty() {
                println!(
                    "nothing recorded shows this point between {} and {}",
                    vigie_ground::time::rfc3339(from),
                    vigie_ground::time::rfc3339(to)
                );
            } else {
                for f in &a.footage {
                    let density = f
                        .density_px_m
                        .map_or("density unknown".into(), |d| format!("{d:.0} px/m"));
                    println!(
                        "{} ({}, {}): {:.1} s, {density}{}",
                        f.source_id,
                        f.kind.as_str(),
                        f.network.map_or("unknown network", |n| n.as_str()),
                        f.total_ms as f64 / 1000.0,
                        if f.masked_in_part {
                            ", crosses a privacy mask in part"
                        } else {
                            ""
                        }
                    );
                    for [a, b] in &f.intervals {
                        println!("  {} ({tz})", span(*a, *b, tz));
                    }
                    for s in &f.segments {
                        println!(
                            "  segment recording:{} {}{}{} {}",
                            s.recording,
                            span(s.start_ms, s.end_ms, tz),
                            s.authorisation
                                .map_or(String::new(), |a| format!(", authorisation {a}")),
                            if s.held { ", held" } else { "" },
                            s.uri
                        );
                    }
                }
            }
            Ok(())
        }
        FootageCommand::Export {
            source,
            window: Window { from, to, reason },
            out,
        } => {
            let url = format!("{base}/api/v1/footage/exports");
            let resp = agent()
                .post(&url)
                .header("Authorization", &bearer)
                .send_json(&ExportRequest {
                    source,
                    from_ms: from,
                    to_ms: to,
                    reason: Some(reason),
                });
            let manifest: Manifest = answer(resp, &base)?
                .body_mut()
                .read_json()
                .map_err(|e| anyhow::anyhow!("unexpected answer from {url}: {e}"))?;
            std::fs::create_dir_all(&out)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
            for part in &manifest.parts {
                let url = format!(
                    "{base}/api/v1/footage/exports/{}/{}",
                    manifest.id, part.file
                );
                let resp = agent().get(&url).header("Authorization", &bearer).call();
                // Streamed to the file and hashed on the way: a day's clip
                // is gigabytes.
                let path = out.join(&part.file);
                let partial = out.join(format!("{}.part", part.file));
                let mut body = answer(resp, &base)?.into_body().into_reader();
                let mut file = std::fs::File::create(&partial)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
                let mut hash = sha2::Sha256::new();
                let mut chunk = vec![0u8; 256 * 1024];
                loop {
                    use std::io::{Read as _, Write as _};
                    let n = body
                        .read(&mut chunk)
                        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
                    if n == 0 {
                        break;
                    }
                    hash.update(&chunk[..n]);
                    file.write_all(&chunk[..n])
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
                }
                file.sync_all()
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
                let sha = vigie_ground::guardrails::audit_seal::hex(&hash.finalize());
                if sha != part.sha256 {
                    let _ = std::fs::remove_file(&partial);
                    anyhow::bail!(
                        "{}: SHA-256 {sha} differs from the manifest's {}: the download is not the export",
                        part.file,
                        part.sha256
                    );
                }
                std::fs::rename(&partial, &path)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                println!(
                    "{} {} bytes, {} pictures, {} ({tz}), sha256 {}",
                    path.display(),
                    part.bytes,
                    part.pictures,
                    span(part.start_ms, part.end_ms, tz),
                    part.sha256
                );
            }
            let path = out.join("manifest.json");
            std::fs::write(&path, serde_json::to_string_pretty(&manifest)?)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            println!(
                "{} (export {}, audit entries {} and {}{})",
                path.display(),
                manifest.id,
                manifest.audit_request_seq,
                manifest.audit_written_seq,
                if manifest.withheld_masked > 0 {
                    format!(
                        "; {} fragment(s) withheld: they cross a privacy mask",
                        manifest.withheld_masked
                    )
                } else {
                    String::new()
                }
            );
            Ok(())
        }
    }
}

//! The server's TOML configuration, with documented defaults.
//!
//! Every field has a default, so an empty file (or no file) gives a server on
//! loopback with its data in `./vigie-data`. Unknown keys are errors: a typo
//! must not silently fall back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The values parse but make no sense together.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite database, the deployment CA and other state.
    /// Default `./vigie-data`.
    pub data_dir: PathBuf,
    /// The deployment's site: the origin of the local metric frame.
    pub site: SiteConfig,
    /// HTTP API and metrics.
    pub http: HttpConfig,
    /// MAVLink links to drones.
    pub mavlink: MavlinkConfig,
    /// QUIC listener for tablets and operator clients.
    pub quic: QuicConfig,
    /// Recording of the picture over time, for replay.
    pub timeline: TimelineConfig,
    /// Coverage history retention and the optics assumed for ranking.
    pub coverage: CoverageConfig,
    /// How long recordings, coverage history and telemetry are kept.
    pub retention: crate::guardrails::retention::RetentionConfig,
    /// Dispatch policy, call points and event zones.
    pub dispatch: crate::dispatch::policy::DispatchConfig,
    /// Where the audit register's signing key and checkpoints are, and
    /// whether to start on a register that does not verify.
    pub audit: crate::guardrails::audit_seal::AuditConfig,
    /// Who is responsible for the data, for the public notice.
    pub notice: NoticeConfig,
    /// Live video taken in and recorded.
    pub video: crate::video::service::VideoConfig,
    /// Whether `site` is the example site only because the file has no
    /// `[site]` (set by [`Config::parse`]): offline commands then take the
    /// data directory's frame ([`crate::site::resolve`]) and the server
    /// warns.
    #[serde(skip)]
    pub site_defaulted: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./vigie-data"),
            site: SiteConfig::default(),
            http: HttpConfig::default(),
            mavlink: MavlinkConfig::default(),
            quic: QuicConfig::default(),
            timeline: TimelineConfig::default(),
            coverage: CoverageConfig::default(),
            retention: Default::default(),
            dispatch: Default::default(),
            audit: Default::default(),
            notice: NoticeConfig::default(),
            video: Default::default(),
            site_defaulted: false,
        }
    }
}

/// The deployment site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// Site name shown to operators.
    pub name: String,
    /// Origin latitude, degrees. Default: the Stade de France.
    pub origin_lat_deg: f64,
    /// Origin longitude, degrees.
    pub origin_lon_deg: f64,
    /// Ground altitude at the origin above mean sea level, metres.
    pub origin_alt_msl_m: f64,
    /// The event under way, shown to officials on the live page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// IANA time zone in which people read times (pages, notices).
    /// Default `Europe/Paris`.
    pub time_zone: String,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            name: "Stade de France, Saint-Denis".into(),
            origin_lat_deg: 48.924_459,
            origin_lon_deg: 2.360_164,
            origin_alt_msl_m: 35.0,
            event: None,
            time_zone: "Europe/Paris".into(),
        }
    }
}

/// What the public notice (`vigie notice`) says of who is responsible:
/// the law requires the public to know the data controller and how to
/// exercise their rights. Unset fields are flagged in the notice itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeConfig {
    /// The data controller (responsable du traitement), e.g. "Ville de
    /// Saint-Denis, représentée par son maire".
    pub controller: String,
    /// The data protection officer's contact.
    pub dpo_contact: String,
    /// Where the public exercises its rights of access and erasure.
    pub rights_contact: String,
    /// The prefectoral order authorising the municipality's fixed
    /// video-protection (number and date).
    pub video_protection_order: String,
}

/// The HTTP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to bind. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve HTTPS (TLS 1.2/1.3). Bearer tokens must not cross a network in
    /// clear: on an address that is not loopback, plain HTTP is refused
    /// unless [`HttpConfig::allow_plain_http`] says so. Default false.
    pub tls: bool,
    /// Certificate chain (PEM) for HTTPS. Unset: the deployment CA issues
    /// the listener's certificate at start, for [`HttpConfig::tls_names`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM, PKCS#8, SEC1 or PKCS#1) of [`HttpConfig::tls_cert`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Host names and addresses the CA-issued HTTPS certificate names, on
    /// top of `localhost`, `127.0.0.1`, `::1` and the listen address.
    pub tls_names: Vec<String>,
    /// Plain HTTP on an address that is not loopback: only where a TLS
    /// proxy in front terminates HTTPS. Default false.
    pub allow_plain_http: bool,
    /// Most connections open at once; past it a new connection is closed as
    /// soon as it is accepted. Default 1024.
    pub max_connections: usize,
    /// Most connections open at once from one peer address; past it the
    /// peer's new connections are closed as soon as accepted. Default 64.
    pub max_connections_per_peer: usize,
    /// Longest wait for a request's headers (and for the TLS handshake),
    /// from the connection's start or the end of the previous response:
    /// idle and slow connections are closed after it, milliseconds.
    /// Default 10000.
    pub header_timeout_ms: u64,
    /// Longest time a request body may take to arrive, milliseconds.
    /// Default 30000.
    pub body_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: false,
            tls_cert: None,
            tls_key: None,
            tls_names: Vec::new(),
            allow_plain_http: false,
            max_connections: 1024,
            max_connections_per_peer: 64,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
        }
    }
}

/// The MAVLink side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MavlinkConfig {
    /// Links to open. Default: one UDP listener on `127.0.0.1:14550`, like a
    /// ground control station.
    pub links: Vec<LinkConfig>,
    /// Our own MAVLink system id (a GCS is usually 255).
    pub system_id: u8,
    /// Our own component id (MAV_COMP_ID_MISSIONPLANNER = 190).
    pub component_id: u8,
    /// Silence after which a vehicle's link is declared lost, milliseconds.
    pub link_loss_ms: u64,
}

impl Default for MavlinkConfig {
    fn default() -> Self {
        MavlinkConfig {
            links: vec![LinkConfig {
                name: "udp0".into(),
                address: "udpin:127.0.0.1:14550".into(),
                signing_key: None,
            }],
            system_id: 255,
            component_id: 190,
            link_loss_ms: 3000,
        }
    }
}

/// What replaces a secret in a shown configuration.
pub const REDACTED: &str = "<redacted>";

/// One MAVLink link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Short name, part of each vehicle's id (`drone:<name>:<sysid>`).
    pub name: String,
    /// `udpin:HOST:PORT` (listen), `udpout:HOST:PORT` or `tcp:HOST:PORT` (connect).
    pub address: String,
    /// MAVLink 2 signing key, 64 hex digits (32 bytes). When set, outgoing
    /// messages are signed and unsigned or badly signed ones are rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

/// The QUIC listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuicConfig {
    /// Address to bind. Default `127.0.0.1:4433`; port 0 picks a free port.
    pub listen: SocketAddr,
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4433)),
        }
    }
}

/// Recording of the picture over time (`vigie view --replay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimelineConfig {
    /// Record the picture. Default true.
    pub record: bool,
    /// Recording period, milliseconds: changes within it are coalesced.
    /// Default 1000.
    pub every_ms: u64,
    /// A whole-picture keyframe at least this often, milliseconds; replay
    /// seeks from the keyframe before the wanted moment. Default 60000.
    pub keyframe_every_ms: u64,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        TimelineConfig {
            record: true,
            every_ms: 1_000,
            keyframe_every_ms: 60_000,
        }
    }
}

/// Coverage fusion: how long its history is kept, and the optics assumed
/// where a camera, drone or tablet does not say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoverageConfig {
    /// How long coverage history (which source covered where, when) is
    /// kept, days; older intervals are purged hourly. Default 30 (one
    /// month, the usual legal maximum for video-protection records).
    pub history_retention_days: f64,
    /// Sensor and pixel assumptions behind the IEC 62676-4 pixel-density
    /// ranking and the range that follows from a resolution.
    pub optics: crate::coverage::camera::Optics,
}

impl Default for CoverageConfig {
    fn default() -> Self {
        CoverageConfig {
            history_retention_days: 30.0,
            optics: crate::coverage::camera::Optics::default(),
        }
    }
}

impl CoverageConfig {
    /// History retention, milliseconds.
    pub fn retention_ms(&self) -> i64 {
        (self.history_retention_days * 86_400_000.0).round() as i64
    }
}

impl Config {
    /// The default configuration on loopback with ports the system picks
    /// (HTTP, QUIC and every MAVLink link), storing in `data_dir`: for tests,
    /// benchmarks and drills that start a server next to others. The bound
    /// addresses are then in [`crate::state::ServerState::listener`].
    pub fn loopback(data_dir: PathBuf) -> Config {
        let mut config = Config {
            data_dir,
            ..Config::default()
        };
        config.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.quic.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        for link in &mut config.mavlink.links {
            link.address = "udpin:127.0.0.1:0".into();
        }
        config
    }

    /// The defaults for a command run without a configuration file: as
    /// [`Config::default`], with the site marked as not configured.
    pub fn unconfigured() -> Config {
        Config {
            site_defaulted: true,
            ..Config::default()
        }
    }

    /// Loads a configuration file; missing fields take their defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses configuration text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        // The origin is configured only when [site] gives both coordinates:
        // a [site] with a name alone still measures from the example site.
        let site = toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|t| t.get("site").and_then(|s| s.as_table()).cloned());
        let given = |k: &str| site.as_ref().is_some_and(|s| s.contains_key(k));
        match (given("origin_lat_deg"), given("origin_lon_deg")) {
            (true, true) => config.site_defaulted = false,
            (false, false) => config.site_defaulted = true,
            _ => {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: "[site] gives one of origin_lat_deg and origin_lon_deg: give both, or neither".into(),
                });
            }
        }
        Ok(config)
    }

    /// Checks what the schema alone cannot.
    pub fn validate(&self) -> Result<(), String> {
        let site = &self.site;
        if !crate::time::known_zone(&site.time_zone) {
            return Err(format!(
                "site.time_zone = {:?} is not a time zone this version knows: use Europe/Paris, another EU capital's zone, UTC, or an overseas zone such as Indian/Reunion or America/Martinique",
                site.time_zone
            ));
        }
        if !(-90.0..=90.0).contains(&site.origin_lat_deg) {
            return Err(format!(
                "site.origin_lat_deg = {} is not a latitude (-90..90)",
                site.origin_lat_deg
            ));
        }
        if !(-180.0..=180.0).contains(&site.origin_lon_deg) {
            return Err(format!(
                "site.origin_lon_deg = {} is not a longitude (-180..180)",
                site.origin_lon_deg
            ));
        }
        if self.timeline.every_ms < 100 {
            return Err(format!(
                "timeline.every_ms = {} is too short: record at most 10 times a second (>= 100)",
                self.timeline.every_ms
            ));
        }
        if self.timeline.keyframe_every_ms < self.timeline.every_ms {
            return Err("timeline.keyframe_every_ms must be at least timeline.every_ms".into());
        }
        let days = self.coverage.history_retention_days;
        if !(days > 0.0 && days <= 3650.0) {
            return Err(format!(
                "coverage.history_retention_days = {days} must be above 0 and at most 3650"
            ));
        }
        self.coverage.optics.validate()?;
        if self.mavlink.link_loss_ms == 0 {
            return Err("mavlink.link_loss_ms must be above 0".into());
        }
        if self.mavlink.system_id == 0 {
            return Err(
                "mavlink.system_id = 0 is MAVLink's broadcast address, not a ground station: use 255 (the usual GCS id) or another id from 1 to 255".into(),
            );
        }
        self.validate_http()?;
        self.validate_retention()?;
        let mut names = std::collections::HashSet::new();
        let mut addresses = std::collections::HashMap::new();
        for link in &self.mavlink.links {
            if !names.insert(link.name.as_str()) {
                return Err(format!(
                    "mavlink link name {:?} is used twice: names must be unique",
                    link.name
                ));
            }
            if link.name.is_empty() || link.name.contains(':') {
                return Err(format!(
                    "mavlink link name {:?} must be non-empty and contain no ':'",
                    link.name
                ));
            }
            let endpoint = crate::drone::endpoint::Endpoint::parse(&link.address)
                .map_err(|e| format!("mavlink link {:?}: {e}", link.name))?;
            let key = endpoint.to_string();
            if let Some(other) = (!endpoint.any_port())
                .then(|| addresses.insert(key, link.name.as_str()))
                .flatten()
            {
                return Err(format!(
                    "mavlink links {other:?} and {:?} both use {}: one address can carry one link",
                    link.name, link.address
                ));
            }
            if let Some(key) = &link.signing_key {
                crate::drone::signing::parse_key(key)
                    .map_err(|e| format!("mavlink link {:?}: {e}", link.name))?;
            }
        }
        self.video.validate()?;
        self.dispatch.validate()
    }

    /// HTTP: TLS files given together, sane bounds, no plain HTTP on a
    /// network without saying so.
    fn validate_http(&self) -> Result<(), String> {
        let http = &self.http;
        if http.tls_cert.is_some() != http.tls_key.is_some() {
            return Err("http.tls_cert and http.tls_key go together: give both, or neither for a certificate from the deployment CA".into());
        }
        if (http.tls_cert.is_some() || !http.tls_names.is_empty()) && !http.tls {
            return Err(
                "http.tls_cert, http.tls_key and http.tls_names need http.tls = true".into(),
            );
        }
        if !http.tls && !http.allow_plain_http && !http.listen.ip().is_loopback() {
            return Err(format!(
                "http.listen = {} is not a loopback address and http.tls is off: operator tokens would cross the network in clear. Set http.tls = true (a certificate from the deployment CA, or http.tls_cert and http.tls_key), or http.allow_plain_http = true only behind a TLS proxy",
                http.listen
            ));
        }
        if http.max_connections == 0 || http.max_connections > 100_000 {
            return Err(format!(
                "http.max_connections = {} must be between 1 and 100000",
                http.max_connections
            ));
        }
        if http.max_connections_per_peer == 0
            || http.max_connections_per_peer > http.max_connections
        {
            return Err(format!(
                "http.max_connections_per_peer = {} must be between 1 and http.max_connections ({})",
                http.max_connections_per_peer, http.max_connections
            ));
        }
        for (key, ms) in [
            ("header_timeout_ms", http.header_timeout_ms),
            ("body_timeout_ms", http.body_timeout_ms),
        ] {
            if !(100..=600_000).contains(&ms) {
                return Err(format!(
                    "http.{key} = {ms} must be between 100 and 600000 milliseconds"
                ));
            }
        }
        Ok(())
    }

    /// Retention: never above what the law allows (CSI art. L242-4 for
    /// drones, L252-5 for video-protection).
    fn validate_retention(&self) -> Result<(), String> {
        let r = &self.retention;
        for (key, days, max, why) in [
            (
                "drone_recordings_days",
                r.drone_recordings_days,
                MAX_DRONE_RECORDINGS_DAYS,
                "drone recordings are kept at most 7 days after the operation unless seized (CSI art. L242-4)",
            ),
            (
                "fixed_video_days",
                r.fixed_video_days,
                MAX_VIDEO_PROTECTION_DAYS,
                "video-protection recordings are kept at most one month (CSI art. L252-5)",
            ),
            (
                "tablet_recordings_days",
                r.tablet_recordings_days,
                MAX_VIDEO_PROTECTION_DAYS,
                "patrol camera recordings are kept at most as long as video-protection (one month)",
            ),
        ] {
            if days > max {
                return Err(format!(
                    "retention.{key} = {days} is above the legal maximum of {max} days: {why}; a legal hold (vigie retention hold) keeps seized items longer"
                ));
            }
        }
        if r.purge_interval_s == 0 || r.purge_interval_s > 86_400 {
            return Err(format!(
                "retention.purge_interval_s = {} must be between 1 and 86400 (a purge at least daily)",
                r.purge_interval_s
            ));
        }
        Ok(())
    }

    /// What is allowed but risky, one sentence each, for `vigie config
    /// check` and the server's start-up log.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.site_defaulted {
            out.push(format!(
                "no [site] origin in the configuration: the local frame's origin is the example site ({}, {:.6}, {:.6}), or the one the data directory recorded; every distance is wrong wherever the deployment is far from it (east-west x1.32 in Oslo). Set [site] origin_lat_deg and origin_lon_deg",
                self.site.name, self.site.origin_lat_deg, self.site.origin_lon_deg
            ));
        }
        if !self.http.tls && !self.http.listen.ip().is_loopback() {
            out.push(format!(
                "http.listen = {} serves plain HTTP on a network (http.allow_plain_http): operator tokens are readable by anyone on the path unless a TLS proxy is in front",
                self.http.listen
            ));
        }
        for link in &self.mavlink.links {
            let Ok(endpoint) = crate::drone::endpoint::Endpoint::parse(&link.address) else {
                continue;
            };
            if link.signing_key.is_none() && !endpoint.is_loopback() {
                out.push(format!(
                    "mavlink link {:?} ({}) is not signed and reachable from a network: anyone who can send it UDP can impersonate a vehicle; set signing_key (MAVLink 2 signing) on the link and the vehicles",
                    link.name, link.address
                ));
            }
        }
        out
    }

    /// The configuration as TOML for showing or recording (`vigie config
    /// check`, the audit register's `config.loaded`): secrets such as
    /// MAVLink signing keys are replaced by [`REDACTED`].
    pub fn to_shown_toml(&self) -> String {
        let mut shown = self.clone();
        for link in &mut shown.mavlink.links {
            if link.signing_key.is_some() {
                link.signing_key = Some(REDACTED.into());
            }
        }
        toml::to_string_pretty(&shown).unwrap_or_default()
    }

    /// The documented defaults as TOML, for `vigie config default`.
    pub fn default_toml() -> String {
        toml::to_string_pretty(&Config::default()).unwrap_or_default()
    }
}

/// Longest a drone recording may be kept after the operation, days (CSI
/// art. L242-4), unless seized.
pub const MAX_DRONE_RECORDINGS_DAYS: u32 = 7;

/// Longest a video-protection recording may be kept, days (CSI art.
/// L252-5: one month), unless seized.
pub const MAX_VIDEO_PROTECTION_DAYS: u32 = 30;

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_configuration_never_contains_a_signing_key() {
        let key = "ab".repeat(32);
        let text = format!(
            "[[mavlink.links]]\nname = \"udp0\"\naddress = \"udpin:127.0.0.1:14550\"\nsigning_key = \"{key}\"\n"
        );
        let c = Config::parse(&text, Path::new("x.toml")).unwrap();
        let shown = c.to_shown_toml();
        assert!(!shown.contains(&key), "{shown}");
        assert!(shown.contains("signing_key = \"<redacted>\""), "{shown}");
        // The configuration itself keeps its key.
        assert_eq!(
            c.mavlink.links[0].signing_key.as_deref(),
            Some(key.as_str())
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(c, Config::unconfigured());
        assert!(c.warnings()[0].contains("no [site]"), "{:?}", c.warnings());
        // A name alone configures no origin.
        let c = Config::parse("[site]\nname = 'Oslo'\n", Path::new("x.toml")).unwrap();
        assert!(c.site_defaulted);
        let c = Config::parse(
            "[site]\norigin_lat_deg = 59.91\norigin_lon_deg = 10.75\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert!(!c.site_defaulted);
        let err = Config::parse("[site]\norigin_lat_deg = 59.91\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("give both"), "{err}");
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let text = Config::default_toml();
        assert_eq!(
            Config::parse(&text, Path::new("d.toml")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn type_error_names_line_and_column() {
        let text = "data_dir = \"d\"\n[http]\nlisten = 8080\n";
        let err = Config::parse(text, Path::new("bad.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("bad.toml:3:10:"), "{msg}");
        assert!(
            msg.contains("invalid type") || msg.contains("expected"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_key_is_an_error() {
        let err =
            Config::parse("[http]\nlisen = \"127.0.0.1:1\"\n", Path::new("c.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("c.toml:2:1:"), "{msg}");
        assert!(msg.contains("lisen"), "{msg}");
    }

    #[test]
    fn duplicate_link_names_are_refused() {
        let text = "[[mavlink.links]]\nname='a'\naddress='udpin:127.0.0.1:1'\n[[mavlink.links]]\nname='a'\naddress='udpin:127.0.0.1:2'\n";
        let err = Config::parse(text, Path::new("l.toml")).unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
    }

    #[test]
    fn coverage_section_sets_retention_and_optics() {
        let text = "[coverage]\nhistory_retention_days = 7\n[coverage.optics]\nrange_tier = \"recognition\"\nsensor_aspect = 1.3333\ndrone_px = 3840\n";
        let c = Config::parse(text, Path::new("c.toml")).unwrap();
        assert_eq!(c.coverage.retention_ms(), 7 * 86_400_000);
        assert_eq!(
            c.coverage.optics.range_tier,
            crate::coverage::camera::Tier::Recognition
        );
        assert_eq!(c.coverage.optics.drone_px, 3840.0);
        // Unset keys keep their documented defaults.
        assert_eq!(c.coverage.optics.tablet_px, 1280.0);
        assert_eq!(
            Config::default().coverage.retention_ms(),
            30 * 86_400_000,
            "one month by default"
        );
        let err =
            Config::parse("[coverage]\nretention_days = 7\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("retention_days"), "{err}");
        let err = Config::parse(
            "[coverage]\nhistory_retention_days = 0\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("history_retention_days"), "{err}");
        let err = Config::parse(
            "[coverage.optics]\nrange_tier = \"blurry\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("blurry"), "{err}");
        let err = Config::parse(
            "[coverage.optics]\nsensor_aspect = 0\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("sensor_aspect"), "{err}");
    }

    fn refused(text: &str, needle: &str) {
        let err = Config::parse(text, Path::new("risky.toml"))
            .expect_err(&format!("{text:?} must be refused"));
        assert!(err.to_string().contains(needle), "{err}");
    }

    #[test]
    fn dangerous_settings_are_refused_with_the_reason() {
        // Plain HTTP on a network: tokens in clear.
        refused("[http]\nlisten = '0.0.0.0:8080'\n", "in clear");
        // An all-zero signing key signs nothing.
        let zeros = "0".repeat(64);
        refused(
            &format!(
                "[[mavlink.links]]\nname='a'\naddress='udpin:127.0.0.1:1'\nsigning_key='{zeros}'\n"
            ),
            "all zeros",
        );
        // Above the legal maxima.
        refused(
            "[retention]\ndrone_recordings_days = 8\n",
            "legal maximum of 7",
        );
        refused(
            "[retention]\nfixed_video_days = 31\n",
            "legal maximum of 30",
        );
        refused(
            "[retention]\ntablet_recordings_days = 45\n",
            "legal maximum of 30",
        );
        // MAVLink's broadcast id is no ground station.
        refused("[mavlink]\nsystem_id = 0\n", "broadcast");
        // Two links on one address.
        refused(
            "[[mavlink.links]]\nname='a'\naddress='udpin:127.0.0.1:14550'\n[[mavlink.links]]\nname='b'\naddress='udpin:127.0.0.1:14550'\n",
            "both use",
        );
        refused(
            "[http]\nmax_connections_per_peer = 0\n",
            "max_connections_per_peer",
        );
        refused("[http]\ntls_key = 'k.pem'\ntls = true\n", "go together");
    }

    #[test]
    fn risky_settings_pass_with_a_warning() {
        let c = Config::parse(
            "[site]\norigin_lat_deg = 48.9\norigin_lon_deg = 2.36\n[http]\nlisten = '0.0.0.0:8080'\nallow_plain_http = true\n[[mavlink.links]]\nname='a'\naddress='udpin:0.0.0.0:14550'\n",
            Path::new("w.toml"),
        )
        .unwrap();
        let warnings = c.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("plain HTTP"), "{warnings:?}");
        assert!(warnings[1].contains("not signed"), "{warnings:?}");
        // HTTPS on a network, signed links and the defaults: no warning.
        let c = Config::parse(
            &format!(
                "[site]\norigin_lat_deg = 48.9\norigin_lon_deg = 2.36\n[http]\nlisten = '0.0.0.0:8443'\ntls = true\n[[mavlink.links]]\nname='a'\naddress='udpin:0.0.0.0:14550'\nsigning_key='{}'\n",
                "ab".repeat(32)
            ),
            Path::new("ok.toml"),
        )
        .unwrap();
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        assert!(Config::default().warnings().is_empty());
        // Several links on system-picked ports never collide.
        let loopback = Config::loopback(PathBuf::from("d"));
        assert!(loopback.validate().is_ok());
    }

    #[test]
    fn bad_endpoint_is_refused() {
        let text = "[[mavlink.links]]\nname='a'\naddress='serial:/dev/ttyS0'\n";
        let err = Config::parse(text, Path::new("l.toml")).unwrap_err();
        assert!(err.to_string().contains("udpin"), "{err}");
    }
}

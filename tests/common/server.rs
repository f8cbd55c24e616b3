//! `vigie serve` as a child process on loopback, for tests that drive the
//! binary as an operator would.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test.
pub const VIGIE: &str = env!("CARGO_BIN_EXE_vigie");

/// Longest a server may take to announce its listeners.
const STARTUP: Duration = Duration::from_secs(90);

/// Kills a child process however the test ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Sends `sig` (`-STOP`, `-CONT`, `-9`, ...) to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {sig}");
    }
}

/// How [`serve_with`] starts the server.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// A configuration, written to `DATA/test.toml` and passed with
    /// `--config`.
    pub config: Option<String>,
    /// A fixed QUIC port (a restarted server keeps its tablets), else a
    /// free one.
    pub quic_port: Option<u16>,
    /// A file every log line is appended to, to read after a failure.
    pub log: Option<PathBuf>,
}

/// A running `vigie serve` and the addresses it bound.
pub struct Served {
    /// The server process.
    pub running: Running,
    /// HTTP listener, `HOST:PORT`.
    pub http: String,
    /// First MAVLink link (`udp0`), `HOST:PORT`.
    pub mavlink: String,
    /// QUIC listener, `HOST:PORT`.
    pub quic: String,
}

/// Starts `vigie serve --data-dir DATA` with every listener on a free
/// loopback port, and waits until it has announced all three. Its log keeps
/// being drained so that it never blocks on a full pipe.
pub fn serve(data: &Path) -> Served {
    serve_with(data, &Options::default())
}

/// [`serve`] with a configuration, a fixed QUIC port or a log file.
pub fn serve_with(data: &Path, options: &Options) -> Served {
    let mut cmd = Command::new(VIGIE);
    cmd.arg("serve");
    if let Some(toml) = &options.config {
        let path = data.join("test.toml");
        std::fs::create_dir_all(data).expect("data directory");
        std::fs::write(&path, toml).expect("test configuration written");
        cmd.arg("--config").arg(path);
    }
    let quic = match options.quic_port {
        Some(port) => format!("127.0.0.1:{port}"),
        None => "127.0.0.1:0".to_string(),
    };
    let mut child = cmd
        .arg("--data-dir")
        .arg(data)
        .args([
            "--http",
            "127.0.0.1:0",
            "--quic",
            &quic,
            "--mavlink",
            "127.0.0.1:0",
        ])
        .env("VIGIE_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigie serve starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    let mut log = options.log.as_ref().map(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("log file opens")
    });
    std::thread::spawn(move || {
        use std::io::Write as _;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(f) = log.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            let _ = tx.send(line);
        }
    });
    let (mut http, mut mavlink, mut quic) = (None, None, None);
    let started = Instant::now();
    while http.is_none() || mavlink.is_none() || quic.is_none() {
        let left = STARTUP.saturating_sub(started.elapsed());
        let line = rx
            .recv_timeout(left)
            .expect("server announced its HTTP, MAVLink and QUIC listeners");
        let after = |marker: &str| {
            line.split(marker)
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(|r| r.trim_matches(|c: char| !c.is_ascii_graphic()).to_string())
        };
        http = http.or_else(|| after("http listening on "));
        mavlink = mavlink.or_else(|| after("mavlink:udp0 listening on "));
        quic = quic.or_else(|| after("quic listening on "));
    }
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Served {
        running,
        http: http.unwrap_or_default(),
        mavlink: mavlink.unwrap_or_default(),
        quic: quic.unwrap_or_default(),
    }
}

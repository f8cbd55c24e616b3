//! Subcommands of the `vigie` binary, one file each.

pub mod audit;
pub mod authorisation;
pub mod bench;
pub mod bench_http;
pub mod bench_patrols;
pub mod bench_video;
pub mod ca;
pub mod cameras;
pub mod config;
pub mod coverage;
pub mod demo;
pub mod drone;
pub mod duration;
pub mod footage;
pub mod notice;
pub mod plan;
pub mod retention;
pub mod serve;
pub mod sim;
pub mod sim_patrols;
pub mod token;
pub mod view;

/// Logs to stderr, so that stdout carries only what a command prints.
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A multi-threaded tokio runtime for commands that need one.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Waits for `run_for` when given (still stopping early on a signal), or
/// for the stop signal.
pub async fn run_for_or_signal(run_for: Option<std::time::Duration>) {
    match run_for {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = stop_signal() => {}
            }
        }
        None => stop_signal().await,
    }
}

/// Resolves when Ctrl-C or SIGTERM arrives.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}

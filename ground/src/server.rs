//! The ground server: binds the listeners, wires them to the fleet picture,
//! and runs until asked to stop.
//!
//! Start-up binds every socket before returning, so a caller (the CLI, a
//! test) knows the real addresses, including ports picked by the OS. Shutdown
//! is one signal seen by every task; after the tasks end, the picture is
//! flushed to SQLite and the run is marked as cleanly stopped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::fleet::FleetHandle;
use crate::frame::LocalFrame;
use crate::metrics::Metrics;
use crate::store::Store;

/// How often the picture is saved while running, so that a crash loses at
/// most this much of the last-known state.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(5);

pub use crate::shutdown::Shutdown;
pub use crate::state::ServerState;

/// A running server.
pub struct Server {
    /// Shared state.
    state: Arc<ServerState>,
    /// Asks every task to stop.
    stop: watch::Sender<bool>,
    /// The listener tasks.
    tasks: JoinSet<anyhow::Result<()>>,
    /// This run's id in the store.
    run_id: i64,
}

impl Server {
    /// Opens the store and binds every listener.
    pub async fn start(mut config: Config) -> anyhow::Result<Server> {
        for warning in config.warnings() {
            tracing::warn!("CONFIG: {warning}");
        }
        let store = Store::open(&config.data_dir)?;
        site_frame(&store, &mut config)?;
        crate::drone::persist::migrate(&store)?;
        crate::auth::tokens::migrate(&store)?;
        crate::guardrails::authorisation::migrate(&store)?;
        crate::guardrails::retention::migrate(&store)?;
        crate::video::index::migrate(&store)?;
        // A register that does not verify stops the start, unless accepted:
        // then the damage is recorded, logged and shown by the health route.
        let (audit, audit_damage) = crate::guardrails::audit::start_checked(&store, &config.audit)?;
        crate::timeline::persist::migrate(&store)?;
        let run_id = store.begin_run(crate::time::unix_ms(), env!("CARGO_PKG_VERSION"))?;
        if store.previous_run_crashed(run_id)? {
            tracing::warn!("the previous run did not stop cleanly; recovering from the database");
        }
        let fleet = FleetHandle::new();
        for mut unit in crate::drone::persist::restorable(&store, store.load_units()?)? {
            // Nothing restored is live until its link speaks again.
            if matches!(
                unit.kind,
                vigie_protocols::api::UnitKind::Drone | vigie_protocols::api::UnitKind::Patrol
            ) {
                unit.status = vigie_protocols::api::UnitStatus::LinkLost;
            }
            fleet.upsert(unit);
        }
        let frame = LocalFrame::new(config.site.origin_lat_deg, config.site.origin_lon_deg);
        // Bind every MAVLink link first: their queues go into the state.
        let mut links = Vec::new();
        let mut drones = crate::drone::hub::DroneHub::default();
        for link in &config.mavlink.links {
            let bound = crate::drone::io::bind(link).await?;
            let (tx, rx) = tokio::sync::mpsc::channel(crate::drone::hub::LINK_QUEUE);
            drones.add(&link.name, tx);
            links.push((bound, rx));
        }
        let coverage = Arc::new(crate::coverage::live::LiveCoverage::open_with(
            &store,
            frame,
            &config.coverage,
        )?);
        // Every command to a drone, whoever sends it, passes the guardrails.
        drones.set_gate(Arc::new(crate::guardrails::gate::DroneGate {
            store: store.clone(),
            fleet: fleet.clone(),
            audit: audit.clone(),
        }));
        let guardrails = Arc::new(crate::guardrails::Guardrails::new(
            crate::guardrails::retention::Limits::from_config(&config),
        ));
        let metrics = Arc::new(Metrics::default());
        let patrol = Arc::new(crate::patrol::roster::PatrolLink::new(
            store.clone(),
            metrics.patrol.clone(),
        )?);
        let dispatch = crate::dispatch::desk::Desk::open(
            store.clone(),
            config.dispatch.clone(),
            frame,
            patrol.clone(),
            fleet.clone(),
            coverage.clone(),
            Some(audit.clone()),
        )
        .await?;
        let (stop, stop_rx) = watch::channel(false);
        let shutdown = Shutdown::new(stop_rx);
        let state = Arc::new(ServerState {
            config,
            fleet,
            patrol,
            store,
            metrics,
            frame,
            started: Instant::now(),
            drones,
            coverage,
            audit,
            guardrails,
            shutdown: shutdown.clone(),
            video: Arc::default(),
            dispatch,
            audit_damage,
            listeners: Mutex::default(),
        });
        crate::guardrails::tasks::record_config(&state)?;
        let mut tasks = JoinSet::new();

        let drone_links = Arc::new(crate::drone::io::LinkContext {
            mavlink: state.config.mavlink.clone(),
            ground_alt_msl_m: state.config.site.origin_alt_msl_m,
            frame: state.frame,
            fleet: state.fleet.clone(),
            store: state.store.clone(),
            metrics: state.metrics.clone(),
        });
        for (link, requests) in links {
            state.add_listener(&format!("mavlink:{}", link.name()), link.address);
            crate::drone::io::spawn(
                link,
                requests,
                drone_links.clone(),
                shutdown.clone(),
                &mut tasks,
            );
        }

        // HTTP.
        let http = crate::http::listener::bind(state.config.http.listen).with_context(|| {
            format!(
                "cannot bind the HTTP listener on {}",
                state.config.http.listen
            )
        })?;
        state.add_listener("http", http.local_addr()?);
        let tls = crate::http::listener::tls_acceptor(
            &state.config.http,
            &state.config.data_dir,
            &state.config.site.name,
        )?;
        if tls.is_some() {
            tracing::info!("HTTP served over TLS (https://)");
        }
        // Handlers see the peer address (refusals are counted by it).
        tasks.spawn(crate::http::listener::serve(
            http,
            crate::http::router(state.clone()),
            tls,
            crate::http::listener::Limits::from_config(&state.config.http),
            state.metrics.http.clone(),
            shutdown.clone(),
        ));

        // Video: each configured stream received, recorded and indexed.
        let video = crate::video::service::VideoContext {
            store: state.store.clone(),
            audit: state.audit.clone(),
            frame: state.frame,
            coverage: state.coverage.clone(),
            dir: state.config.video.dir_in(&state.config.data_dir),
            relay: state.video.clone(),
        };
        for stream in state.config.video.streams.clone() {
            let socket = crate::video::service::bind_udp(stream.listen).with_context(|| {
                format!(
                    "cannot bind the video stream of {} on {}",
                    stream.source, stream.listen
                )
            })?;
            state.add_listener(&format!("video:{}", stream.source), socket.local_addr()?);
            let counters = state.metrics.video_feed(&stream.source);
            // Viewers can wait for a feed from the start (a drone's is
            // relayed once its recording is permitted).
            state.video.feed(
                &stream.source,
                stream.kind() != crate::coverage::SourceKind::Drone,
            );
            tasks.spawn(crate::video::service::run_stream(
                video.clone(),
                stream,
                socket,
                counters,
                shutdown.clone(),
            ));
        }

        if state.config.video.announced {
            tasks.spawn(crate::video::service::follow_announced(
                state.clone(),
                video.clone(),
                shutdown.clone(),
            ));
        }

        // Coverage follows the picture and records its history.
        let mut coverage_stop = shutdown.clone();
        tasks.spawn(crate::coverage::live::follow_fleet(
            state.coverage.clone(),
            state.fleet.clone(),
            state.store.clone(),
            async move { coverage_stop.wait().await },
        ));
        // Dispatch: resends, escalations, eyes on.
        let mut dispatch_stop = shutdown.clone();
        let dispatch = state.dispatch.clone();
        tasks.spawn(async move {
            dispatch
                .run_timers(async move { dispatch_stop.wait().await })
                .await;
            Ok(())
        });
        // QUIC: patrol tablets and operator clients.
        let quic =
            Arc::new(crate::patrol::quic::QuicContext {
                data_dir: state.config.data_dir.clone(),
                site_name: state.config.site.name.clone(),
                listen: state.config.quic.listen,
                optics: state.config.coverage.optics,
                resend: state.config.dispatch.resend_policy(),
                fleet: state.fleet.clone(),
                store: state.store.clone(),
                frame: state.frame,
                patrol: state.patrol.clone(),
                coverage: state.coverage.clone(),
                audit: state.audit.clone(),
                guardrails: state.guardrails.clone(),
                dispatch: Arc::new(state.dispatch.clone()),
                pictures: Arc::new(crate::operator::picture::PictureSources {
                    fleet: state.fleet.clone(),
                    coverage: state.coverage.clone(),
                    dispatch: state.dispatch.clone(),
                }),
                video: state.video.clone(),
                tablet_video: state.config.video.tablets.then(|| {
                    crate::video::tablet::TabletVideo {
                        ctx: video.clone(),
                        metrics: state.metrics.clone(),
                    }
                }),
            });
        let quic_addr = crate::patrol::quic::spawn(&quic, &mut tasks, shutdown.clone()).await?;
        state.add_listener("quic", quic_addr);

        // The timeline: the picture recorded for replay.
        if state.config.timeline.record {
            let recorder = state.clone();
            let mut record_stop = shutdown.clone();
            tasks.spawn(async move {
                let cfg = &recorder.config.timeline;
                let mut core = crate::timeline::Recorder::new(cfg.keyframe_every_ms as i64);
                let mut tick = tokio::time::interval(Duration::from_millis(cfg.every_ms));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            let units = recorder.fleet.snapshot();
                            if let Some(step) = core.step(crate::time::unix_ms(), &units) {
                                let store = recorder.store.clone();
                                let written = tokio::task::spawn_blocking(move || store.append_step(&step)).await;
                                if let Ok(Err(e)) = written {
                                    tracing::error!("recording the timeline failed: {e}");
                                }
                            }
                        }
                        _ = record_stop.wait() => return Ok(()),
                    }
                }
            });
        }

        // Authorisations over time (fences, recalls) and the retention purge.
        tasks.spawn(crate::guardrails::tasks::supervise(
            state.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::guardrails::tasks::purge(
            state.clone(),
            shutdown.clone(),
        ));
        // Refusals counted per source and minute: to the register, and
        // summarised to the log.
        tasks.spawn(crate::guardrails::tasks::refusals(
            state.clone(),
            shutdown.clone(),
        ));

        // Periodic save of the picture.
        let saver = state.clone();
        let mut save_stop = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(SAVE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        // SQLite blocks (about 100 ms for 500 units on a busy
                        // machine): off the runtime's threads, or every link
                        // task sharing the thread stalls that long.
                        let (store, units) = (saver.store.clone(), persisted_units(&saver.fleet));
                        let saved = tokio::task::spawn_blocking(move || store.save_units(&units, crate::time::unix_ms())).await;
                        match saved {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => tracing::error!("saving the fleet picture failed: {e}"),
                            Err(e) => tracing::error!("saving the fleet picture failed: {e}"),
                        }
                    }
                    _ = save_stop.wait() => return Ok(()),
                }
            }
        });

        Ok(Server {
            state,
            stop,
            tasks,
            run_id,
        })
    }

    /// Shared state (the picture, the store, the bound addresses).
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// A shutdown signal for tasks started outside the server.
    pub fn shutdown_signal(&self) -> Shutdown {
        Shutdown::new(self.stop.subscribe())
    }

    /// Runs until `signal` resolves or a listener fails, then stops every
    /// task and flushes state.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let outcome = tokio::select! {
            _ = signal => Ok(()),
            Some(done) = self.tasks.join_next() => match done {
                Ok(Ok(())) => Err(anyhow::anyhow!("a listener stopped unexpectedly")),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(anyhow::anyhow!("a listener task panicked: {e}")),
            },
        };
        self.stop().await?;
        outcome
    }

    /// Stops every task and flushes state.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = self.tasks.join_next() => match next {
                    None => break,
                    Some(Ok(Err(e))) => tracing::warn!("task ended with an error during shutdown: {e:#}"),
                    Some(Err(e)) => tracing::warn!("task failed during shutdown: {e}"),
                    Some(Ok(Ok(()))) => {}
                },
                _ = &mut deadline => {
                    tracing::warn!("{} task(s) did not stop within 5 s; aborting them", self.tasks.len());
                    self.tasks.abort_all();
                    break;
                }
            }
        }
        // Everything recorded before the stop is on disk before we say so,
        // refusals counted in the current minute included.
        crate::guardrails::gate::flush_refusals(&self.state.register()).await;
        if let Err(e) = self.state.audit.flush_async().await {
            tracing::error!("audit register not flushed at shutdown: {e}");
        }
        let now = crate::time::unix_ms();
        self.state
            .store
            .save_units(&persisted_units(&self.state.fleet), now)?;
        self.state.store.end_run(self.run_id, now)?;
        tracing::info!("state flushed to {}", self.state.store.path().display());
        Ok(())
    }
}

/// The units of the picture that are saved (never drone duplicates).
fn persisted_units(fleet: &FleetHandle) -> Vec<vigie_protocols::api::Unit> {
    let mut units = fleet.snapshot();
    units.retain(crate::drone::persist::persisted);
    units
}

/// The server's frame: the configuration's `[site]`, recorded in the data
/// directory for offline commands; without `[site]`, the origin the data
/// directory recorded (an import far from the example site), if any.
fn site_frame(store: &Store, config: &mut Config) -> anyhow::Result<()> {
    let recorded = crate::site::recorded(store)?;
    let site = &mut config.site;
    if config.site_defaulted {
        if let Some(r) = recorded {
            tracing::info!(
                "no [site] configured: the local frame's origin is the data directory's, {:.6}, {:.6} ({})",
                r.origin_lat_deg,
                r.origin_lon_deg,
                r.source
            );
            site.origin_lat_deg = r.origin_lat_deg;
            site.origin_lon_deg = r.origin_lon_deg;
        }
        return Ok(());
    }
    let frame = LocalFrame::new(site.origin_lat_deg, site.origin_lon_deg);
    let same = recorded.as_ref().is_some_and(|r| r.is_at(&frame));
    if !same {
        if let Some(r) = &recorded {
            tracing::warn!(
                "the data directory measured from {:.6}, {:.6} ({}); the configuration's [site] moves the frame to {:.6}, {:.6}, recorded for offline commands",
                r.origin_lat_deg,
                r.origin_lon_deg,
                r.source,
                site.origin_lat_deg,
                site.origin_lon_deg
            );
        }
        crate::site::record(
            store,
            site.origin_lat_deg,
            site.origin_lon_deg,
            "the configuration's [site]",
            crate::time::unix_ms(),
        )?;
    }
    Ok(())
}

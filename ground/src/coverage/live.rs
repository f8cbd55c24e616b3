//! The live coverage: follows the fleet picture, keeps the index current and
//! records history.
//!
//! The drone and patrol links never call coverage: they put each unit's
//! `coverage` ring in the fleet picture, and [`follow_fleet`] subscribes to
//! it (a snapshot, then changes; a resync from a new snapshot when it falls
//! behind). Units whose link is lost or that are unavailable leave the
//! index: a camera nobody receives sees nothing for us.
//!
//! [`LiveCoverage::apply`] is the whole per-change path (the link's
//! local-frame ring, or the WGS84 ring brought to the local frame for a unit
//! whose link gave none; index move; history recorder) and takes the time as
//! an argument, so it is tested and benchmarked without a runtime.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use vigie_protocols::api::{Unit, UnitKind, UnitStatus};

use super::buildings::Buildings;
use super::camera::Optics;
use super::history::{self, IntervalRow, Recorder};
use super::index::{CoverageIndex, SourceInfo};
use super::inventory;
use super::mask::Masks;
use super::polygon::{Pt, closed};
use super::{Network, SourceKind};
use crate::config::CoverageConfig;
use crate::fleet::{Change, FleetHandle, LocalRing};
use crate::frame::LocalFrame;
use crate::store::{Store, StoreError};

/// Cruise speed assumed for a drone flying to look elsewhere, m/s.
pub const DRONE_CRUISE_M_S: f64 = 12.0;
/// Walking speed of a patrol on foot, m/s.
pub const WALK_M_S: f64 = 1.4;
/// How often buffered history rows are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The index and recorder behind locks, shared by the follower task and
/// HTTP handlers. Readers hold the read lock for one query; the follower
/// takes the write lock for one change.
#[derive(Debug)]
pub struct LiveCoverage {
    /// The site's local frame.
    pub frame: LocalFrame,
    /// Every coverage polygon.
    index: RwLock<CoverageIndex>,
    /// Moving sources' history, waiting to be written.
    recorder: Mutex<Recorder>,
    /// Rows finished but not yet written.
    pending_rows: Mutex<Vec<IntervalRow>>,
    /// Optics assumed where a source does not say.
    pub optics: Optics,
}

/// Loads buildings and masks stored in the data directory.
pub fn load_layers(
    store: &Store,
    frame: &LocalFrame,
) -> Result<(Option<Buildings>, Masks), StoreError> {
    let buildings = match history::load_layer(store, "buildings")? {
        Some(text) => match inventory::parse_buildings(&text, frame) {
            Ok((b, _)) => Some(Buildings::new(b)),
            Err(e) => {
                tracing::warn!("stored buildings layer unreadable, ignored: {e}");
                None
            }
        },
        None => None,
    };
    let masks = match history::load_layer(store, "masks")? {
        Some(text) => match inventory::parse_masks(&text, frame) {
            Ok((m, _)) => Masks::new(m),
            Err(e) => {
                tracing::warn!("stored privacy masks unreadable, ignored: {e}");
                Masks::default()
            }
        },
        None => Masks::default(),
    };
    Ok((buildings, masks))
}

/// Index entry of a fixed camera with its coverage ring (local frame).
pub fn fixed_source(
    cam: &super::camera::FixedCamera,
    frame: &LocalFrame,
    ring: Vec<Pt>,
    optics: &Optics,
) -> Option<(SourceInfo, Vec<Pt>)> {
    let ring = closed(ring)?;
    Some((
        SourceInfo {
            id: cam.id.clone(),
            kind: SourceKind::FixedCamera,
            network: cam.network,
            eye: cam.local(frame),
            height_m: cam.mount_height_m,
            hfov_deg: cam.hfov_deg,
            horizontal_px: cam.horizontal_px(optics),
            heading_deg: cam.heading_deg,
            range_m: cam.useful_range_m(),
            ptz: cam.ptz,
            speed_m_s: 0.0,
        },
        ring,
    ))
}

fn local(frame: &LocalFrame, p: [f64; 2]) -> Pt {
    let (e, n) = frame.to_local(p[1], p[0]);
    [e, n]
}

/// What a unit of the picture contributes to the index, if anything. `seen`
/// is the unit's ring in the local frame when its link computed one (taken
/// as is); otherwise its WGS84 `coverage` is brought to the local frame.
pub fn unit_source(
    unit: &Unit,
    seen: Option<&LocalRing>,
    frame: &LocalFrame,
    optics: &Optics,
) -> Option<(SourceInfo, Vec<Pt>)> {
    if matches!(unit.status, UnitStatus::LinkLost | UnitStatus::Unavailable) {
        return None;
    }
    let ring = match seen {
        Some(ring) => closed(ring.to_vec())?,
        None => closed(
            unit.coverage
                .as_ref()?
                .iter()
                .map(|p| local(frame, *p))
                .collect(),
        )?,
    };
    let (kind, height_m, hfov_deg, px, speed) = match unit.kind {
        UnitKind::Drone => (
            SourceKind::Drone,
            unit.position.and_then(|p| p.alt_rel_m).unwrap_or(50.0),
            unit.drone
                .as_ref()
                .and_then(|d| d.camera_fov_deg)
                .map_or(optics.drone_hfov_deg, |f| f[0]),
            optics.drone_px,
            DRONE_CRUISE_M_S,
        ),
        UnitKind::Patrol => (
            SourceKind::Tablet,
            optics.tablet_height_m,
            optics.tablet_hfov_deg,
            optics.tablet_px,
            WALK_M_S,
        ),
        UnitKind::FixedCamera => (SourceKind::FixedCamera, 6.0, 60.0, 1920.0, 0.0),
        UnitKind::CallPoint => return None,
    };
    let eye = match unit.position {
        Some(p) => local(frame, [p.lon_deg, p.lat_deg]),
        None => {
            let n = (ring.len() - 1) as f64;
            let s = ring[..ring.len() - 1]
                .iter()
                .fold([0.0, 0.0], |a, p| [a[0] + p[0], a[1] + p[1]]);
            [s[0] / n, s[1] / n]
        }
    };
    Some((
        SourceInfo {
            id: unit.id.clone(),
            kind,
            network: Network::Fleet,
            eye,
            height_m: height_m.max(0.1),
            hfov_deg,
            horizontal_px: px,
            heading_deg: unit.position.and_then(|p| p.heading_deg).unwrap_or(0.0),
            range_m: 0.0,
            ptz: false,
            speed_m_s: speed,
        },
        ring,
    ))
}

impl LiveCoverage {
    /// An index over `statics`, with masks and buildings.
    pub fn new(
        frame: LocalFrame,
        statics: Vec<(SourceInfo, Vec<Pt>)>,
        masks: Masks,
        buildings: Option<Buildings>,
    ) -> LiveCoverage {
        LiveCoverage {
            frame,
            index: RwLock::new(CoverageIndex::new(statics, masks, buildings.map(Arc::new))),
            recorder: Mutex::new(Recorder::new()),
            pending_rows: Mutex::default(),
            optics: Optics::default(),
        }
    }

    /// Applies the `[coverage]` configuration: history retention and the
    /// optics assumed for moving sources. Fixed cameras take their optics
    /// when their polygons are computed ([`LiveCoverage::open_with`]).
    pub fn configured(mut self, config: &CoverageConfig) -> LiveCoverage {
        self.optics = config.optics;
        self
    }

    /// Loads the camera inventory, buildings and masks from the store, with
    /// the default `[coverage]` configuration.
    pub fn open(store: &Store, frame: LocalFrame) -> Result<LiveCoverage, StoreError> {
        LiveCoverage::open_with(store, frame, &CoverageConfig::default())
    }

    /// Loads the camera inventory, buildings and masks from the store, with
    /// the given `[coverage]` configuration.
    pub fn open_with(
        store: &Store,
        frame: LocalFrame,
        config: &CoverageConfig,
    ) -> Result<LiveCoverage, StoreError> {
        history::migrate(store)?;
        let statics = history::load_inventory(store)?
            .iter()
            .filter_map(|(cam, ring)| {
                let ring = ring.as_ref()?.iter().map(|p| local(&frame, *p)).collect();
                fixed_source(cam, &frame, ring, &config.optics)
            })
            .collect::<Vec<_>>();
        let (buildings, masks) = load_layers(store, &frame)?;
        tracing::info!(cameras = statics.len(), "coverage index loaded");
        Ok(LiveCoverage::new(frame, statics, masks, buildings).configured(config))
    }

    /// Runs `f` with read access to the index.
    pub fn read<R>(&self, f: impl FnOnce(&CoverageIndex) -> R) -> R {
        // A panic in a writer leaves at most one source half-moved; the
        // index stays usable.
        let guard = self.index.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    fn write<R>(&self, f: impl FnOnce(&mut CoverageIndex) -> R) -> R {
        let mut guard = self.index.write().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn recorder<R>(&self, f: impl FnOnce(&mut Recorder, &mut Vec<IntervalRow>) -> R) -> R {
        let mut rec = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows = self.pending_rows.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut rec, &mut rows)
    }

    /// Applies one change of the picture at `now_ms`.
    pub fn apply(&self, now_ms: i64, change: &Change) {
        match change {
            Change::Upsert(unit, seen) => self.upsert_unit(now_ms, unit, seen.as_ref()),
            Change::Remove(id) => self.drop_source(now_ms, id),
        }
    }

    fn upsert_unit(&self, now_ms: i64, unit: &Unit, seen: Option<&LocalRing>) {
        let Some((info, ring)) = unit_source(unit, seen, &self.frame, &self.optics) else {
            self.drop_source(now_ms, &unit.id);
            return;
        };
        let (kind, network) = (info.kind, info.network);
        let wgs = unit.coverage.clone().unwrap_or_default();
        let local_ring = ring.clone();
        match self.write(|idx| idx.upsert(info, ring)) {
            Ok(()) => self.recorder(|rec, rows| {
                rec.update(
                    now_ms,
                    &unit.id,
                    kind,
                    network,
                    Some((local_ring, wgs)),
                    rows,
                )
            }),
            Err(e) => tracing::debug!("coverage of {} not indexed: {e}", unit.id),
        }
    }

    fn drop_source(&self, now_ms: i64, id: &str) {
        if self.write(|idx| idx.remove(id)) {
            self.recorder(|rec, rows| {
                rec.update(now_ms, id, SourceKind::Drone, Network::Fleet, None, rows)
            });
        }
    }

    /// Brings the index in line with a full snapshot of the picture (see
    /// [`FleetHandle::snapshot_seen`]).
    pub fn resync(&self, now_ms: i64, units: &[(Unit, Option<LocalRing>)]) {
        let present: std::collections::HashSet<&str> =
            units.iter().map(|(u, _)| u.id.as_str()).collect();
        for id in self.read(|idx| idx.dynamic_ids()) {
            if !present.contains(id.as_str()) {
                self.drop_source(now_ms, &id);
            }
        }
        for (u, seen) in units {
            self.upsert_unit(now_ms, u, seen.as_ref());
        }
    }

    /// Takes the rows ready to be written, checkpointing open intervals when
    /// due.
    pub fn take_rows(&self, now_ms: i64) -> Vec<IntervalRow> {
        self.recorder(|rec, rows| {
            if now_ms >= rec.next_checkpoint_ms() {
                rec.checkpoint(now_ms, rows);
            }
            std::mem::take(rows)
        })
    }

    /// Open and unwritten intervals up to `now_ms`, for history queries.
    pub fn unwritten(&self, now_ms: i64) -> Vec<IntervalRow> {
        self.recorder(|rec, rows| {
            let mut all = rows.clone();
            all.extend(rec.pending(now_ms));
            all
        })
    }
}

/// Follows the fleet picture until shutdown: every change goes to the index
/// and the recorder; rows are written every [`FLUSH_INTERVAL`]. History past
/// its retention limit is purged by the guardrails' retention, which honours
/// legal holds and keeps the deletion register. On shutdown, open intervals
/// are written up to now. Runs until `stop` resolves.
pub async fn follow_fleet(
    live: Arc<LiveCoverage>,
    fleet: FleetHandle,
    store: Store,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(stop);
    use tokio::sync::broadcast::error::RecvError;
    let mut changes = fleet.subscribe();
    live.resync(crate::time::unix_ms(), &fleet.snapshot_seen());
    let mut flush = tokio::time::interval(FLUSH_INTERVAL);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let write = |rows: Vec<IntervalRow>| {
        let store = store.clone();
        async move {
            if rows.is_empty() {
                return;
            }
            let n = rows.len();
            match tokio::task::spawn_blocking(move || history::write_intervals(&store, &rows)).await
            {
                Ok(Ok(())) => tracing::trace!(rows = n, "coverage history written"),
                Ok(Err(e)) => {
                    tracing::error!("writing coverage history failed ({n} intervals lost): {e}")
                }
                Err(e) => tracing::error!("coverage history writer panicked: {e}"),
            }
        }
    };
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(c) => live.apply(crate::time::unix_ms(), &c),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("coverage fell {n} changes behind the picture; resyncing from a snapshot");
                    live.resync(crate::time::unix_ms(), &fleet.snapshot_seen());
                }
                Err(RecvError::Closed) => break,
            },
            _ = flush.tick() => write(live.take_rows(crate::time::unix_ms())).await,
            _ = &mut stop => break,
        }
    }
    let now = crate::time::unix_ms();
    let mut rows = live.take_rows(now);
    live.recorder(|rec, _| rec.checkpoint(now, &mut rows));
    write(rows).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_protocols::api::Position;

    fn drone(id: &str, e: f64, status: UnitStatus, frame: &LocalFrame) -> Unit {
        let ring: Vec<[f64; 2]> = [
            [-20.0, -20.0],
            [20.0, -20.0],
            [20.0, 20.0],
            [-20.0, 20.0],
            [-20.0, -20.0],
        ]
        .iter()
        .map(|p| {
            let (lat, lon) = frame.to_wgs84(p[0] + e, p[1]);
            [lon, lat]
        })
        .collect();
        let (lat, lon) = frame.to_wgs84(e, 0.0);
        Unit {
            position: Some(Position {
                lat_deg: lat,
                lon_deg: lon,
                alt_rel_m: Some(60.0),
                ..Position::default()
            }),
            coverage: Some(ring),
            ..Unit::new(id, UnitKind::Drone, status, "test")
        }
    }

    fn who(live: &LiveCoverage, p: Pt) -> Vec<String> {
        live.read(|idx| {
            let mut out = Vec::new();
            super::super::query::who_sees(idx, p, &mut out);
            super::super::query::describe(idx, &out)
                .into_iter()
                .map(|s| s.id)
                .collect()
        })
    }

    #[test]
    fn changes_move_drones_and_lost_links_leave() {
        let frame = LocalFrame::new(48.9, 2.36);
        let live = LiveCoverage::new(frame, Vec::new(), Masks::default(), None);
        live.apply(
            0,
            &Change::Upsert(Box::new(drone("d1", 0.0, UnitStatus::Busy, &frame)), None),
        );
        assert_eq!(who(&live, [0.0, 0.0]), ["d1"]);
        live.apply(
            1000,
            &Change::Upsert(Box::new(drone("d1", 100.0, UnitStatus::Busy, &frame)), None),
        );
        assert!(who(&live, [0.0, 0.0]).is_empty());
        assert_eq!(who(&live, [100.0, 0.0]), ["d1"]);
        live.apply(
            2000,
            &Change::Upsert(
                Box::new(drone("d1", 100.0, UnitStatus::LinkLost, &frame)),
                None,
            ),
        );
        assert!(who(&live, [100.0, 0.0]).is_empty());
        let rows = live.take_rows(2000);
        assert_eq!(
            rows.iter()
                .map(|r| [r.from_ms, r.to_ms])
                .collect::<Vec<_>>(),
            vec![[0, 1000], [1000, 2000]]
        );
        live.resync(
            3000,
            &[(drone("d2", 0.0, UnitStatus::Available, &frame), None)],
        );
        assert_eq!(who(&live, [0.0, 0.0]), ["d2"]);
        live.apply(4000, &Change::Remove("d2".into()));
        assert!(who(&live, [0.0, 0.0]).is_empty());
    }

    #[test]
    fn a_ring_the_link_computed_in_the_local_frame_is_indexed_as_given() {
        let frame = LocalFrame::new(48.9, 2.36);
        let live = LiveCoverage::new(frame, vec![], Masks::default(), None);
        // A footprint off the origin, with coordinates no WGS84 round trip
        // gives back to the last bit.
        let ring: Vec<Pt> = vec![
            [1_234.567_891_23, -987.654_321_01],
            [1_274.567_891_23, -987.654_321_01],
            [1_274.567_891_23, -947.654_321_01],
            [1_234.567_891_23, -947.654_321_01],
            [1_234.567_891_23, -987.654_321_01],
        ];
        let mut unit = drone("d1", 0.0, UnitStatus::Busy, &frame);
        unit.coverage = Some(frame.ring_to_wgs84(&ring));
        let seen: LocalRing = ring.clone().into();
        live.apply(0, &Change::Upsert(Box::new(unit.clone()), Some(seen)));
        let indexed = live.read(|idx| idx.slot("d1").map(|s| idx.ring(s).to_vec()));
        assert_eq!(
            indexed.as_deref(),
            Some(&ring[..]),
            "the link's ring, bit for bit"
        );
        assert_eq!(who(&live, [1254.0, -967.0]), ["d1"]);
        // Without the local ring, the WGS84 one is brought back: close, but
        // not the same numbers, which is what keeping the frame avoids.
        live.apply(1, &Change::Upsert(Box::new(unit), None));
        let back = live
            .read(|idx| idx.slot("d1").map(|s| idx.ring(s).to_vec()))
            .unwrap_or_default();
        assert_eq!(back.len(), ring.len());
        for (a, b) in back.iter().zip(&ring) {
            assert!((a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6);
        }
    }

    #[tokio::test]
    async fn follow_fleet_tracks_the_picture_and_writes_history() {
        let frame = LocalFrame::new(48.9, 2.36);
        let store = Store::in_memory().unwrap();
        let live = Arc::new(LiveCoverage::open(&store, frame).unwrap());
        let fleet = FleetHandle::new();
        fleet.upsert(drone("d1", 0.0, UnitStatus::Busy, &frame));
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(follow_fleet(
            live.clone(),
            fleet.clone(),
            store.clone(),
            async move {
                let mut rx = rx;
                let _ = rx.wait_for(|s| *s).await;
            },
        ));
        // Bounded wait for the follower to see the snapshot and a move.
        fleet.upsert(drone("d1", 500.0, UnitStatus::Busy, &frame));
        let mut ok = false;
        for _ in 0..200 {
            if who(&live, [500.0, 0.0]) == ["d1"] {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(ok, "the follower applied the move");
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
        let n: i64 = store
            .with_conn(|c| c.query_row("SELECT COUNT(*) FROM coverage_interval", [], |r| r.get(0)))
            .unwrap();
        assert!(n >= 1, "history written on shutdown");
    }
}

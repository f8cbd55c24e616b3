//! The live picture for operator clients over QUIC: a snapshot, then deltas.
//!
//! The picture is the fleet's units, and beside them what an operator needs
//! to read them: the fixed cameras with the coverage index's own
//! line-of-sight polygons, the open incidents with the units suggested and
//! assigned, and the privacy masks to black out ([`Layers`]).
//!
//! [`PictureFeed`] is the sans-I/O part: given the picture at a step, it
//! returns the chunks to send (everything the first time, then only what
//! changed or left). [`IncidentBoard`] keeps the open incidents from
//! dispatch's notices. [`stream`] is the thin edge: one unidirectional
//! stream per subscribed connection, a step at most every `min_interval`,
//! and only when something changed. A slow client is never queued for: the
//! next step is computed after the previous one was written, so changes in
//! between are coalesced (latest state wins) and memory stays bounded by one
//! step.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use vigie_protocols::api::Unit;
use vigie_protocols::tablet::picture::unit_to_proto;
use vigie_protocols::tablet::{
    GeoPoint, PictureArea, PictureCamera, PictureIncident, PictureUpdate, ServerMessage, codec,
    server_message,
};

use crate::coverage::SourceKind;
use crate::coverage::live::LiveCoverage;
use crate::coverage::polygon::Pt;
use crate::dispatch::Dispatch;
use crate::dispatch::desk::Desk;
use crate::dispatch::engine::Notice;
use crate::dispatch::incident::Incident;
use crate::fleet::{FleetHandle, PictureDiff};
use crate::frame::LocalFrame;
use crate::order::OrderState;

/// Units per chunk: keeps every frame well under [`MAX_PICTURE_FRAME_BYTES`]
/// (a drone with its footprint is under 1 kB on the wire).
pub const UNITS_PER_CHUNK: usize = 500;

/// Largest frame written on a picture stream, bytes.
pub const MAX_PICTURE_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Longest a client may take to read one frame before its picture stream is
/// dropped (the connection itself stays up).
pub const PICTURE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Fixed cameras per chunk (a camera with its line-of-sight ring is well
/// under 2 kB on the wire).
pub const CAMERAS_PER_CHUNK: usize = 500;

/// Suggested units listed per incident.
pub const SUGGESTED_PER_INCIDENT: usize = 3;

/// What the picture shows beside the units.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Layers {
    /// Fixed cameras, sorted by id.
    pub cameras: Vec<PictureCamera>,
    /// Changed by whoever changes `cameras`: the feed compares 100,000
    /// cameras only when this moved.
    pub cameras_version: u64,
    /// Open incidents, sorted by id.
    pub incidents: Vec<PictureIncident>,
    /// Privacy masks.
    pub masks: Vec<PictureArea>,
}

/// What one subscriber was last sent, and the step counter.
#[derive(Debug, Default)]
pub struct PictureFeed {
    /// Units last sent.
    diff: PictureDiff,
    /// Cameras last sent, by id.
    cameras: BTreeMap<String, PictureCamera>,
    /// `Layers::cameras_version` of the cameras last sent.
    cameras_version: Option<u64>,
    /// Incidents last sent, by id.
    incidents: BTreeMap<u64, PictureIncident>,
    /// Masks last sent.
    masks: Vec<PictureArea>,
    /// Next step number.
    seq: u64,
}

/// What changed in one keyed layer since it was last sent: the new or
/// changed values, whole, and the keys that left, in key order; `sent`
/// becomes `now`.
fn diff_layer<K: Clone + Ord, V: Clone + PartialEq>(
    sent: &mut BTreeMap<K, V>,
    now: &[V],
    key: impl Fn(&V) -> K,
) -> (Vec<V>, Vec<K>) {
    let mut changed = Vec::new();
    let mut next = BTreeMap::new();
    for v in now {
        let k = key(v);
        match sent.remove(&k) {
            Some(old) if old == *v => {}
            _ => changed.push(v.clone()),
        }
        next.insert(k, v.clone());
    }
    let removed = std::mem::replace(sent, next).into_keys().collect();
    (changed, removed)
}

impl PictureFeed {
    /// A feed that has sent nothing yet: its first step is a snapshot.
    pub fn new() -> PictureFeed {
        PictureFeed::default()
    }

    /// The chunks that bring the subscriber to `units` and `layers` at
    /// `at_ms`; empty when nothing changed since the last step (never for
    /// the snapshot).
    pub fn step(&mut self, at_ms: i64, units: &[Unit], layers: &Layers) -> Vec<PictureUpdate> {
        let snapshot = self.seq == 0;
        let (changed, removed) = self.diff.diff(units);
        let (cameras, cameras_removed) = if self.cameras_version == Some(layers.cameras_version) {
            (Vec::new(), Vec::new())
        } else {
            self.cameras_version = Some(layers.cameras_version);
            diff_layer(&mut self.cameras, &layers.cameras, |c| c.id.clone())
        };
        let (incidents, incidents_removed) =
            diff_layer(&mut self.incidents, &layers.incidents, |i| i.id);
        let masks_replace = snapshot || self.masks != layers.masks;
        if masks_replace {
            self.masks = layers.masks.clone();
        }
        if !snapshot
            && changed.is_empty()
            && removed.is_empty()
            && cameras.is_empty()
            && cameras_removed.is_empty()
            && incidents.is_empty()
            && incidents_removed.is_empty()
            && !masks_replace
        {
            return Vec::new();
        }
        let chunks = changed
            .len()
            .div_ceil(UNITS_PER_CHUNK)
            .max(cameras.len().div_ceil(CAMERAS_PER_CHUNK))
            .max(1);
        let seq = self.seq;
        self.seq += 1;
        let mut out = Vec::with_capacity(chunks);
        for i in 0..chunks {
            let part = changed
                .iter()
                .skip(i * UNITS_PER_CHUNK)
                .take(UNITS_PER_CHUNK)
                .map(|u| unit_to_proto(u))
                .collect();
            let first = i == 0;
            out.push(PictureUpdate {
                snapshot,
                at_ms,
                units: part,
                // Removals, incidents and masks travel with the first chunk.
                removed: if first { removed.clone() } else { Vec::new() },
                seq,
                chunk: i as u32,
                chunks: chunks as u32,
                cameras: cameras
                    .iter()
                    .skip(i * CAMERAS_PER_CHUNK)
                    .take(CAMERAS_PER_CHUNK)
                    .cloned()
                    .collect(),
                cameras_removed: if first {
                    cameras_removed.clone()
                } else {
                    Vec::new()
                },
                incidents: if first { incidents.clone() } else { Vec::new() },
                incidents_removed: if first {
                    incidents_removed.clone()
                } else {
                    Vec::new()
                },
                masks_replace: first && masks_replace,
                privacy_masks: if first && masks_replace {
                    self.masks.clone()
                } else {
                    Vec::new()
                },
            });
        }
        out
    }
}

fn geo(frame: &LocalFrame, p: Pt) -> GeoPoint {
    let (lat_deg, lon_deg) = frame.to_wgs84(p[0], p[1]);
    GeoPoint { lat_deg, lon_deg }
}

/// The fixed cameras as the coverage index holds them, with their
/// line-of-sight polygons, sorted by id.
pub fn cameras(coverage: &LiveCoverage) -> Vec<PictureCamera> {
    let frame = coverage.frame;
    let mut out: Vec<PictureCamera> = coverage.read(|idx| {
        idx.sources()
            .filter(|(_, info)| info.kind == SourceKind::FixedCamera)
            .map(|(slot, info)| PictureCamera {
                id: info.id.clone(),
                network: info.network.as_str().to_string(),
                position: Some(geo(&frame, info.eye)),
                height_m: info.height_m,
                heading_deg: info.heading_deg,
                hfov_deg: info.hfov_deg,
                range_m: info.range_m,
                ptz: info.ptz,
                coverage: idx.ring(slot).iter().map(|p| geo(&frame, *p)).collect(),
            })
            .collect()
    });
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The privacy masks the coverage index applies.
pub fn masks(coverage: &LiveCoverage) -> Vec<PictureArea> {
    let frame = coverage.frame;
    coverage.read(|idx| {
        idx.masks()
            .rings()
            .iter()
            .map(|ring| PictureArea {
                ring: ring.iter().map(|p| geo(&frame, *p)).collect(),
            })
            .collect()
    })
}

/// Whether an order in this state still sends its unit to the incident.
fn assigns(state: OrderState) -> bool {
    !matches!(
        state,
        OrderState::Refused | OrderState::Closed | OrderState::Withdrawn
    )
}

/// The open incidents, kept from dispatch's notices: what the dispatcher's
/// board shows, including the suggestions pushed when each was reported.
#[derive(Debug, Default, Clone)]
pub struct IncidentBoard {
    /// Open incidents by id.
    open: BTreeMap<u64, PictureIncident>,
    /// Units with a live order, by incident and order id.
    orders: BTreeMap<u64, BTreeMap<String, String>>,
}

impl IncidentBoard {
    /// The board as dispatch holds it now (at a snapshot, or after missed
    /// notices).
    pub fn from_dispatch(dispatch: &Dispatch) -> IncidentBoard {
        let mut board = IncidentBoard::default();
        for incident in dispatch.list(true) {
            let id = incident.id;
            board.incident(&incident);
            if let Ok(Some(view)) = dispatch.view(id) {
                for o in &view.orders {
                    board.order(id, &o.order_id, &o.unit, o.state);
                }
                if let Some(s) = &view.suggestions {
                    board.suggested(id, s);
                }
            }
        }
        board
    }

    /// [`IncidentBoard::from_dispatch`], read on dispatch's thread; empty
    /// (and logged) when dispatch does not answer.
    pub async fn read(desk: &Desk) -> IncidentBoard {
        match desk.call(IncidentBoard::from_dispatch).await {
            Ok(board) => board,
            Err(e) => {
                tracing::warn!("the picture shows no incident until dispatch answers: {e}");
                IncidentBoard::default()
            }
        }
    }

    /// Applies one notice; `false` if it changed nothing the picture shows.
    pub fn apply(&mut self, notice: &Notice) -> bool {
        match notice {
            Notice::Incident { incident } => self.incident(incident),
            Notice::Order { order } => {
                self.order(order.incident_id, &order.order_id, &order.unit, order.state)
            }
            Notice::Suggestions {
                incident_id,
                suggestions,
            } => self.suggested(*incident_id, suggestions),
            Notice::Escalation { .. } => false,
        }
    }

    fn incident(&mut self, i: &Incident) -> bool {
        if i.status.is_final() {
            self.orders.remove(&i.id);
            return self.open.remove(&i.id).is_some();
        }
        let entry = self.open.entry(i.id).or_default();
        let before = entry.clone();
        *entry = PictureIncident {
            id: i.id,
            category: i.report.category.as_str().to_string(),
            priority: i.report.priority.as_str().to_string(),
            status: i.status.as_str().to_string(),
            location: Some(GeoPoint {
                lat_deg: i.report.location.lat_deg,
                lon_deg: i.report.location.lon_deg,
            }),
            text: i.report.text.clone(),
            created_ms: i.created_ms,
            suggested: std::mem::take(&mut entry.suggested),
            assigned: std::mem::take(&mut entry.assigned),
        };
        *entry != before
    }

    fn order(&mut self, incident: u64, order_id: &str, unit: &str, state: OrderState) -> bool {
        let orders = self.orders.entry(incident).or_default();
        if assigns(state) {
            orders.insert(order_id.to_string(), unit.to_string());
        } else {
            orders.remove(order_id);
        }
        let mut assigned: Vec<String> = orders.values().cloned().collect();
        assigned.sort();
        assigned.dedup();
        match self.open.get_mut(&incident) {
            Some(i) if i.assigned != assigned => {
                i.assigned = assigned;
                true
            }
            _ => false,
        }
    }

    fn suggested(&mut self, incident: u64, s: &crate::dispatch::suggest::Suggestions) -> bool {
        let mut ids: Vec<String> = s
            .patrols
            .iter()
            .take(SUGGESTED_PER_INCIDENT)
            .map(|p| p.unit.clone())
            .collect();
        ids.extend(s.drone.iter().map(|d| d.unit.clone()));
        match self.open.get_mut(&incident) {
            Some(i) if i.suggested != ids => {
                i.suggested = ids;
                true
            }
            _ => false,
        }
    }

    /// The open incidents, sorted by id.
    pub fn incidents(&self) -> Vec<PictureIncident> {
        self.open.values().cloned().collect()
    }
}

/// Where a picture stream reads from.
#[derive(Debug, Clone)]
pub struct PictureSources {
    /// The units.
    pub fleet: FleetHandle,
    /// Fixed cameras and privacy masks.
    pub coverage: Arc<LiveCoverage>,
    /// Open incidents.
    pub dispatch: Desk,
}

impl crate::patrol::quic::PictureService for PictureSources {
    fn stream(
        &self,
        conn: quinn::Connection,
        min_interval: Duration,
    ) -> crate::patrol::quic::BoxFuture<'static, ()> {
        Box::pin(stream(conn, self.clone(), min_interval))
    }
}

/// Streams the picture to one client until the connection or the stream ends.
pub async fn stream(conn: quinn::Connection, sources: PictureSources, min_interval: Duration) {
    let mut send = match tokio::time::timeout(PICTURE_WRITE_TIMEOUT, conn.open_uni()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!("cannot open the picture stream: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(
                "the client allows no stream from the server: no picture (see protocols/README.md)"
            );
            return;
        }
    };
    let mut feed = PictureFeed::new();
    let mut tick = tokio::time::interval(min_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen_version = None;
    // Subscribe before reading the board, so no notice falls in between.
    let mut notices = sources.dispatch.subscribe();
    let mut board = IncidentBoard::read(&sources.dispatch).await;
    // The inventory is loaded once per server run.
    let cameras = cameras(&sources.coverage);
    let mut layers = Layers {
        cameras,
        cameras_version: 1,
        incidents: board.incidents(),
        masks: masks(&sources.coverage),
    };
    let mut layers_changed = true;
    loop {
        tick.tick().await;
        loop {
            match notices.try_recv() {
                Ok(notice) => layers_changed |= board.apply(&notice),
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    board = IncidentBoard::read(&sources.dispatch).await;
                    layers_changed = true;
                }
                Err(broadcast::error::TryRecvError::Closed) => break,
            }
        }
        let masks = masks(&sources.coverage);
        if masks != layers.masks {
            layers.masks = masks;
            layers_changed = true;
        }
        let (version, units) = sources
            .fleet
            .read(|f| (f.version(), f.units().cloned().collect::<Vec<_>>()));
        if seen_version == Some(version) && !layers_changed {
            continue;
        }
        seen_version = Some(version);
        if layers_changed {
            layers.incidents = board.incidents();
            layers_changed = false;
        }
        for update in feed.step(crate::time::unix_ms(), &units, &layers) {
            let msg = ServerMessage {
                body: Some(server_message::Body::Picture(update)),
            };
            let frame = match codec::encode_frame(&msg, MAX_PICTURE_FRAME_BYTES) {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!("cannot frame a picture chunk: {e}");
                    return;
                }
            };
            match tokio::time::timeout(PICTURE_WRITE_TIMEOUT, send.write_all(&frame)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::info!("picture stream ended: {e}");
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        "operator client not reading its picture for 10 s: dropping the picture stream"
                    );
                    let _ = send.reset(0u32.into());
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vigie_protocols::api::{Position, UnitKind, UnitStatus};
    use vigie_protocols::tablet::picture::Picture;

    use crate::dispatch::engine::TrackedOrder;
    use crate::dispatch::incident::{Category, GeoPoint, Priority, Report, Source, Status};
    use crate::dispatch::suggest::{Mobility, PatrolCandidate, Suggestions};

    use super::*;

    fn unit(i: usize, lat: f64) -> Unit {
        Unit {
            position: Some(Position {
                lat_deg: lat,
                lon_deg: 2.36,
                ..Position::default()
            }),
            last_seen_ms: Some(1),
            ..Unit::new(
                format!("P{i:05}"),
                UnitKind::Patrol,
                UnitStatus::Available,
                "quic",
            )
        }
    }

    /// Feeds every step to a client-side picture and checks it equals the
    /// server's, step after step.
    #[test]
    fn a_client_fed_the_steps_always_equals_the_server_picture() {
        let mut units: Vec<Unit> = (0..1_203).map(|i| unit(i, 48.9)).collect();
        let mut feed = PictureFeed::new();
        let mut client = Picture::new();
        let mut skipped = Vec::new();
        let check = |client: &Picture, units: &[Unit]| {
            let mine: Vec<&Unit> = client.units().collect();
            let theirs: Vec<&Unit> = units.iter().collect();
            assert_eq!(mine, theirs);
        };
        let snap = feed.step(10, &units, &Layers::default());
        assert_eq!(snap.len(), 3, "1203 units in chunks of 500");
        assert!(
            snap.iter()
                .all(|c| c.snapshot && c.seq == 0 && c.chunks == 3)
        );
        let done: Vec<bool> = snap
            .iter()
            .map(|c| client.apply(c, &mut skipped).unwrap())
            .collect();
        assert_eq!(done, vec![false, false, true]);
        check(&client, &units);
        // Nothing changed: nothing sent.
        assert!(feed.step(20, &units, &Layers::default()).is_empty());
        // Three move, two leave, one arrives.
        units[5].position.as_mut().unwrap().lat_deg = 48.91;
        units[700].status = UnitStatus::EnRoute;
        units[1_202].last_seen_ms = Some(2);
        units.remove(10);
        units.remove(11);
        units.push(unit(99_999, 48.95));
        let delta = feed.step(30, &units, &Layers::default());
        assert_eq!(delta.len(), 1);
        assert!(!delta[0].snapshot);
        assert_eq!(delta[0].seq, 1);
        assert_eq!(delta[0].units.len(), 4);
        assert_eq!(
            delta[0].removed,
            vec!["P00010".to_string(), "P00012".to_string()]
        );
        assert!(client.apply(&delta[0], &mut skipped).unwrap());
        check(&client, &units);
        // Everything moves: a chunked delta.
        for u in &mut units {
            u.last_seen_ms = Some(3);
        }
        let big = feed.step(40, &units, &Layers::default());
        assert_eq!(big.len(), 3);
        for c in &big {
            client.apply(c, &mut skipped).unwrap();
        }
        check(&client, &units);
        assert_eq!(client.at_ms(), 40);
        assert!(skipped.is_empty());
    }

    fn camera(i: usize, heading_deg: f64) -> PictureCamera {
        PictureCamera {
            id: format!("cam:{i:05}"),
            network: "city".into(),
            heading_deg,
            ..PictureCamera::default()
        }
    }

    #[test]
    fn cameras_incidents_and_masks_are_sent_whole_then_as_deltas() {
        let units: Vec<Unit> = (0..10).map(|i| unit(i, 48.9)).collect();
        let mut layers = Layers {
            cameras: (0..1_203).map(|i| camera(i, 0.0)).collect(),
            cameras_version: 1,
            incidents: vec![PictureIncident {
                id: 4,
                status: "new".into(),
                ..PictureIncident::default()
            }],
            masks: vec![PictureArea::default()],
        };
        let mut feed = PictureFeed::new();
        let mut client = Picture::new();
        let mut skipped = Vec::new();
        let snap = feed.step(1, &units, &layers);
        assert_eq!(snap.len(), 3, "1203 cameras in chunks of 500");
        for c in &snap {
            client.apply(c, &mut skipped).unwrap();
        }
        assert_eq!(client.cameras().count(), 1_203);
        assert_eq!(client.incidents().count(), 1);
        assert_eq!(client.privacy_masks().len(), 1);
        assert!(snap[0].masks_replace && !snap[1].masks_replace);
        // Nothing changed: nothing sent.
        assert!(feed.step(2, &units, &layers).is_empty());
        // One camera turns, one leaves; the incident is dispatched and a new
        // one arrives; the masks are lifted.
        layers.cameras[7].heading_deg = 90.0;
        layers.cameras.remove(8);
        layers.cameras_version += 1;
        layers.incidents[0].status = "dispatched".into();
        layers.incidents.push(PictureIncident {
            id: 9,
            ..PictureIncident::default()
        });
        layers.masks.clear();
        let delta = feed.step(3, &units, &layers);
        assert_eq!(delta.len(), 1);
        assert_eq!(delta[0].cameras, vec![layers.cameras[7].clone()]);
        assert_eq!(delta[0].cameras_removed, vec!["cam:00008".to_string()]);
        assert_eq!(delta[0].incidents.len(), 2);
        assert!(delta[0].masks_replace && delta[0].privacy_masks.is_empty());
        assert!(delta[0].units.is_empty());
        client.apply(&delta[0], &mut skipped).unwrap();
        assert_eq!(
            client.cameras().cloned().collect::<Vec<_>>(),
            layers.cameras
        );
        assert_eq!(
            client.incidents().cloned().collect::<Vec<_>>(),
            layers.incidents
        );
        assert!(client.privacy_masks().is_empty());
        // A camera changed without its version moving is not looked at (the
        // version is the contract); the first incident closes.
        layers.cameras[0].heading_deg = 45.0;
        layers.incidents.remove(0);
        let closed = feed.step(4, &units, &layers);
        assert_eq!(closed[0].incidents_removed, vec![4]);
        assert!(closed[0].cameras.is_empty());
        assert!(!closed[0].masks_replace);
        client.apply(&closed[0], &mut skipped).unwrap();
        assert_eq!(
            client.incidents().map(|i| i.id).collect::<Vec<_>>(),
            vec![9]
        );
    }

    fn incident(id: u64, status: Status) -> Incident {
        let mut i = Incident::new(
            id,
            Report {
                category: Category::Medical,
                priority: Priority::High,
                location: GeoPoint {
                    lat_deg: 48.92,
                    lon_deg: 2.36,
                },
                source: Source::Operator,
                reporter: "ops".into(),
                text: "Gate D".into(),
                observed_ms: 5,
            },
            10,
        );
        i.status = status;
        i
    }

    fn order(incident_id: u64, order_id: &str, unit: &str, state: OrderState) -> Notice {
        Notice::Order {
            order: TrackedOrder {
                order_id: order_id.into(),
                incident_id,
                unit: unit.into(),
                state,
                issued_ms: 11,
                first_ack_ms: None,
                last_sent_ms: 11,
                resends: 0,
                escalated_ms: None,
            },
        }
    }

    #[test]
    fn the_incident_board_follows_dispatch_notices() {
        let mut board = IncidentBoard::default();
        assert!(board.apply(&Notice::Incident {
            incident: incident(1, Status::New)
        }));
        let patrol = |unit: &str, travel_s: f64| PatrolCandidate {
            unit: unit.into(),
            distance_m: travel_s,
            travel_s,
            mobility: Mobility::Foot,
            method: Default::default(),
            method_note: String::new(),
        };
        let suggestions = Suggestions {
            patrols: vec![
                patrol("P1", 10.0),
                patrol("P2", 20.0),
                patrol("P3", 30.0),
                patrol("P4", 40.0),
            ],
            ..Suggestions::default()
        };
        assert!(board.apply(&Notice::Suggestions {
            incident_id: 1,
            suggestions: suggestions.clone()
        }));
        assert!(!board.apply(&Notice::Suggestions {
            incident_id: 1,
            suggestions
        }));
        let shown = board.incidents();
        assert_eq!(shown[0].suggested, vec!["P1", "P2", "P3"]);
        assert_eq!(shown[0].category, "medical");
        assert_eq!(shown[0].priority, "high");
        assert_eq!(shown[0].text, "Gate D");
        // P1 is ordered, then refuses; P2 is ordered and accepts; P3's
        // order is withdrawn.
        assert!(board.apply(&order(1, "o1", "P1", OrderState::Pending)));
        assert_eq!(board.incidents()[0].assigned, vec!["P1"]);
        board.apply(&order(1, "o1", "P1", OrderState::Refused));
        board.apply(&order(1, "o2", "P2", OrderState::Accepted));
        board.apply(&order(1, "o4", "P3", OrderState::Received));
        board.apply(&order(1, "o4", "P3", OrderState::Withdrawn));
        assert_eq!(board.incidents()[0].assigned, vec!["P2"]);
        // A status change keeps what was suggested and assigned.
        assert!(board.apply(&Notice::Incident {
            incident: incident(1, Status::Dispatched)
        }));
        let shown = board.incidents();
        assert_eq!(shown[0].status, "dispatched");
        assert_eq!(shown[0].assigned, vec!["P2"]);
        assert_eq!(shown[0].suggested.len(), 3);
        // Closed: off the board.
        assert!(board.apply(&Notice::Incident {
            incident: incident(1, Status::Closed)
        }));
        assert!(board.incidents().is_empty());
        // An order for an incident the board does not hold changes nothing.
        assert!(!board.apply(&order(2, "o3", "P3", OrderState::Pending)));
    }

    #[test]
    fn an_empty_picture_still_gets_its_snapshot() {
        let mut feed = PictureFeed::new();
        let snap = feed.step(1, &[], &Layers::default());
        assert_eq!(snap.len(), 1);
        assert!(snap[0].snapshot && snap[0].units.is_empty() && snap[0].chunks == 1);
        assert!(feed.step(2, &[], &Layers::default()).is_empty());
    }
}

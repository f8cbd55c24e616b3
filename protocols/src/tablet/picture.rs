//! The live picture on the wire: [`Unit`] to and from
//! [`PictureUnit`], and the picture an operator client rebuilds from
//! [`PictureUpdate`] chunks.
//!
//! The server side (what changed since the last step) lives with the ground's
//! QUIC link; this module is what both sides share, with no I/O.

use std::collections::BTreeMap;

use crate::api::{DroneTelemetry, PatrolInfo, Position, Unit, UnitKind, UnitStatus};

use super::{
    GeoPoint, PictureCamera, PictureDrone, PictureIncident, PicturePatrol, PicturePosition,
    PictureUnit, PictureUpdate,
};

/// A picture unit that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PictureError {
    /// The kind is not one this client knows (a newer server?).
    #[error("unit {id:?}: unknown kind {kind:?}")]
    UnknownKind {
        /// Unit id.
        id: String,
        /// The kind received.
        kind: String,
    },
    /// The status is not one this client knows.
    #[error("unit {id:?}: unknown status {status:?}")]
    UnknownStatus {
        /// Unit id.
        id: String,
        /// The status received.
        status: String,
    },
    /// A chunk arrived out of sequence.
    #[error("picture step {seq} chunk {chunk}/{chunks} out of sequence (expected step {expected})")]
    OutOfSequence {
        /// Step received.
        seq: u64,
        /// Chunk received.
        chunk: u32,
        /// Chunks in the step.
        chunks: u32,
        /// Step expected.
        expected: u64,
    },
}

fn position_to_proto(p: &Position) -> PicturePosition {
    PicturePosition {
        lat_deg: p.lat_deg,
        lon_deg: p.lon_deg,
        alt_msl_m: p.alt_msl_m,
        alt_rel_m: p.alt_rel_m,
        heading_deg: p.heading_deg,
        speed_m_s: p.speed_m_s,
        accuracy_m: p.accuracy_m,
    }
}

fn position_from_proto(p: &PicturePosition) -> Position {
    Position {
        lat_deg: p.lat_deg,
        lon_deg: p.lon_deg,
        alt_msl_m: p.alt_msl_m,
        alt_rel_m: p.alt_rel_m,
        heading_deg: p.heading_deg,
        speed_m_s: p.speed_m_s,
        accuracy_m: p.accuracy_m,
    }
}

fn fixed<const N: usize>(v: &[f64]) -> Option<[f64; N]> {
    <[f64; N]>::try_from(v).ok()
}

/// A unit as the picture stream carries it.
pub fn unit_to_proto(u: &Unit) -> PictureUnit {
    PictureUnit {
        id: u.id.clone(),
        kind: u.kind.as_str().to_string(),
        status: u.status.as_str().to_string(),
        name: u.name.clone(),
        position: u.position.as_ref().map(position_to_proto),
        last_seen_ms: u.last_seen_ms,
        source: u.source.clone(),
        coverage: u
            .coverage
            .as_ref()
            .map(|ring| {
                ring.iter()
                    .map(|[lon, lat]| GeoPoint {
                        lat_deg: *lat,
                        lon_deg: *lon,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        drone: u.drone.as_ref().map(|d| PictureDrone {
            link: d.link.clone(),
            system_id: u32::from(d.system_id),
            autopilot: d.autopilot.clone(),
            mode: d.mode.clone(),
            armed: d.armed,
            system_status: d.system_status.clone(),
            link_state: d.link_state.clone(),
            battery_pct: d.battery_pct,
            battery_v: d.battery_v,
            gps_fix: d.gps_fix.clone(),
            satellites: d.satellites.map(u32::from),
            attitude_deg: d.attitude_deg.map(|a| a.to_vec()).unwrap_or_default(),
            home: d.home.as_ref().map(position_to_proto),
            gimbal_deg: d.gimbal_deg.map(|a| a.to_vec()).unwrap_or_default(),
            camera_fov_deg: d.camera_fov_deg.map(|a| a.to_vec()).unwrap_or_default(),
            video_uri: d.video_uri.clone(),
            status_texts: d.status_texts.clone(),
            warnings: d.warnings.clone(),
        }),
        patrol: u.patrol.as_ref().map(|p| PicturePatrol {
            role: p.role.clone(),
            connected: p.connected,
            link_quality: p.link_quality,
            rtt_ms: p.rtt_ms,
            remote: p.remote.clone(),
        }),
    }
}

/// The unit a picture stream entry describes.
pub fn unit_from_proto(p: &PictureUnit) -> Result<Unit, PictureError> {
    let kind = UnitKind::ALL
        .into_iter()
        .find(|k| k.as_str() == p.kind)
        .ok_or_else(|| PictureError::UnknownKind {
            id: p.id.clone(),
            kind: p.kind.clone(),
        })?;
    let status = UnitStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == p.status)
        .ok_or_else(|| PictureError::UnknownStatus {
            id: p.id.clone(),
            status: p.status.clone(),
        })?;
    Ok(Unit {
        id: p.id.clone(),
        kind,
        status,
        name: p.name.clone(),
        position: p.position.as_ref().map(position_from_proto),
        last_seen_ms: p.last_seen_ms,
        source: p.source.clone(),
        coverage: (!p.coverage.is_empty())
            .then(|| p.coverage.iter().map(|g| [g.lon_deg, g.lat_deg]).collect()),
        drone: p.drone.as_ref().map(|d| DroneTelemetry {
            link: d.link.clone(),
            system_id: u8::try_from(d.system_id).unwrap_or(u8::MAX),
            autopilot: d.autopilot.clone(),
            mode: d.mode.clone(),
            armed: d.armed,
            system_status: d.system_status.clone(),
            link_state: d.link_state.clone(),
            battery_pct: d.battery_pct,
            battery_v: d.battery_v,
            gps_fix: d.gps_fix.clone(),
            satellites: d.satellites.map(|s| u8::try_from(s).unwrap_or(u8::MAX)),
            gps_hdop: None,
            attitude_deg: fixed(&d.attitude_deg),
            home: d.home.as_ref().map(position_from_proto),
            gimbal_deg: fixed(&d.gimbal_deg),
            camera_fov_deg: fixed(&d.camera_fov_deg),
            video_uri: d.video_uri.clone(),
            status_texts: d.status_texts.clone(),
            warnings: d.warnings.clone(),
        }),
        patrol: p.patrol.as_ref().map(|p| PatrolInfo {
            role: p.role.clone(),
            connected: p.connected,
            link_quality: p.link_quality,
            rtt_ms: p.rtt_ms,
            remote: p.remote.clone(),
        }),
    })
}

/// How many times each layer beside the units changed, so that a client can
/// skip copying a layer that did not (100,000 cameras are costly to copy).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LayerVersions {
    /// Fixed cameras.
    pub cameras: u64,
    /// Open incidents.
    pub incidents: u64,
    /// Privacy masks.
    pub masks: u64,
}

/// The picture an operator client rebuilds from the stream.
#[derive(Debug, Default, Clone)]
pub struct Picture {
    /// Units by id.
    units: BTreeMap<String, Unit>,
    /// Fixed cameras by id.
    cameras: BTreeMap<String, PictureCamera>,
    /// Open incidents by id.
    incidents: BTreeMap<u64, PictureIncident>,
    /// Privacy masks, outer rings `[lon, lat]`.
    masks: Vec<Vec<[f64; 2]>>,
    /// Changes applied to cameras, incidents and masks: a layer whose count
    /// did not move has not changed.
    versions: LayerVersions,
    /// Next step expected (after the snapshot's step 0).
    next_seq: u64,
    /// Next chunk expected within the current step.
    next_chunk: u32,
    /// Server time of the last complete step, Unix ms.
    at_ms: i64,
    /// Whether a snapshot has been received.
    synced: bool,
}

impl Picture {
    /// An empty picture, waiting for a snapshot.
    pub fn new() -> Picture {
        Picture::default()
    }

    /// Applies one chunk. Returns `Ok(true)` when the chunk completed a step
    /// (the picture is consistent). Units of unknown kind or status are
    /// skipped and reported in `skipped`, so a newer server does not stop an
    /// older client.
    pub fn apply(
        &mut self,
        update: &PictureUpdate,
        skipped: &mut Vec<PictureError>,
    ) -> Result<bool, PictureError> {
        let expected_seq = if update.snapshot { 0 } else { self.next_seq };
        let in_sequence = update.seq == expected_seq
            && update.chunk
                == if update.snapshot && update.chunk == 0 {
                    0
                } else {
                    self.next_chunk
                }
            && (self.synced || update.snapshot);
        if !in_sequence {
            return Err(PictureError::OutOfSequence {
                seq: update.seq,
                chunk: update.chunk,
                chunks: update.chunks,
                expected: self.next_seq,
            });
        }
        if update.snapshot && update.chunk == 0 {
            self.units.clear();
            self.cameras.clear();
            self.incidents.clear();
            self.masks.clear();
            self.next_chunk = 0;
            self.versions.cameras += 1;
            self.versions.incidents += 1;
            self.versions.masks += 1;
        }
        if !update.cameras.is_empty() || !update.cameras_removed.is_empty() {
            self.versions.cameras += 1;
        }
        if !update.incidents.is_empty() || !update.incidents_removed.is_empty() {
            self.versions.incidents += 1;
        }
        if update.masks_replace {
            self.versions.masks += 1;
        }
        for id in &update.removed {
            self.units.remove(id);
        }
        for id in &update.cameras_removed {
            self.cameras.remove(id);
        }
        for c in &update.cameras {
            self.cameras.insert(c.id.clone(), c.clone());
        }
        for id in &update.incidents_removed {
            self.incidents.remove(id);
        }
        for i in &update.incidents {
            self.incidents.insert(i.id, i.clone());
        }
        if update.masks_replace {
            self.masks = update
                .privacy_masks
                .iter()
                .map(|a| a.ring.iter().map(|g| [g.lon_deg, g.lat_deg]).collect())
                .collect();
        }
        for u in &update.units {
            match unit_from_proto(u) {
                Ok(unit) => {
                    self.units.insert(unit.id.clone(), unit);
                }
                Err(e) => skipped.push(e),
            }
        }
        self.next_chunk = update.chunk + 1;
        if self.next_chunk >= update.chunks.max(1) {
            self.next_chunk = 0;
            self.next_seq = update.seq + 1;
            self.at_ms = update.at_ms;
            self.synced = true;
            return Ok(true);
        }
        Ok(false)
    }

    /// Every unit, sorted by id.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    /// Fixed cameras of the ground's inventory, sorted by id.
    pub fn cameras(&self) -> impl Iterator<Item = &PictureCamera> {
        self.cameras.values()
    }

    /// Open incidents, oldest id first.
    pub fn incidents(&self) -> impl Iterator<Item = &PictureIncident> {
        self.incidents.values()
    }

    /// Privacy masks, outer rings of `[lon, lat]` points.
    pub fn privacy_masks(&self) -> &[Vec<[f64; 2]>] {
        &self.masks
    }

    /// How many times each layer beside the units has changed.
    pub fn layer_versions(&self) -> LayerVersions {
        self.versions
    }

    /// How many units.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// No unit.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Server time of the last complete step, Unix ms.
    pub fn at_ms(&self) -> i64 {
        self.at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drone() -> Unit {
        Unit {
            name: Some("Alpha".into()),
            position: Some(Position {
                lat_deg: 48.9245,
                lon_deg: 2.3602,
                alt_msl_m: Some(95.0),
                alt_rel_m: Some(60.0),
                heading_deg: Some(270.0),
                speed_m_s: Some(4.5),
                accuracy_m: None,
            }),
            last_seen_ms: Some(1_700_000_000_123),
            coverage: Some(vec![
                [2.36, 48.92],
                [2.361, 48.92],
                [2.361, 48.921],
                [2.36, 48.92],
            ]),
            drone: Some(DroneTelemetry {
                link: "udp0".into(),
                system_id: 3,
                autopilot: "ardupilot".into(),
                mode: "GUIDED".into(),
                armed: true,
                system_status: "ACTIVE".into(),
                link_state: "up".into(),
                battery_pct: Some(81.0),
                battery_v: Some(15.8),
                gps_fix: Some("3D_FIX".into()),
                satellites: Some(14),
                gps_hdop: None,
                attitude_deg: Some([1.0, -2.0, 270.0]),
                home: Some(Position {
                    lat_deg: 48.92,
                    lon_deg: 2.36,
                    ..Position::default()
                }),
                gimbal_deg: Some([-45.0, 0.0]),
                camera_fov_deg: Some([84.0, 62.0]),
                video_uri: Some("rtsp://10.0.0.3/live".into()),
                status_texts: vec!["EKF ok".into()],
                warnings: vec!["unsigned frames refused".into()],
            }),
            ..Unit::new(
                "drone:udp0:3",
                UnitKind::Drone,
                UnitStatus::Busy,
                "mavlink:udp0",
            )
        }
    }

    fn patrol(id: &str, status: UnitStatus) -> Unit {
        Unit {
            patrol: Some(PatrolInfo {
                role: "patrol".into(),
                connected: true,
                link_quality: Some(0.9),
                rtt_ms: Some(12.0),
                remote: Some("127.0.0.1:5000".into()),
            }),
            ..Unit::new(id, UnitKind::Patrol, status, "quic")
        }
    }

    #[test]
    fn cameras_incidents_and_masks_follow_their_own_deltas() {
        let cam = |id: &str, heading: f64| PictureCamera {
            id: id.into(),
            network: "city".into(),
            heading_deg: heading,
            ..Default::default()
        };
        let incident = |id: u64, status: &str| PictureIncident {
            id,
            status: status.into(),
            ..Default::default()
        };
        let ring = |lat: f64| super::super::PictureArea {
            ring: vec![
                GeoPoint {
                    lat_deg: lat,
                    lon_deg: 2.0,
                },
                GeoPoint {
                    lat_deg: lat + 0.001,
                    lon_deg: 2.0,
                },
                GeoPoint {
                    lat_deg: lat,
                    lon_deg: 2.001,
                },
            ],
        };
        let mut pic = Picture::new();
        let mut skipped = Vec::new();
        let snapshot = PictureUpdate {
            snapshot: true,
            chunks: 1,
            cameras: vec![cam("c1", 0.0), cam("c2", 90.0)],
            incidents: vec![incident(7, "new")],
            masks_replace: true,
            privacy_masks: vec![ring(48.9)],
            ..Default::default()
        };
        assert!(pic.apply(&snapshot, &mut skipped).unwrap());
        let v0 = pic.layer_versions();
        assert_eq!(pic.cameras().count(), 2);
        assert_eq!(pic.privacy_masks().len(), 1);
        assert_eq!(pic.privacy_masks()[0][0], [2.0, 48.9]);
        // A delta: c2 turns, c1 leaves, incident 7 is dispatched and 8
        // arrives; masks untouched when not replaced.
        let delta = PictureUpdate {
            seq: 1,
            chunks: 1,
            cameras: vec![cam("c2", 180.0)],
            cameras_removed: vec!["c1".into()],
            incidents: vec![incident(7, "dispatched"), incident(8, "new")],
            ..Default::default()
        };
        assert!(pic.apply(&delta, &mut skipped).unwrap());
        let v1 = pic.layer_versions();
        assert!(v1.cameras > v0.cameras && v1.incidents > v0.incidents);
        assert_eq!(v1.masks, v0.masks, "masks untouched");
        let cams: Vec<(&str, f64)> = pic
            .cameras()
            .map(|c| (c.id.as_str(), c.heading_deg))
            .collect();
        assert_eq!(cams, vec![("c2", 180.0)]);
        let incidents: Vec<(u64, &str)> =
            pic.incidents().map(|i| (i.id, i.status.as_str())).collect();
        assert_eq!(incidents, vec![(7, "dispatched"), (8, "new")]);
        assert_eq!(pic.privacy_masks().len(), 1);
        // Incident 7 closes; the masks are lifted.
        let close = PictureUpdate {
            seq: 2,
            chunks: 1,
            incidents_removed: vec![7],
            masks_replace: true,
            ..Default::default()
        };
        assert!(pic.apply(&close, &mut skipped).unwrap());
        let v2 = pic.layer_versions();
        assert_eq!(v2.cameras, v1.cameras, "cameras untouched");
        assert!(v2.masks > v1.masks);
        assert_eq!(pic.incidents().map(|i| i.id).collect::<Vec<_>>(), vec![8]);
        assert!(pic.privacy_masks().is_empty());
        // A new snapshot forgets everything it does not repeat.
        let reset = PictureUpdate {
            snapshot: true,
            chunks: 1,
            masks_replace: true,
            ..Default::default()
        };
        assert!(pic.apply(&reset, &mut skipped).unwrap());
        assert_eq!(pic.cameras().count() + pic.incidents().count(), 0);
    }

    #[test]
    fn units_round_trip_through_the_wire_form() {
        for u in [drone(), patrol("P17", UnitStatus::EnRoute)] {
            assert_eq!(unit_from_proto(&unit_to_proto(&u)).unwrap(), u);
        }
    }

    #[test]
    fn unknown_kinds_are_skipped_not_fatal() {
        let mut bad = unit_to_proto(&patrol("P1", UnitStatus::Available));
        bad.kind = "submarine".into();
        let good = unit_to_proto(&patrol("P2", UnitStatus::Available));
        let mut pic = Picture::new();
        let mut skipped = Vec::new();
        let done = pic
            .apply(
                &PictureUpdate {
                    snapshot: true,
                    units: vec![bad, good],
                    chunks: 1,
                    ..Default::default()
                },
                &mut skipped,
            )
            .unwrap();
        assert!(done);
        assert_eq!(pic.len(), 1);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].to_string().contains("submarine"));
    }

    #[test]
    fn snapshot_then_chunked_deltas_rebuild_the_picture() {
        let mut pic = Picture::new();
        let mut skipped = Vec::new();
        // A delta before any snapshot is refused.
        let early = PictureUpdate {
            seq: 1,
            chunks: 1,
            ..Default::default()
        };
        assert!(pic.apply(&early, &mut skipped).is_err());
        // Snapshot in two chunks.
        let a = unit_to_proto(&patrol("P1", UnitStatus::Available));
        let b = unit_to_proto(&patrol("P2", UnitStatus::Available));
        let first = PictureUpdate {
            snapshot: true,
            units: vec![a],
            chunk: 0,
            chunks: 2,
            ..Default::default()
        };
        assert!(!pic.apply(&first, &mut skipped).unwrap());
        let second = PictureUpdate {
            snapshot: true,
            units: vec![b],
            chunk: 1,
            chunks: 2,
            at_ms: 10,
            ..Default::default()
        };
        assert!(pic.apply(&second, &mut skipped).unwrap());
        assert_eq!(pic.len(), 2);
        assert_eq!(pic.at_ms(), 10);
        // A delta: P1 changes, P2 leaves, a drone arrives.
        let delta = PictureUpdate {
            seq: 1,
            chunks: 1,
            at_ms: 20,
            units: vec![
                unit_to_proto(&patrol("P1", UnitStatus::OnScene)),
                unit_to_proto(&drone()),
            ],
            removed: vec!["P2".into()],
            ..Default::default()
        };
        assert!(pic.apply(&delta, &mut skipped).unwrap());
        let ids: Vec<&str> = pic.units().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, vec!["P1", "drone:udp0:3"]);
        assert_eq!(pic.units().next().unwrap().status, UnitStatus::OnScene);
        // A skipped step is detected.
        let gap = PictureUpdate {
            seq: 3,
            chunks: 1,
            ..Default::default()
        };
        let err = pic.apply(&gap, &mut skipped).unwrap_err();
        assert!(err.to_string().contains("expected step 2"), "{err}");
        // A new snapshot always resets.
        let reset = PictureUpdate {
            snapshot: true,
            chunks: 1,
            ..Default::default()
        };
        assert!(pic.apply(&reset, &mut skipped).unwrap());
        assert!(pic.is_empty());
        assert!(skipped.is_empty());
    }
}

//! The mission protocol, ground side, as a sans-I/O core: upload and
//! download of missions, geofences and rally points for one vehicle.
//!
//! Upload: MISSION_COUNT → the vehicle requests each item (in any order, and
//! may request one again) → MISSION_ITEM_INT → MISSION_ACK. Download:
//! MISSION_REQUEST_LIST → MISSION_COUNT → we request each item in turn →
//! MISSION_ACK. Every step has the protocol's timeout with a bounded number
//! of resends.

use std::time::{Duration, Instant};

use mavlink::dialects::ardupilotmega::{
    MISSION_ACK_DATA, MISSION_COUNT_DATA, MISSION_ITEM_INT_DATA, MISSION_REQUEST_INT_DATA,
    MISSION_REQUEST_LIST_DATA, MavAutopilot, MavCmd, MavFrame, MavMessage, MavMissionResult,
    MavMissionType,
};
use vigie_protocols::api::{FenceShape, MissionItem};

/// Wait for the vehicle's next step before resending (MAVLink's default
/// mission protocol timeout).
pub const STEP_TIMEOUT: Duration = Duration::from_millis(1500);
/// Resends of one step before giving up.
pub const MAX_RETRIES: u32 = 5;

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferResult {
    /// Upload accepted by the vehicle.
    Uploaded,
    /// Download complete.
    Downloaded(Vec<MISSION_ITEM_INT_DATA>),
    /// The vehicle refused, with its MAV_MISSION_RESULT.
    Rejected(MavMissionResult),
    /// A step got no answer after every resend.
    TimedOut(String),
}

#[derive(Debug, Clone)]
enum Phase {
    /// Upload: count sent, serving item requests.
    Uploading {
        items: Vec<MISSION_ITEM_INT_DATA>,
        /// Highest item requested so far + 1.
        served: usize,
        /// What we last sent, to resend on timeout.
        last: MavMessage,
    },
    /// Download: list requested, waiting for the count.
    AwaitCount { request: MavMessage },
    /// Download: receiving items in order.
    Receiving {
        count: u16,
        items: Vec<MISSION_ITEM_INT_DATA>,
        request: MavMessage,
    },
}

/// One transfer with one vehicle.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Target system and component.
    target: (u8, u8),
    /// Mission, fence or rally.
    mission_type: MavMissionType,
    /// Where we are.
    phase: Phase,
    /// When the current step times out.
    deadline: Instant,
    /// Resends of the current step.
    retries: u32,
}

/// What a step of the core asks for.
#[derive(Debug, Default)]
pub struct Step {
    /// Messages to send to the vehicle.
    pub send: Vec<MavMessage>,
    /// The transfer ended.
    pub done: Option<TransferResult>,
}

impl Transfer {
    /// Starts an upload; returns the transfer and the MISSION_COUNT to send.
    pub fn upload(
        now: Instant,
        target: (u8, u8),
        mission_type: MavMissionType,
        mut items: Vec<MISSION_ITEM_INT_DATA>,
    ) -> (Transfer, MavMessage) {
        for (seq, item) in items.iter_mut().enumerate() {
            item.seq = seq as u16;
            item.target_system = target.0;
            item.target_component = target.1;
            item.mission_type = mission_type;
            item.current = 0;
        }
        let count = MavMessage::MISSION_COUNT(MISSION_COUNT_DATA {
            count: items.len() as u16,
            target_system: target.0,
            target_component: target.1,
            mission_type,
            opaque_id: 0,
        });
        let t = Transfer {
            target,
            mission_type,
            phase: Phase::Uploading {
                items,
                served: 0,
                last: count.clone(),
            },
            deadline: now + STEP_TIMEOUT,
            retries: 0,
        };
        (t, count)
    }

    /// Starts a download; returns the transfer and the request to send.
    pub fn download(
        now: Instant,
        target: (u8, u8),
        mission_type: MavMissionType,
    ) -> (Transfer, MavMessage) {
        let request = MavMessage::MISSION_REQUEST_LIST(MISSION_REQUEST_LIST_DATA {
            target_system: target.0,
            target_component: target.1,
            mission_type,
        });
        let t = Transfer {
            target,
            mission_type,
            phase: Phase::AwaitCount {
                request: request.clone(),
            },
            deadline: now + STEP_TIMEOUT,
            retries: 0,
        };
        (t, request)
    }

    /// The mission type being transferred.
    pub fn mission_type(&self) -> MavMissionType {
        self.mission_type
    }

    /// When [`Transfer::on_timeout`] is due.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Handles a message from the vehicle.
    pub fn on_message(&mut self, now: Instant, msg: &MavMessage) -> Step {
        let mut step = Step::default();
        let (t_sys, t_comp) = self.target;
        match (&mut self.phase, msg) {
            // The deprecated float request too: older autopilots still send
            // it, and the spec says to answer with MISSION_ITEM_INT all the same.
            #[allow(deprecated)]
            (
                Phase::Uploading {
                    items,
                    served,
                    last,
                },
                MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
                    seq, mission_type, ..
                })
                | MavMessage::MISSION_REQUEST(
                    mavlink::dialects::ardupilotmega::MISSION_REQUEST_DATA {
                        seq,
                        mission_type,
                        ..
                    },
                ),
            ) if *mission_type == self.mission_type => {
                if let Some(item) = items.get(*seq as usize) {
                    let m = MavMessage::MISSION_ITEM_INT(item.clone());
                    *served = (*served).max(*seq as usize + 1);
                    *last = m.clone();
                    step.send.push(m);
                    self.deadline = now + STEP_TIMEOUT;
                    self.retries = 0;
                }
            }
            (Phase::Uploading { items, served, .. }, MavMessage::MISSION_ACK(a))
                if a.mission_type == self.mission_type =>
            {
                step.done = Some(match a.mavtype {
                    MavMissionResult::MAV_MISSION_ACCEPTED if *served >= items.len() => {
                        TransferResult::Uploaded
                    }
                    MavMissionResult::MAV_MISSION_ACCEPTED => {
                        TransferResult::Rejected(MavMissionResult::MAV_MISSION_ERROR)
                    }
                    other => TransferResult::Rejected(other),
                });
            }
            (Phase::AwaitCount { .. }, MavMessage::MISSION_COUNT(c))
                if c.mission_type == self.mission_type =>
            {
                if c.count == 0 {
                    step.send
                        .push(self.ack(MavMissionResult::MAV_MISSION_ACCEPTED));
                    step.done = Some(TransferResult::Downloaded(Vec::new()));
                } else {
                    let request = self.request_item(0);
                    step.send.push(request.clone());
                    self.phase = Phase::Receiving {
                        count: c.count,
                        items: Vec::with_capacity(c.count as usize),
                        request,
                    };
                    self.deadline = now + STEP_TIMEOUT;
                    self.retries = 0;
                }
            }
            (
                Phase::Receiving {
                    count,
                    items,
                    request,
                },
                MavMessage::MISSION_ITEM_INT(it),
            ) if it.mission_type == self.mission_type && it.seq as usize == items.len() => {
                items.push(it.clone());
                if items.len() == *count as usize {
                    let items = std::mem::take(items);
                    step.send
                        .push(self.ack(MavMissionResult::MAV_MISSION_ACCEPTED));
                    step.done = Some(TransferResult::Downloaded(items));
                } else {
                    let next = MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
                        seq: items.len() as u16,
                        target_system: t_sys,
                        target_component: t_comp,
                        mission_type: self.mission_type,
                    });
                    *request = next.clone();
                    step.send.push(next);
                    self.deadline = now + STEP_TIMEOUT;
                    self.retries = 0;
                }
            }
            (Phase::AwaitCount { .. } | Phase::Receiving { .. }, MavMessage::MISSION_ACK(a))
                if a.mission_type == self.mission_type
                    && a.mavtype != MavMissionResult::MAV_MISSION_ACCEPTED =>
            {
                step.done = Some(TransferResult::Rejected(a.mavtype));
            }
            _ => {}
        }
        step
    }

    /// Resends the current step, or gives up.
    pub fn on_timeout(&mut self, now: Instant) -> Step {
        let mut step = Step::default();
        if now < self.deadline {
            return step;
        }
        if self.retries >= MAX_RETRIES {
            let what = match &self.phase {
                Phase::Uploading { served, items, .. } => {
                    format!("upload stalled after {served} of {} items", items.len())
                }
                Phase::AwaitCount { .. } => {
                    "the vehicle never answered the mission list request".into()
                }
                Phase::Receiving { items, count, .. } => {
                    format!("download stalled after {} of {count} items", items.len())
                }
            };
            step.done = Some(TransferResult::TimedOut(what));
            return step;
        }
        self.retries += 1;
        self.deadline = now + STEP_TIMEOUT;
        step.send.push(match &self.phase {
            Phase::Uploading { last, .. } => last.clone(),
            Phase::AwaitCount { request } | Phase::Receiving { request, .. } => request.clone(),
        });
        step
    }

    fn request_item(&self, seq: u16) -> MavMessage {
        MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
            seq,
            target_system: self.target.0,
            target_component: self.target.1,
            mission_type: self.mission_type,
        })
    }

    fn ack(&self, result: MavMissionResult) -> MavMessage {
        MavMessage::MISSION_ACK(MISSION_ACK_DATA {
            target_system: self.target.0,
            target_component: self.target.1,
            mavtype: result,
            mission_type: self.mission_type,
            opaque_id: 0,
        })
    }
}

/// A WGS84 position as MAVLink's degrees ×1e7, or why it is not one.
pub fn position_e7(lat_deg: f64, lon_deg: f64) -> Result<(i32, i32), String> {
    if (-90.0..=90.0).contains(&lat_deg) && (-180.0..=180.0).contains(&lon_deg) {
        Ok((deg_e7(lat_deg), deg_e7(lon_deg)))
    } else {
        Err(format!("({lat_deg}, {lon_deg}) is not a WGS84 position"))
    }
}

fn deg_e7(deg: f64) -> i32 {
    (deg * 1e7).round() as i32
}

fn item(
    command: MavCmd,
    frame: MavFrame,
    params: [f32; 4],
    x: i32,
    y: i32,
    z: f32,
) -> MISSION_ITEM_INT_DATA {
    MISSION_ITEM_INT_DATA {
        param1: params[0],
        param2: params[1],
        param3: params[2],
        param4: params[3],
        x,
        y,
        z,
        command,
        frame,
        autocontinue: 1,
        ..MISSION_ITEM_INT_DATA::DEFAULT
    }
}

/// Whether an autopilot keeps mission item 0 for home: ArduPilot does (it
/// overwrites what is uploaded there); PX4 and others fly item 0 like any.
pub fn has_home_item(autopilot: MavAutopilot) -> bool {
    autopilot == MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA
}

/// Mission steps as MAVLink items. With `home_item` (ArduPilot, see
/// [`has_home_item`]) a placeholder home item comes first; the vehicle
/// overwrites it. Without, item 0 is the first step.
pub fn mission_items(
    steps: &[MissionItem],
    home_item: bool,
) -> Result<Vec<MISSION_ITEM_INT_DATA>, String> {
    let rel = MavFrame::MAV_FRAME_GLOBAL_RELATIVE_ALT;
    let mut out = Vec::with_capacity(steps.len() + 1);
    if home_item {
        out.push(item(
            MavCmd::MAV_CMD_NAV_WAYPOINT,
            MavFrame::MAV_FRAME_GLOBAL,
            [0.0; 4],
            0,
            0,
            0.0,
        ));
    }
    for (i, s) in steps.iter().enumerate() {
        let check = |lat: f64, lon: f64| {
            position_e7(lat, lon).map_err(|e| format!("mission item {i}: {e}"))
        };
        out.push(match *s {
            MissionItem::Takeoff { alt_m } => item(
                MavCmd::MAV_CMD_NAV_TAKEOFF,
                rel,
                [0.0; 4],
                0,
                0,
                alt_m as f32,
            ),
            MissionItem::Waypoint {
                lat_deg,
                lon_deg,
                alt_m,
                hold_s,
            } => {
                check(lat_deg, lon_deg)?;
                item(
                    MavCmd::MAV_CMD_NAV_WAYPOINT,
                    rel,
                    [hold_s as f32, 0.0, 0.0, f32::NAN],
                    deg_e7(lat_deg),
                    deg_e7(lon_deg),
                    alt_m as f32,
                )
            }
            MissionItem::Loiter {
                lat_deg,
                lon_deg,
                alt_m,
                time_s,
            } => {
                check(lat_deg, lon_deg)?;
                item(
                    MavCmd::MAV_CMD_NAV_LOITER_TIME,
                    rel,
                    [time_s as f32, 0.0, 0.0, f32::NAN],
                    deg_e7(lat_deg),
                    deg_e7(lon_deg),
                    alt_m as f32,
                )
            }
            MissionItem::Rtl => item(
                MavCmd::MAV_CMD_NAV_RETURN_TO_LAUNCH,
                rel,
                [0.0; 4],
                0,
                0,
                0.0,
            ),
            MissionItem::Land => item(MavCmd::MAV_CMD_NAV_LAND, rel, [0.0; 4], 0, 0, 0.0),
            MissionItem::Raw {
                command,
                frame,
                params,
                x,
                y,
                z,
            } => {
                let cmd = num_to_cmd(command)
                    .ok_or_else(|| format!("mission item {i}: unknown MAV_CMD {command}"))?;
                let frame = num_to_frame(frame)
                    .ok_or_else(|| format!("mission item {i}: unknown MAV_FRAME {frame}"))?;
                item(cmd, frame, params, x, y, z)
            }
        });
    }
    Ok(out)
}

/// Geofence shapes as MAVLink fence items (mission_type FENCE).
pub fn fence_items(shapes: &[FenceShape]) -> Result<Vec<MISSION_ITEM_INT_DATA>, String> {
    let frame = MavFrame::MAV_FRAME_GLOBAL;
    let mut out = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        match shape {
            FenceShape::Polygon {
                inclusion,
                vertices,
            } => {
                if vertices.len() < 3 {
                    return Err(format!(
                        "fence shape {i}: a polygon needs at least 3 vertices"
                    ));
                }
                let cmd = if *inclusion {
                    MavCmd::MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
                } else {
                    MavCmd::MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
                };
                for v in vertices {
                    out.push(item(
                        cmd,
                        frame,
                        [vertices.len() as f32, 0.0, 0.0, 0.0],
                        deg_e7(v[0]),
                        deg_e7(v[1]),
                        0.0,
                    ));
                }
            }
            FenceShape::Circle {
                inclusion,
                lat_deg,
                lon_deg,
                radius_m,
            } => {
                if radius_m.is_nan() || *radius_m <= 0.0 {
                    return Err(format!("fence shape {i}: radius must be above 0 m"));
                }
                let cmd = if *inclusion {
                    MavCmd::MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
                } else {
                    MavCmd::MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
                };
                out.push(item(
                    cmd,
                    frame,
                    [*radius_m as f32, 0.0, 0.0, 0.0],
                    deg_e7(*lat_deg),
                    deg_e7(*lon_deg),
                    0.0,
                ));
            }
        }
    }
    Ok(out)
}

/// MAVLink items back to mission steps (for downloads), skipping the home
/// item at 0 when the autopilot keeps one (`home_item`, ArduPilot).
pub fn steps_from_items(items: &[MISSION_ITEM_INT_DATA], home_item: bool) -> Vec<MissionItem> {
    items
        .iter()
        .skip(usize::from(home_item))
        .map(|i| {
            let (lat, lon, alt) = (i.x as f64 * 1e-7, i.y as f64 * 1e-7, i.z as f64);
            match i.command {
                MavCmd::MAV_CMD_NAV_TAKEOFF => MissionItem::Takeoff { alt_m: alt },
                MavCmd::MAV_CMD_NAV_WAYPOINT => MissionItem::Waypoint {
                    lat_deg: lat,
                    lon_deg: lon,
                    alt_m: alt,
                    hold_s: i.param1 as f64,
                },
                MavCmd::MAV_CMD_NAV_LOITER_TIME => MissionItem::Loiter {
                    lat_deg: lat,
                    lon_deg: lon,
                    alt_m: alt,
                    time_s: i.param1 as f64,
                },
                MavCmd::MAV_CMD_NAV_RETURN_TO_LAUNCH => MissionItem::Rtl,
                MavCmd::MAV_CMD_NAV_LAND => MissionItem::Land,
                other => MissionItem::Raw {
                    command: other as u16,
                    frame: i.frame as u8,
                    params: [i.param1, i.param2, i.param3, i.param4],
                    x: i.x,
                    y: i.y,
                    z: i.z,
                },
            }
        })
        .collect()
}

fn num_to_cmd(n: u16) -> Option<MavCmd> {
    num_traits::FromPrimitive::from_u16(n)
}

fn num_to_frame(n: u8) -> Option<MavFrame> {
    num_traits::FromPrimitive::from_u8(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(deprecated)]
    use mavlink::dialects::ardupilotmega::MISSION_REQUEST_DATA;
    use mavlink::dialects::ardupilotmega::MISSION_REQUEST_INT_DATA;

    fn steps() -> Vec<MissionItem> {
        vec![
            MissionItem::Takeoff { alt_m: 30.0 },
            MissionItem::Waypoint {
                lat_deg: 48.92,
                lon_deg: 2.36,
                alt_m: 40.0,
                hold_s: 0.0,
            },
            MissionItem::Rtl,
        ]
    }

    fn req(seq: u16) -> MavMessage {
        MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
            seq,
            target_system: 255,
            target_component: 190,
            mission_type: MavMissionType::MAV_MISSION_TYPE_MISSION,
        })
    }

    fn ack(r: MavMissionResult) -> MavMessage {
        MavMessage::MISSION_ACK(MISSION_ACK_DATA {
            target_system: 255,
            target_component: 190,
            mavtype: r,
            mission_type: MavMissionType::MAV_MISSION_TYPE_MISSION,
            opaque_id: 0,
        })
    }

    #[test]
    fn upload_serves_out_of_order_and_repeated_requests() {
        let t0 = Instant::now();
        let items = mission_items(&steps(), true).unwrap();
        let (mut t, first) =
            Transfer::upload(t0, (1, 1), MavMissionType::MAV_MISSION_TYPE_MISSION, items);
        assert!(matches!(first, MavMessage::MISSION_COUNT(ref c) if c.count == 4));
        for seq in [0u16, 2, 1, 1, 3] {
            let s = t.on_message(t0, &req(seq));
            let Some(MavMessage::MISSION_ITEM_INT(it)) = s.send.first() else {
                panic!("no item for {seq}")
            };
            assert_eq!(it.seq, seq);
        }
        // The deprecated float request is answered with an int item.
        #[allow(deprecated)]
        let s = t.on_message(
            t0,
            &MavMessage::MISSION_REQUEST(MISSION_REQUEST_DATA {
                seq: 2,
                target_system: 255,
                target_component: 190,
                mission_type: MavMissionType::MAV_MISSION_TYPE_MISSION,
            }),
        );
        let Some(MavMessage::MISSION_ITEM_INT(f)) = s.send.first() else {
            panic!("no item")
        };
        assert_eq!(f.x, 489_200_000);
        assert_eq!(
            t.on_message(t0, &ack(MavMissionResult::MAV_MISSION_ACCEPTED))
                .done,
            Some(TransferResult::Uploaded)
        );
    }

    #[test]
    fn upload_times_out_after_bounded_resends_of_the_last_step() {
        let t0 = Instant::now();
        let (mut t, _) = Transfer::upload(
            t0,
            (1, 1),
            MavMissionType::MAV_MISSION_TYPE_FENCE,
            fence_items(&[FenceShape::Circle {
                inclusion: true,
                lat_deg: 48.9,
                lon_deg: 2.3,
                radius_m: 300.0,
            }])
            .unwrap(),
        );
        let mut resends = 0;
        loop {
            let now = t.deadline();
            let s = t.on_timeout(now);
            if let Some(done) = s.done {
                assert!(matches!(done, TransferResult::TimedOut(_)));
                break;
            }
            assert!(matches!(s.send[0], MavMessage::MISSION_COUNT(_)));
            resends += 1;
        }
        assert_eq!(resends, MAX_RETRIES);
    }

    #[test]
    fn vehicle_rejection_is_reported() {
        let t0 = Instant::now();
        let (mut t, _) = Transfer::upload(
            t0,
            (1, 1),
            MavMissionType::MAV_MISSION_TYPE_MISSION,
            mission_items(&steps(), true).unwrap(),
        );
        let s = t.on_message(t0, &ack(MavMissionResult::MAV_MISSION_NO_SPACE));
        assert_eq!(
            s.done,
            Some(TransferResult::Rejected(
                MavMissionResult::MAV_MISSION_NO_SPACE
            ))
        );
    }

    #[test]
    fn download_requests_each_item_and_acks() {
        let t0 = Instant::now();
        let (mut t, first) =
            Transfer::download(t0, (1, 1), MavMissionType::MAV_MISSION_TYPE_MISSION);
        assert!(matches!(first, MavMessage::MISSION_REQUEST_LIST(_)));
        let items = mission_items(&steps(), true).unwrap();
        let s = t.on_message(
            t0,
            &MavMessage::MISSION_COUNT(MISSION_COUNT_DATA {
                count: items.len() as u16,
                target_system: 255,
                target_component: 190,
                mission_type: MavMissionType::MAV_MISSION_TYPE_MISSION,
                opaque_id: 0,
            }),
        );
        assert!(matches!(s.send[0], MavMessage::MISSION_REQUEST_INT(ref r) if r.seq == 0));
        // A timeout resends the same request.
        let s = t.on_timeout(t.deadline());
        assert!(matches!(s.send[0], MavMessage::MISSION_REQUEST_INT(ref r) if r.seq == 0));
        let mut done = None;
        for (seq, it) in items.iter().enumerate() {
            let mut it = it.clone();
            it.seq = seq as u16;
            let s = t.on_message(t0, &MavMessage::MISSION_ITEM_INT(it));
            done = s.done;
        }
        let Some(TransferResult::Downloaded(got)) = done else {
            panic!("not downloaded")
        };
        // Back to the same MAVLink items (degrees go through 1e-7 integers).
        // (Compared as text: the yaw parameter is NaN, "unchanged", in both.)
        assert_eq!(
            format!(
                "{:?}",
                mission_items(&steps_from_items(&got, true), true).unwrap()
            ),
            format!("{:?}", mission_items(&steps(), true).unwrap())
        );
    }

    #[test]
    fn bad_shapes_and_positions_are_refused_with_reasons() {
        assert!(
            fence_items(&[FenceShape::Polygon {
                inclusion: true,
                vertices: vec![[0.0, 0.0]]
            }])
            .unwrap_err()
            .contains("3 vertices")
        );
        assert!(
            mission_items(
                &[MissionItem::Waypoint {
                    lat_deg: 95.0,
                    lon_deg: 0.0,
                    alt_m: 1.0,
                    hold_s: 0.0
                }],
                true
            )
            .unwrap_err()
            .contains("WGS84")
        );
    }
}

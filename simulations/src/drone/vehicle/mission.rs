//! The vehicle side of the mission protocol: missions and fences uploaded
//! (the vehicle requests each item, retrying), downloaded, and turned into
//! the autopilot's mission and zones.

use super::*;

impl Vehicle {
    pub(super) fn stored(&self, t: MavMissionType) -> Option<&Vec<MISSION_ITEM_INT_DATA>> {
        match t {
            MavMissionType::MAV_MISSION_TYPE_MISSION => Some(&self.mission_items),
            MavMissionType::MAV_MISSION_TYPE_FENCE => Some(&self.fence_items),
            _ => None,
        }
    }

    pub(super) fn mission_count(
        &mut self,
        now: Instant,
        from: (u8, u8),
        m: &MISSION_COUNT_DATA,
        out: &mut Vec<Outgoing>,
    ) {
        let t = m.mission_type;
        let max = match t {
            MavMissionType::MAV_MISSION_TYPE_MISSION => MAX_MISSION_ITEMS,
            MavMissionType::MAV_MISSION_TYPE_FENCE => MAX_FENCE_ITEMS,
            _ => {
                out.push(mission_ack(
                    from,
                    t,
                    MavMissionResult::MAV_MISSION_UNSUPPORTED,
                ));
                return;
            }
        };
        if m.count > max {
            out.push(mission_ack(from, t, MavMissionResult::MAV_MISSION_NO_SPACE));
            return;
        }
        // A new MISSION_COUNT restarts any upload in progress.
        self.upload = Some(Upload {
            mission_type: t,
            count: m.count,
            items: Vec::with_capacity(usize::from(m.count)),
            from,
            retry_at: now + MISSION_RETRY,
            retries: 0,
        });
        if m.count == 0 {
            self.finish_upload(from, out);
        } else {
            out.push(request_item(from, 0, t));
        }
    }

    pub(super) fn mission_item(
        &mut self,
        now: Instant,
        from: (u8, u8),
        item: MISSION_ITEM_INT_DATA,
        out: &mut Vec<Outgoing>,
    ) {
        let Some(up) = self.upload.as_mut() else {
            // No upload in progress: a late duplicate. ArduPilot ignores it.
            self.stats.mission_items_ignored += 1;
            return;
        };
        if item.mission_type != up.mission_type || from != up.from {
            self.stats.mission_items_ignored += 1;
            return;
        }
        let expected = up.items.len() as u16;
        if item.seq != expected {
            // A repeat of an item we have, or one from the future: ignore
            // it and ask again for the one we need.
            self.stats.mission_items_ignored += 1;
            out.push(request_item(from, expected, up.mission_type));
            up.retry_at = now + MISSION_RETRY;
            return;
        }
        up.items.push(item);
        up.retries = 0;
        up.retry_at = now + MISSION_RETRY;
        if up.items.len() == usize::from(up.count) {
            self.finish_upload(from, out);
        } else {
            out.push(request_item(from, expected + 1, up.mission_type));
        }
    }

    pub(super) fn upload_retry(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        let Some(up) = self.upload.as_mut() else {
            return;
        };
        if now < up.retry_at {
            return;
        }
        if up.retries >= MISSION_MAX_RETRIES {
            out.push(mission_ack(
                up.from,
                up.mission_type,
                MavMissionResult::MAV_MISSION_OPERATION_CANCELLED,
            ));
            out.push(autopilot(statustext(
                Severity::Warning,
                "Mission upload timed out",
            )));
            self.upload = None;
            self.stats.uploads_timed_out += 1;
            return;
        }
        up.retries += 1;
        up.retry_at = now + MISSION_RETRY;
        out.push(request_item(
            up.from,
            up.items.len() as u16,
            up.mission_type,
        ));
    }

    pub(super) fn finish_upload(&mut self, from: (u8, u8), out: &mut Vec<Outgoing>) {
        let Some(up) = self.upload.take() else { return };
        let t = up.mission_type;
        let result = match t {
            MavMissionType::MAV_MISSION_TYPE_FENCE => self.fence_zones(&up.items).map(|zones| {
                self.ap.set_fence(zones);
                self.fence_items = up.items;
            }),
            _ => self.mission_commands(&up.items).map(|commands| {
                self.ap.set_mission(commands);
                self.mission_items = up.items;
            }),
        };
        self.flush_events(out);
        let code = result
            .err()
            .unwrap_or(MavMissionResult::MAV_MISSION_ACCEPTED);
        out.push(mission_ack(from, t, code));
        if code == MavMissionResult::MAV_MISSION_ACCEPTED {
            let what = if t == MavMissionType::MAV_MISSION_TYPE_FENCE {
                "Fence"
            } else {
                "Mission"
            };
            out.push(autopilot(statustext(
                Severity::Info,
                &format!("{what} received: {} items", up.count),
            )));
            if t == MavMissionType::MAV_MISSION_TYPE_MISSION {
                out.push(autopilot(self.mission_current()));
            }
        }
    }

    /// Converts uploaded items into mission commands.
    pub(super) fn mission_commands(
        &self,
        items: &[MISSION_ITEM_INT_DATA],
    ) -> Result<Vec<MissionCommand>, MavMissionResult> {
        use MavCmd::*;
        let mut out = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            if i == 0 {
                // Item 0 is home on ArduPilot, whatever was sent.
                out.push(MissionCommand::Home);
                continue;
            }
            let place = || self.item_place(it);
            let cmd = match it.command {
                MAV_CMD_NAV_WAYPOINT => MissionCommand::Waypoint {
                    place: place()?,
                    hold_s: f64::from(it.param1.max(0.0)),
                },
                MAV_CMD_NAV_LOITER_TIME => MissionCommand::LoiterTime {
                    place: place()?,
                    time_s: f64::from(it.param1.max(0.0)),
                },
                MAV_CMD_NAV_LOITER_UNLIM => MissionCommand::LoiterUnlimited { place: place()? },
                MAV_CMD_NAV_TAKEOFF => MissionCommand::Takeoff {
                    alt_m: place()?.up_m,
                },
                MAV_CMD_NAV_RETURN_TO_LAUNCH => MissionCommand::ReturnToLaunch,
                MAV_CMD_NAV_LAND => MissionCommand::Land { place: place()? },
                MAV_CMD_DO_CHANGE_SPEED => MissionCommand::ChangeSpeed {
                    speed_mps: f64::from(it.param2),
                },
                MAV_CMD_DO_SET_ROI_LOCATION => {
                    let p = place()?;
                    MissionCommand::SetRoi {
                        target: p.en.map(|(e, n)| Enu::new(e, n, p.up_m)),
                    }
                }
                MAV_CMD_DO_SET_ROI_NONE => MissionCommand::SetRoi { target: None },
                MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW => MissionCommand::GimbalPitchYaw {
                    pitch_deg: f64::from(it.param1),
                    yaw_deg: f64::from(it.param2),
                },
                _ => MissionCommand::Skip,
            };
            out.push(cmd);
        }
        Ok(out)
    }

    /// The place of a positional mission item.
    pub(super) fn item_place(&self, it: &MISSION_ITEM_INT_DATA) -> Result<Place, MavMissionResult> {
        let amsl = match it.frame as u32 {
            0 | 5 => true,
            3 | 6 | 10 | 11 => false,
            _ => return Err(MavMissionResult::MAV_MISSION_UNSUPPORTED_FRAME),
        };
        let (lat, lon) = (f64::from(it.x) / 1e7, f64::from(it.y) / 1e7);
        if lat.abs() > 90.0 {
            return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM5_X);
        }
        if lon.abs() > 180.0 {
            return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM6_Y);
        }
        let en = (it.x != 0 || it.y != 0).then(|| self.frame.to_local(lat, lon));
        let z = f64::from(it.z);
        let up_m = if amsl {
            z - self.config.home_alt_amsl_m
        } else {
            z
        };
        Ok(Place { en, up_m })
    }

    /// Converts uploaded fence items into zones.
    pub(super) fn fence_zones(
        &self,
        items: &[MISSION_ITEM_INT_DATA],
    ) -> Result<Vec<Zone>, MavMissionResult> {
        use MavCmd::*;
        let mut zones = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let it = &items[i];
            let en = self
                .frame
                .to_local(f64::from(it.x) / 1e7, f64::from(it.y) / 1e7);
            match it.command {
                MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
                | MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION => {
                    let n = it.param1 as usize;
                    if n < 3 || i + n > items.len() {
                        return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM1);
                    }
                    let mut vertices = Vec::with_capacity(n);
                    for v in &items[i..i + n] {
                        if v.command != it.command || v.param1 as usize != n {
                            return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM1);
                        }
                        vertices.push(
                            self.frame
                                .to_local(f64::from(v.x) / 1e7, f64::from(v.y) / 1e7),
                        );
                    }
                    zones.push(Zone::Polygon {
                        inclusion: it.command == MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                        vertices,
                    });
                    i += n;
                    continue;
                }
                MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION | MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION => {
                    if !(it.param1.is_finite() && it.param1 > 0.0) {
                        return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM1);
                    }
                    zones.push(Zone::Circle {
                        inclusion: it.command == MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
                        center: en,
                        radius_m: f64::from(it.param1),
                    });
                }
                MAV_CMD_NAV_FENCE_RETURN_POINT => {}
                _ => return Err(MavMissionResult::MAV_MISSION_UNSUPPORTED),
            }
            i += 1;
        }
        Ok(zones)
    }

    /// MISSION_ITEM (floats) as MISSION_ITEM_INT.
    #[allow(deprecated)]
    pub(super) fn item_from_float(&self, m: &MISSION_ITEM_DATA) -> MISSION_ITEM_INT_DATA {
        let global = matches!(m.frame as u32, 0 | 3 | 5 | 6 | 10 | 11);
        let scale = if global { 1e7 } else { 1.0 };
        MISSION_ITEM_INT_DATA {
            param1: m.param1,
            param2: m.param2,
            param3: m.param3,
            param4: m.param4,
            x: (f64::from(m.x) * scale).round() as i32,
            y: (f64::from(m.y) * scale).round() as i32,
            z: m.z,
            seq: m.seq,
            command: m.command,
            target_system: m.target_system,
            target_component: m.target_component,
            frame: m.frame,
            current: m.current,
            autocontinue: m.autocontinue,
            mission_type: m.mission_type,
        }
    }

    /// One item for a download, as MISSION_ITEM_INT or (deprecated
    /// MISSION_REQUEST) MISSION_ITEM; item 0 of a mission is home.
    #[allow(deprecated)]
    pub(super) fn download_item(
        &self,
        to: (u8, u8),
        seq: u16,
        t: MavMissionType,
        int: bool,
    ) -> Outgoing {
        let Some(mut item) = self
            .stored(t)
            .and_then(|v| v.get(usize::from(seq)))
            .cloned()
        else {
            return mission_ack(to, t, MavMissionResult::MAV_MISSION_INVALID_SEQUENCE);
        };
        if seq == 0 && t == MavMissionType::MAV_MISSION_TYPE_MISSION {
            item.command = MavCmd::MAV_CMD_NAV_WAYPOINT;
            item.frame = MavFrame::MAV_FRAME_GLOBAL;
            item.x = (self.config.home_lat_deg * 1e7).round() as i32;
            item.y = (self.config.home_lon_deg * 1e7).round() as i32;
            item.z = self.config.home_alt_amsl_m as f32;
        }
        item.target_system = to.0;
        item.target_component = to.1;
        item.current = u8::from(
            t == MavMissionType::MAV_MISSION_TYPE_MISSION && seq == self.ap.mission_current(),
        );
        if int {
            return autopilot(MavMessage::MISSION_ITEM_INT(item));
        }
        let global = matches!(item.frame as u32, 0 | 3 | 5 | 6 | 10 | 11);
        let scale = if global { 1e7 } else { 1.0 };
        autopilot(MavMessage::MISSION_ITEM(MISSION_ITEM_DATA {
            param1: item.param1,
            param2: item.param2,
            param3: item.param3,
            param4: item.param4,
            x: (f64::from(item.x) / scale) as f32,
            y: (f64::from(item.y) / scale) as f32,
            z: item.z,
            seq: item.seq,
            command: item.command,
            target_system: item.target_system,
            target_component: item.target_component,
            frame: item.frame,
            current: item.current,
            autocontinue: item.autocontinue,
            mission_type: item.mission_type,
        }))
    }

    // ---- telemetry ----

    pub(super) fn mission_current(&self) -> MavMessage {
        let len = self.ap.mission_len();
        MavMessage::MISSION_CURRENT(MISSION_CURRENT_DATA {
            seq: self.ap.mission_current(),
            total: if len >= 2 { len - 1 } else { u16::MAX },
            mission_state: match self.ap.mission_progress() {
                MissionProgress::NoMission => MissionState::MISSION_STATE_NO_MISSION,
                MissionProgress::NotStarted => MissionState::MISSION_STATE_NOT_STARTED,
                MissionProgress::Active => MissionState::MISSION_STATE_ACTIVE,
                MissionProgress::Paused => MissionState::MISSION_STATE_PAUSED,
                MissionProgress::Complete => MissionState::MISSION_STATE_COMPLETE,
            },
            mission_mode: if self.ap.mode() == FlightMode::Auto {
                1
            } else {
                2
            },
            ..Default::default()
        })
    }
}

pub(super) fn mission_ack(
    to: (u8, u8),
    mission_type: MavMissionType,
    result: MavMissionResult,
) -> Outgoing {
    autopilot(MavMessage::MISSION_ACK(MISSION_ACK_DATA {
        target_system: to.0,
        target_component: to.1,
        mavtype: result,
        mission_type,
        opaque_id: 0,
    }))
}

pub(super) fn request_item(to: (u8, u8), seq: u16, mission_type: MavMissionType) -> Outgoing {
    autopilot(MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
        seq,
        target_system: to.0,
        target_component: to.1,
        mission_type,
    }))
}

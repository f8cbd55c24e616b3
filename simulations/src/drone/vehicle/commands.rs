//! The vehicle's commands: COMMAND_LONG and COMMAND_INT executed and
//! acknowledged, mode changes, guided targets.

use super::*;

impl Vehicle {
    /// Executes a COMMAND_LONG / COMMAND_INT and acknowledges it.
    pub(super) fn command(
        &mut self,
        now: Instant,
        from: (u8, u8),
        target_component: u8,
        c: Command,
        out: &mut Vec<Outgoing>,
    ) {
        let component = if target_component == CAMERA_COMPONENT {
            CAMERA_COMPONENT
        } else {
            AUTOPILOT_COMPONENT
        };
        let mut after = Vec::new();
        let result = self.execute(now, component, &c, out, &mut after);
        if result == MavResult::MAV_RESULT_UNSUPPORTED {
            self.stats.commands_unsupported += 1;
        }
        out.push(ack(c.command, result, from, component));
        out.extend(after);
    }

    /// Runs a command; `after` receives messages that must follow the ACK
    /// (answers to REQUEST_MESSAGE).
    #[allow(deprecated)]
    pub(super) fn execute(
        &mut self,
        now: Instant,
        component: u8,
        c: &Command,
        out: &mut Vec<Outgoing>,
        after: &mut Vec<Outgoing>,
    ) -> MavResult {
        use MavCmd::*;
        let [p1, p2, p3, p4] = c.params;
        match (component, c.command) {
            (_, MAV_CMD_SET_MESSAGE_INTERVAL) => {
                let msgid = p1 as u32;
                let comp = self.stream_component(component, msgid);
                let Some(s) = self
                    .streams
                    .iter_mut()
                    .find(|s| s.component_id == comp && s.msgid == msgid)
                else {
                    return MavResult::MAV_RESULT_DENIED;
                };
                s.interval = if p2 < 0.0 {
                    None
                } else if p2 == 0.0 {
                    s.default
                } else {
                    Some(Duration::from_micros(p2 as u64).max(Duration::from_millis(10)))
                };
                s.next_due = now;
                MavResult::MAV_RESULT_ACCEPTED
            }
            (_, MAV_CMD_REQUEST_MESSAGE) => {
                let msgid = p1 as u32;
                let comp = self.stream_component(component, msgid);
                match self.build(now, comp, msgid, p2 as i64) {
                    Some(m) => {
                        after.push(m);
                        MavResult::MAV_RESULT_ACCEPTED
                    }
                    None => MavResult::MAV_RESULT_DENIED,
                }
            }
            (AUTOPILOT_COMPONENT, MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES) => {
                after.extend(self.build(now, AUTOPILOT_COMPONENT, AUTOPILOT_VERSION_DATA::ID, 0));
                MavResult::MAV_RESULT_ACCEPTED
            }
            (_, MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW) => {
                let device = c.p7 as i64;
                if !(device == 0 || device == 1 || device == i64::from(AUTOPILOT_COMPONENT)) {
                    return MavResult::MAV_RESULT_DENIED;
                }
                let flags = c.p5 as u32;
                // YAW_LOCK (16) or YAW_IN_EARTH_FRAME (64): yaw is relative to north.
                let earth = flags & (16 | 64) != 0;
                self.ap.point_gimbal(f64::from(p1), f64::from(p2), earth);
                let _ = (p3, p4);
                MavResult::MAV_RESULT_ACCEPTED
            }
            (CAMERA_COMPONENT, _) => MavResult::MAV_RESULT_UNSUPPORTED,
            (_, MAV_CMD_COMPONENT_ARM_DISARM) => {
                let r = if p1 >= 0.5 {
                    self.ap.arm(p2 as i32 == 2989)
                } else {
                    self.ap.disarm(p2 as i32 == 21196)
                };
                // The autopilot already said why in a STATUSTEXT.
                self.flush_events(out);
                failed_if_err(r)
            }
            (_, MAV_CMD_DO_SET_MODE) => {
                if (p1 as u32) & 1 == 0 {
                    return MavResult::MAV_RESULT_DENIED;
                }
                self.set_mode(p2 as u32, out)
            }
            (_, MAV_CMD_NAV_TAKEOFF) => {
                let r = self.ap.takeoff(f64::from(c.p7));
                self.refusal_text(&r, out);
                failed_if_err(r)
            }
            (_, MAV_CMD_NAV_RETURN_TO_LAUNCH) => self.set_mode(FlightMode::Rtl.custom_mode(), out),
            (_, MAV_CMD_NAV_LAND) => self.set_mode(FlightMode::Land.custom_mode(), out),
            (_, MAV_CMD_DO_REPOSITION) => {
                // MAV_DO_REPOSITION_FLAGS_CHANGE_MODE: switch to GUIDED first.
                if self.ap.mode() != FlightMode::Guided
                    && (p2 as u32) & 1 != 0
                    && let Err(r) = self.ap.set_mode(FlightMode::Guided)
                {
                    return failed_if_err(Err(r));
                }
                let Some(place) = self.place(c) else {
                    return MavResult::MAV_RESULT_DENIED;
                };
                let speed = (p1 > 0.0).then_some(f64::from(p1));
                let r = self.ap.goto(place, speed);
                self.refusal_text(&r, out);
                failed_if_err(r)
            }
            (_, MAV_CMD_DO_ORBIT) => {
                let pos = self.ap.kin.pos;
                let radius = f64::from(p1);
                if !radius.is_finite() || radius == 0.0 {
                    return MavResult::MAV_RESULT_DENIED;
                }
                let speed = if p2.is_finite() && p2 != 0.0 {
                    f64::from(p2)
                } else {
                    5.0
                };
                let center = self
                    .latlon(c)
                    .map_or((pos.e, pos.n), |(lat, lon)| self.frame.to_local(lat, lon));
                let alt_m = self.alt_rel(c).unwrap_or(pos.u);
                let r = self.ap.orbit(Orbit {
                    center,
                    radius_m: radius.abs(),
                    clockwise: (radius > 0.0) == (speed > 0.0),
                    speed_mps: speed.abs(),
                    alt_m,
                    turns: (p4.is_finite() && p4 > 0.0).then_some(f64::from(p4)),
                });
                self.refusal_text(&r, out);
                failed_if_err(r)
            }
            (_, MAV_CMD_DO_SET_ROI_LOCATION) => {
                let Some((lat, lon)) = self.latlon(c) else {
                    return MavResult::MAV_RESULT_DENIED;
                };
                let (e, n) = self.frame.to_local(lat, lon);
                let u = self.alt_rel(c).unwrap_or(0.0);
                self.ap.set_roi(Some(Enu::new(e, n, u)));
                MavResult::MAV_RESULT_ACCEPTED
            }
            (_, MAV_CMD_DO_SET_ROI_NONE) => {
                self.ap.set_roi(None);
                MavResult::MAV_RESULT_ACCEPTED
            }
            (_, MAV_CMD_MISSION_START) => {
                let r = self.ap.start_mission(p1.max(0.0) as u16);
                self.refusal_text(&r, out);
                self.flush_events(out);
                failed_if_err(r)
            }
            (_, MAV_CMD_DO_FENCE_ENABLE) => {
                self.ap.fence.enabled = p1 >= 0.5;
                MavResult::MAV_RESULT_ACCEPTED
            }
            _ => MavResult::MAV_RESULT_UNSUPPORTED,
        }
    }

    /// Which component sends `msgid` when `component` is asked for it.
    pub(super) fn stream_component(&self, component: u8, msgid: u32) -> u8 {
        if msgid == HEARTBEAT_DATA::ID {
            return component;
        }
        self.streams
            .iter()
            .find(|s| s.msgid == msgid)
            .map_or(component, |s| s.component_id)
    }

    /// Turns the autopilot's events into messages.
    pub(super) fn flush_events(&mut self, out: &mut Vec<Outgoing>) {
        for event in self.ap.drain_events() {
            let message = match event {
                Event::Text(severity, text) => statustext(severity, &text),
                Event::ItemReached(seq) => {
                    MavMessage::MISSION_ITEM_REACHED(MISSION_ITEM_REACHED_DATA { seq })
                }
                Event::CurrentChanged(_) => self.mission_current(),
            };
            out.push(autopilot(message));
        }
    }

    /// ArduPilot reports refused guided commands in a STATUSTEXT too.
    pub(super) fn refusal_text(&self, r: &Result<(), Refusal>, out: &mut Vec<Outgoing>) {
        if let Err(e) = r {
            out.push(autopilot(statustext(Severity::Warning, e.reason)));
        }
    }

    pub(super) fn set_mode(&mut self, custom_mode: u32, out: &mut Vec<Outgoing>) -> MavResult {
        let Some(mode) = FlightMode::from_custom_mode(custom_mode) else {
            out.push(autopilot(statustext(
                Severity::Warning,
                &format!("Mode {custom_mode} not available in this simulator"),
            )));
            return MavResult::MAV_RESULT_FAILED;
        };
        let r = self.ap.set_mode(mode);
        self.flush_events(out);
        failed_if_err(r)
    }

    pub(super) fn latlon(&self, c: &Command) -> Option<(f64, f64)> {
        let (lat, lon) = match c.int_frame {
            Some(_) => {
                if c.p5 as i64 == i64::from(i32::MAX) || c.p6 as i64 == i64::from(i32::MAX) {
                    return None;
                }
                (c.p5 / 1e7, c.p6 / 1e7)
            }
            None => (c.p5, c.p6),
        };
        if !(lat.is_finite() && lon.is_finite()) || (lat == 0.0 && lon == 0.0) {
            return None;
        }
        if lat.abs() > 90.0 || lon.abs() > 180.0 {
            return None;
        }
        Some((lat, lon))
    }

    /// Height above home from a command's altitude and frame.
    pub(super) fn alt_rel(&self, c: &Command) -> Option<f64> {
        let z = f64::from(c.p7);
        if !z.is_finite() {
            return None;
        }
        Some(match c.int_frame.map(|f| f as u32) {
            // MAV_FRAME_GLOBAL(_INT): above mean sea level.
            Some(0) | Some(5) => z - self.config.home_alt_amsl_m,
            _ => z,
        })
    }

    pub(super) fn place(&self, c: &Command) -> Option<Place> {
        let en = match self.latlon(c) {
            Some((lat, lon)) => Some(self.frame.to_local(lat, lon)),
            None if c.p5 == 0.0 && c.p6 == 0.0 => None,
            None => return None,
        };
        let up_m = self.alt_rel(c).unwrap_or(self.ap.kin.pos.u);
        Some(Place { en, up_m })
    }

    /// SET_POSITION_TARGET_GLOBAL_INT: a position, or a velocity when the
    /// position is masked out. Ignored outside GUIDED, as on ArduCopter.
    pub(super) fn position_target(&mut self, t: &SET_POSITION_TARGET_GLOBAL_INT_DATA) {
        let mask = t.type_mask.bits();
        let pos_ignored = mask & 0b111 == 0b111;
        let vel_ignored = mask & 0b111000 == 0b111000;
        if !pos_ignored {
            let (e, n) = self
                .frame
                .to_local(f64::from(t.lat_int) / 1e7, f64::from(t.lon_int) / 1e7);
            let up_m = match t.coordinate_frame as u32 {
                0 | 5 => f64::from(t.alt) - self.config.home_alt_amsl_m,
                _ => f64::from(t.alt),
            };
            let _ = self.ap.goto(
                Place {
                    en: Some((e, n)),
                    up_m,
                },
                None,
            );
        } else if !vel_ignored {
            // NED velocity to ENU.
            let _ = self
                .ap
                .velocity(Enu::new(f64::from(t.vy), f64::from(t.vx), -f64::from(t.vz)));
        }
    }

    // ---- mission protocol, vehicle side ----
}

/// A command's parameters, from COMMAND_LONG or COMMAND_INT.
#[derive(Debug, Clone, Copy)]
pub(super) struct Command {
    /// The command.
    pub(super) command: MavCmd,
    /// Parameters 1 to 4.
    pub(super) params: [f32; 4],
    /// Parameter 5 (COMMAND_INT: x, latitude × 1e7).
    pub(super) p5: f64,
    /// Parameter 6 (COMMAND_INT: y, longitude × 1e7).
    pub(super) p6: f64,
    /// Parameter 7 (altitude).
    pub(super) p7: f32,
    /// The frame, for COMMAND_INT.
    pub(super) int_frame: Option<MavFrame>,
}

pub(super) fn failed_if_err(r: Result<(), Refusal>) -> MavResult {
    match r {
        Ok(()) => MavResult::MAV_RESULT_ACCEPTED,
        Err(_) => MavResult::MAV_RESULT_FAILED,
    }
}

pub(super) fn ack(command: MavCmd, result: MavResult, to: (u8, u8), component: u8) -> Outgoing {
    Outgoing {
        component_id: component,
        message: MavMessage::COMMAND_ACK(COMMAND_ACK_DATA {
            command,
            result,
            progress: 0,
            result_param2: 0,
            target_system: to.0,
            target_component: to.1,
        }),
    }
}

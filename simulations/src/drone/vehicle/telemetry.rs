//! The vehicle's telemetry: every periodic or requested message built from
//! the autopilot's state.

use super::*;

impl Vehicle {
    /// Builds message `msgid` as component `component` would send it;
    /// `index` selects an instance (video stream id, or the message id
    /// asked about for MESSAGE_INTERVAL).
    pub fn build(&self, now: Instant, component: u8, msgid: u32, index: i64) -> Option<Outgoing> {
        let ap = &self.ap;
        let k = &ap.kin;
        let t_ms = self.time_boot_ms(now);
        let (lat, lon) = self.frame.to_wgs84(k.pos.e, k.pos.n);
        let lat_e7 = (lat * 1e7).round() as i32;
        let lon_e7 = (lon * 1e7).round() as i32;
        let alt_amsl_m = self.config.home_alt_amsl_m + k.pos.u;
        let message = match (component, msgid) {
            (AUTOPILOT_COMPONENT, HEARTBEAT_DATA::ID) => MavMessage::HEARTBEAT(self.heartbeat()),
            (CAMERA_COMPONENT, HEARTBEAT_DATA::ID) => MavMessage::HEARTBEAT(HEARTBEAT_DATA {
                custom_mode: 0,
                mavtype: MavType::MAV_TYPE_CAMERA,
                autopilot: MavAutopilot::MAV_AUTOPILOT_INVALID,
                base_mode: MavModeFlag::empty(),
                system_status: MavState::MAV_STATE_ACTIVE,
                mavlink_version: 3,
            }),
            (AUTOPILOT_COMPONENT, GLOBAL_POSITION_INT_DATA::ID) => {
                MavMessage::GLOBAL_POSITION_INT(GLOBAL_POSITION_INT_DATA {
                    time_boot_ms: t_ms,
                    lat: lat_e7,
                    lon: lon_e7,
                    alt: (alt_amsl_m * 1000.0).round() as i32,
                    relative_alt: (k.pos.u * 1000.0).round() as i32,
                    vx: (k.vel.n * 100.0).round() as i16,
                    vy: (k.vel.e * 100.0).round() as i16,
                    vz: (-k.vel.u * 100.0).round() as i16,
                    hdg: (k.yaw_deg * 100.0).round() as u16 % 36000,
                })
            }
            (AUTOPILOT_COMPONENT, ATTITUDE_DATA::ID) => MavMessage::ATTITUDE(ATTITUDE_DATA {
                time_boot_ms: t_ms,
                roll: k.roll_rad() as f32,
                pitch: k.pitch_rad() as f32,
                yaw: crate::drone::physics::wrap_180(k.yaw_deg).to_radians() as f32,
                rollspeed: 0.0,
                pitchspeed: 0.0,
                yawspeed: k.yaw_rate_dps.to_radians() as f32,
            }),
            (AUTOPILOT_COMPONENT, VFR_HUD_DATA::ID) => MavMessage::VFR_HUD(VFR_HUD_DATA {
                airspeed: k.vel.horizontal_len() as f32,
                groundspeed: k.vel.horizontal_len() as f32,
                alt: alt_amsl_m as f32,
                climb: k.vel.u as f32,
                heading: k.yaw_deg.round() as i16 % 360,
                throttle: if ap.flying() { 45 } else { 0 },
            }),
            (AUTOPILOT_COMPONENT, SYS_STATUS_DATA::ID) => MavMessage::SYS_STATUS(self.sys_status()),
            (AUTOPILOT_COMPONENT, BATTERY_STATUS_DATA::ID) => {
                MavMessage::BATTERY_STATUS(self.battery_status())
            }
            (AUTOPILOT_COMPONENT, GPS_RAW_INT_DATA::ID) => MavMessage::GPS_RAW_INT(GPS_RAW_INT_DATA {
                time_usec: u64::from(t_ms) * 1000,
                lat: if ap.gps_fix { lat_e7 } else { 0 },
                lon: if ap.gps_fix { lon_e7 } else { 0 },
                alt: (alt_amsl_m * 1000.0).round() as i32,
                eph: if ap.gps_fix { 70 } else { u16::MAX },
                epv: if ap.gps_fix { 110 } else { u16::MAX },
                vel: (k.vel.horizontal_len() * 100.0).round() as u16,
                cog: (crate::drone::physics::wrap_360(k.vel.e.atan2(k.vel.n).to_degrees()) * 100.0).round() as u16
                    % 36000,
                fix_type: if ap.gps_fix {
                    GpsFixType::GPS_FIX_TYPE_3D_FIX
                } else {
                    GpsFixType::GPS_FIX_TYPE_NO_FIX
                },
                satellites_visible: if ap.gps_fix { 16 } else { 0 },
                ..Default::default()
            }),
            (AUTOPILOT_COMPONENT, HOME_POSITION_DATA::ID) => MavMessage::HOME_POSITION(HOME_POSITION_DATA {
                latitude: (self.config.home_lat_deg * 1e7).round() as i32,
                longitude: (self.config.home_lon_deg * 1e7).round() as i32,
                altitude: (self.config.home_alt_amsl_m * 1000.0).round() as i32,
                q: [1.0, 0.0, 0.0, 0.0],
                time_usec: u64::from(t_ms) * 1000,
                ..Default::default()
            }),
            (AUTOPILOT_COMPONENT, EXTENDED_SYS_STATE_DATA::ID) => {
                MavMessage::EXTENDED_SYS_STATE(EXTENDED_SYS_STATE_DATA {
                    vtol_state: MavVtolState::MAV_VTOL_STATE_UNDEFINED,
                    landed_state: if !ap.armed() || k.on_ground() {
                        MavLandedState::MAV_LANDED_STATE_ON_GROUND
                    } else if k.vel.u > 0.3 && k.pos.u < 5.0 {
                        MavLandedState::MAV_LANDED_STATE_TAKEOFF
                    } else if k.vel.u < -0.3 && k.pos.u < 5.0 {
                        MavLandedState::MAV_LANDED_STATE_LANDING
                    } else {
                        MavLandedState::MAV_LANDED_STATE_IN_AIR
                    },
                })
            }
            (AUTOPILOT_COMPONENT, MISSION_CURRENT_DATA::ID) => self.mission_current(),
            (AUTOPILOT_COMPONENT, AUTOPILOT_VERSION_DATA::ID) => {
                MavMessage::AUTOPILOT_VERSION(AUTOPILOT_VERSION_DATA {
                    capabilities: MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_MISSION_INT
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_COMMAND_INT
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_MAVLINK2
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_COMPONENT_IMPLEMENTS_GIMBAL_MANAGER,
                    uid: u64::from(self.config.system_id),
                    flight_sw_version: FLIGHT_SW_VERSION,
                    ..Default::default()
                })
            }
            (AUTOPILOT_COMPONENT, GIMBAL_DEVICE_ATTITUDE_STATUS_DATA::ID) => {
                let g = &ap.gimbal;
                MavMessage::GIMBAL_DEVICE_ATTITUDE_STATUS(GIMBAL_DEVICE_ATTITUDE_STATUS_DATA {
                    time_boot_ms: t_ms,
                    q: quaternion(0.0, g.pitch_deg.to_radians(), g.yaw_earth_deg.to_radians()),
                    angular_velocity_x: f32::NAN,
                    angular_velocity_y: f32::NAN,
                    angular_velocity_z: f32::NAN,
                    failure_flags: GimbalDeviceErrorFlags::empty(),
                    flags: GimbalDeviceFlags::GIMBAL_DEVICE_FLAGS_ROLL_LOCK
                        | GimbalDeviceFlags::GIMBAL_DEVICE_FLAGS_PITCH_LOCK
                        | GimbalDeviceFlags::GIMBAL_DEVICE_FLAGS_YAW_LOCK
                        | GimbalDeviceFlags::GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME,
                    target_system: 0,
                    target_component: 0,
                    delta_yaw: crate::drone::physics::wrap_180(g.yaw_earth_deg - k.yaw_deg).to_radians() as f32,
                    delta_yaw_velocity: f32::NAN,
                    gimbal_device_id: 1,
                })
            }
            (CAMERA_COMPONENT, CAMERA_INFORMATION_DATA::ID) => {
                let cam = &self.config.camera;
                // A 1/2.3" sensor; focal length from the field of view.
                let sensor_h_mm = 6.17_f64;
                let sensor_v_mm = 4.55_f64;
                let focal_mm = sensor_h_mm / 2.0 / (cam.hfov_deg.to_radians() / 2.0).tan();
                MavMessage::CAMERA_INFORMATION(CAMERA_INFORMATION_DATA {
                    time_boot_ms: t_ms,
                    firmware_version: 1,
                    focal_length: focal_mm as f32,
                    sensor_size_h: sensor_h_mm as f32,
                    sensor_size_v: sensor_v_mm as f32,
                    flags: CameraCapFlags::CAMERA_CAP_FLAGS_CAPTURE_VIDEO
                        | CameraCapFlags::CAMERA_CAP_FLAGS_CAPTURE_IMAGE
                        | CameraCapFlags::CAMERA_CAP_FLAGS_HAS_VIDEO_STREAM,
                    resolution_h: cam.resolution_h,
                    resolution_v: cam.resolution_v,
                    cam_definition_version: 0,
                    vendor_name: fixed_bytes("Vigie"),
                    model_name: fixed_bytes("SimCam"),
                    lens_id: 0,
                    cam_definition_uri: "".into(),
                    gimbal_device_id: 1,
                    camera_device_id: 0,
                })
            }
            (CAMERA_COMPONENT, CAMERA_FOV_STATUS_DATA::ID) => MavMessage::CAMERA_FOV_STATUS(self.fov_status(t_ms)),
            (CAMERA_COMPONENT, VIDEO_STREAM_INFORMATION_DATA::ID) => {
                if !(index == 0 || index == 1) {
                    return None;
                }
                let cam = &self.config.camera;
                MavMessage::VIDEO_STREAM_INFORMATION(VIDEO_STREAM_INFORMATION_DATA {
                    framerate: 30.0,
                    bitrate: 4_000_000,
                    flags: VideoStreamStatusFlags::VIDEO_STREAM_STATUS_FLAGS_RUNNING,
                    resolution_h: cam.resolution_h,
                    resolution_v: cam.resolution_v,
                    rotation: 0,
                    hfov: cam.hfov_deg.round() as u16,
                    stream_id: 1,
                    count: 1,
                    mavtype: VideoStreamType::VIDEO_STREAM_TYPE_RTSP,
                    name: "Simulated camera".into(),
                    uri: cam.stream_uri.as_str().into(),
                    encoding: VideoStreamEncoding::VIDEO_STREAM_ENCODING_H264,
                    camera_device_id: 0,
                })
            }
            (_, MESSAGE_INTERVAL_DATA::ID) => {
                let asked = u32::try_from(index).ok()?;
                let comp = self.stream_component(component, asked);
                let s = self.streams.iter().find(|s| s.component_id == comp && s.msgid == asked);
                MavMessage::MESSAGE_INTERVAL(MESSAGE_INTERVAL_DATA {
                    interval_us: match s {
                        None => 0,
                        Some(s) => s.interval.map_or(-1, |i| i.as_micros() as i32),
                    },
                    message_id: asked as u16,
                })
            }
            _ => return None,
        };
        Some(Outgoing {
            component_id: component,
            message,
        })
    }

    pub(super) fn heartbeat(&self) -> HEARTBEAT_DATA {
        let ap = &self.ap;
        let mut base = MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
            | MavModeFlag::MAV_MODE_FLAG_STABILIZE_ENABLED
            | MavModeFlag::MAV_MODE_FLAG_MANUAL_INPUT_ENABLED;
        if ap.mode() != FlightMode::Stabilize {
            base |= MavModeFlag::MAV_MODE_FLAG_GUIDED_ENABLED;
        }
        if ap.armed() {
            base |= MavModeFlag::MAV_MODE_FLAG_SAFETY_ARMED;
        }
        let critical = ap.armed()
            && (ap.battery.remaining_pct() <= ap.config.battery_reserve_pct
                || ap
                    .fence
                    .check(ap.kin.pos.e, ap.kin.pos.n, ap.kin.pos.u)
                    .is_some());
        HEARTBEAT_DATA {
            custom_mode: ap.mode().custom_mode(),
            mavtype: MavType::MAV_TYPE_QUADROTOR,
            autopilot: MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA,
            base_mode: base,
            system_status: if critical {
                MavState::MAV_STATE_CRITICAL
            } else if ap.armed() {
                MavState::MAV_STATE_ACTIVE
            } else {
                MavState::MAV_STATE_STANDBY
            },
            mavlink_version: 3,
        }
    }

    pub(super) fn sys_status(&self) -> SYS_STATUS_DATA {
        use MavSysStatusSensor as S;
        let ap = &self.ap;
        let mut present = S::MAV_SYS_STATUS_SENSOR_3D_GYRO
            | S::MAV_SYS_STATUS_SENSOR_3D_ACCEL
            | S::MAV_SYS_STATUS_SENSOR_3D_MAG
            | S::MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
            | S::MAV_SYS_STATUS_SENSOR_GPS
            | S::MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
            | S::MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION
            | S::MAV_SYS_STATUS_SENSOR_YAW_POSITION
            | S::MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
            | S::MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
            | S::MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
            | S::MAV_SYS_STATUS_AHRS
            | S::MAV_SYS_STATUS_SENSOR_BATTERY
            | S::MAV_SYS_STATUS_PREARM_CHECK;
        if !ap.fence.zones.is_empty() {
            present |= S::MAV_SYS_STATUS_GEOFENCE;
        }
        let mut enabled = present;
        if !ap.fence.enabled {
            enabled.remove(S::MAV_SYS_STATUS_GEOFENCE);
        }
        let mut health = present;
        if !ap.gps_fix {
            health.remove(S::MAV_SYS_STATUS_SENSOR_GPS | S::MAV_SYS_STATUS_PREARM_CHECK);
        }
        if ap
            .fence
            .check(ap.kin.pos.e, ap.kin.pos.n, ap.kin.pos.u)
            .is_some()
        {
            health.remove(S::MAV_SYS_STATUS_GEOFENCE);
        }
        if ap.battery.remaining_pct() <= ap.config.battery_reserve_pct {
            health.remove(S::MAV_SYS_STATUS_SENSOR_BATTERY | S::MAV_SYS_STATUS_PREARM_CHECK);
        }
        SYS_STATUS_DATA {
            onboard_control_sensors_present: present,
            onboard_control_sensors_enabled: enabled,
            onboard_control_sensors_health: health,
            load: 200,
            voltage_battery: (ap.battery.voltage_v() * 1000.0).round() as u16,
            current_battery: (ap.battery.current_a * 100.0).round() as i16,
            battery_remaining: ap.battery.remaining_pct().round() as i8,
            ..Default::default()
        }
    }

    pub(super) fn battery_status(&self) -> BATTERY_STATUS_DATA {
        let ap = &self.ap;
        let b = &ap.battery;
        let cells = usize::from(b.config.cells).min(10);
        let cell_mv = (b.voltage_v() / b.config.cells.max(1) as f64 * 1000.0).round() as u16;
        let mut voltages = [u16::MAX; 10];
        for v in voltages.iter_mut().take(cells) {
            *v = cell_mv;
        }
        let pct = b.remaining_pct();
        BATTERY_STATUS_DATA {
            current_consumed: b.consumed_mah.round() as i32,
            energy_consumed: -1,
            temperature: i16::MAX,
            voltages,
            current_battery: (b.current_a * 100.0).round() as i16,
            id: 0,
            battery_function: MavBatteryFunction::MAV_BATTERY_FUNCTION_ALL,
            mavtype: MavBatteryType::MAV_BATTERY_TYPE_LIPO,
            battery_remaining: pct.round() as i8,
            time_remaining: b.time_remaining_s().round() as i32,
            charge_state: if pct <= ap.config.battery_critical_pct {
                MavBatteryChargeState::MAV_BATTERY_CHARGE_STATE_CRITICAL
            } else if pct <= ap.config.battery_reserve_pct {
                MavBatteryChargeState::MAV_BATTERY_CHARGE_STATE_LOW
            } else {
                MavBatteryChargeState::MAV_BATTERY_CHARGE_STATE_OK
            },
            voltages_ext: [0; 4],
            mode: MavBatteryMode::MAV_BATTERY_MODE_UNKNOWN,
            fault_bitmask: MavBatteryFault::empty(),
        }
    }

    /// CAMERA_FOV_STATUS: where the camera is, where its optical axis meets
    /// the ground (flat at home altitude), its attitude and field of view.
    pub(super) fn fov_status(&self, t_ms: u32) -> CAMERA_FOV_STATUS_DATA {
        let k = &self.ap.kin;
        let g = &self.ap.gimbal;
        let cam = &self.config.camera;
        let (lat, lon) = self.frame.to_wgs84(k.pos.e, k.pos.n);
        let alt_cam_mm = ((self.config.home_alt_amsl_m + k.pos.u) * 1000.0).round() as i32;
        let down = -g.pitch_deg;
        let (lat_image, lon_image, alt_image) = if down > 0.5 && k.pos.u > 0.0 {
            let dist = k.pos.u / down.to_radians().tan();
            let (s, c) = g.yaw_earth_deg.to_radians().sin_cos();
            let (ilat, ilon) = self.frame.to_wgs84(k.pos.e + dist * s, k.pos.n + dist * c);
            (
                (ilat * 1e7).round() as i32,
                (ilon * 1e7).round() as i32,
                (self.config.home_alt_amsl_m * 1000.0).round() as i32,
            )
        } else {
            // Looking at or above the horizon: no intersection.
            (i32::MAX, i32::MAX, i32::MAX)
        };
        CAMERA_FOV_STATUS_DATA {
            time_boot_ms: t_ms,
            lat_camera: (lat * 1e7).round() as i32,
            lon_camera: (lon * 1e7).round() as i32,
            alt_camera: alt_cam_mm,
            lat_image,
            lon_image,
            alt_image,
            q: quaternion(0.0, g.pitch_deg.to_radians(), g.yaw_earth_deg.to_radians()),
            hfov: cam.hfov_deg as f32,
            vfov: cam.vfov_deg as f32,
            ..Default::default()
        }
    }
}

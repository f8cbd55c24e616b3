//! Flight mode names: HEARTBEAT `custom_mode` numbers to names and back,
//! per autopilot family (ArduPilot copter/plane, PX4).

use mavlink::dialects::ardupilotmega::{MavAutopilot, MavType};

/// ArduCopter's custom modes.
const ARDUCOPTER: &[(u32, &str)] = &[
    (0, "STABILIZE"),
    (1, "ACRO"),
    (2, "ALT_HOLD"),
    (3, "AUTO"),
    (4, "GUIDED"),
    (5, "LOITER"),
    (6, "RTL"),
    (7, "CIRCLE"),
    (9, "LAND"),
    (11, "DRIFT"),
    (13, "SPORT"),
    (16, "POSHOLD"),
    (17, "BRAKE"),
    (18, "THROW"),
    (21, "SMART_RTL"),
];

/// ArduPlane's custom modes.
const ARDUPLANE: &[(u32, &str)] = &[
    (0, "MANUAL"),
    (1, "CIRCLE"),
    (2, "STABILIZE"),
    (5, "FBWA"),
    (6, "FBWB"),
    (7, "CRUISE"),
    (10, "AUTO"),
    (11, "RTL"),
    (12, "LOITER"),
    (15, "GUIDED"),
    (17, "QSTABILIZE"),
    (19, "QLOITER"),
    (20, "QLAND"),
    (21, "QRTL"),
];

/// PX4 modes: (main mode, sub mode) packed as `main << 16 | sub << 24`.
const PX4: &[(u32, &str)] = &[
    (1 << 16, "MANUAL"),
    (2 << 16, "ALTCTL"),
    (3 << 16, "POSCTL"),
    (4 << 16 | 2 << 24, "TAKEOFF"),
    (4 << 16 | 3 << 24, "LOITER"),
    (4 << 16 | 4 << 24, "MISSION"),
    (4 << 16 | 5 << 24, "RTL"),
    (4 << 16 | 6 << 24, "LAND"),
    (4 << 16 | 8 << 24, "FOLLOW_ME"),
    (4 << 16 | 9 << 24, "PRECLAND"),
    (5 << 16, "ACRO"),
    (6 << 16, "OFFBOARD"),
    (7 << 16, "STABILIZED"),
];

/// The mode table for a vehicle, if Vigie knows its family.
fn table(autopilot: MavAutopilot, mav_type: MavType) -> Option<&'static [(u32, &'static str)]> {
    match autopilot {
        MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA => Some(match mav_type {
            MavType::MAV_TYPE_FIXED_WING => ARDUPLANE,
            _ => ARDUCOPTER,
        }),
        MavAutopilot::MAV_AUTOPILOT_PX4 => Some(PX4),
        _ => None,
    }
}

/// The name of a custom mode (`CUSTOM(n)` when unknown).
pub fn name(autopilot: MavAutopilot, mav_type: MavType, custom_mode: u32) -> String {
    table(autopilot, mav_type)
        .and_then(|t| t.iter().find(|(n, _)| *n == custom_mode))
        .map_or_else(
            || format!("CUSTOM({custom_mode})"),
            |(_, s)| (*s).to_string(),
        )
}

/// The custom mode number of a mode name, accepting the generic names
/// `GUIDED`, `AUTO`, `RTL`, `LAND`, `LOITER` for every family.
pub fn number(autopilot: MavAutopilot, mav_type: MavType, mode: &str) -> Option<u32> {
    let mode = mode.trim().to_ascii_uppercase();
    let t = table(autopilot, mav_type)?;
    let alias = match (autopilot, mode.as_str()) {
        (MavAutopilot::MAV_AUTOPILOT_PX4, "GUIDED") => "OFFBOARD",
        (MavAutopilot::MAV_AUTOPILOT_PX4, "AUTO") => "MISSION",
        (_, m) => m,
    };
    t.iter().find(|(_, s)| *s == alias).map(|(n, _)| *n)
}

/// DO_SET_MODE's param2 and param3 for custom mode `custom_mode`: PX4
/// reads its main mode in param2 and its sub mode in param3 (the custom
/// mode packs them as `main << 16 | sub << 24`); ArduPilot and others read
/// the whole mode number in param2.
pub fn set_mode_params(autopilot: MavAutopilot, custom_mode: u32) -> (f32, f32) {
    match autopilot {
        MavAutopilot::MAV_AUTOPILOT_PX4 => (
            ((custom_mode >> 16) & 0xFF) as f32,
            ((custom_mode >> 24) & 0xFF) as f32,
        ),
        _ => (custom_mode as f32, 0.0),
    }
}

/// The family name shown to operators.
pub fn family(autopilot: MavAutopilot) -> &'static str {
    match autopilot {
        MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA => "ardupilot",
        MavAutopilot::MAV_AUTOPILOT_PX4 => "px4",
        _ => "generic",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        let ap = MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA;
        let quad = MavType::MAV_TYPE_QUADROTOR;
        assert_eq!(name(ap, quad, 4), "GUIDED");
        assert_eq!(number(ap, quad, "rtl"), Some(6));
        assert_eq!(name(ap, quad, 99), "CUSTOM(99)");
        let px4 = MavAutopilot::MAV_AUTOPILOT_PX4;
        let n = number(px4, quad, "AUTO").unwrap();
        assert_eq!(name(px4, quad, n), "MISSION");
        assert_eq!(
            number(MavAutopilot::MAV_AUTOPILOT_GENERIC, quad, "GUIDED"),
            None
        );
    }
}

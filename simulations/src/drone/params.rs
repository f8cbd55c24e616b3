//! The parameter protocol of the simulated autopilot: PARAM_REQUEST_LIST,
//! PARAM_REQUEST_READ and PARAM_SET, each answered with PARAM_VALUE, over a
//! handful of ArduCopter parameters bound to the live autopilot (setting
//! `WPNAV_SPEED` changes how fast it flies). QGroundControl will not finish
//! connecting to a vehicle without this.
//!
//! As ArduPilot does, values travel as plain floats whatever their type
//! (the "C cast" encoding), in the parameter's own units (ArduCopter's:
//! centimetres for `RTL_ALT`, cm/s for `WPNAV_SPEED`, ...). A set outside
//! the parameter's range, or of a read-only parameter, leaves it unchanged
//! and answers with the unchanged value, which is how a ground station sees
//! the refusal.

use mavlink::dialects::ardupilotmega::{
    MavMessage, MavParamType, PARAM_REQUEST_READ_DATA, PARAM_SET_DATA, PARAM_VALUE_DATA,
};

use super::autopilot::Autopilot;

/// One parameter: name, type, range and where it lives in the autopilot.
pub struct Param {
    /// ArduCopter name (at most 16 characters).
    pub name: &'static str,
    /// Type announced in PARAM_VALUE.
    pub kind: MavParamType,
    /// Smallest accepted value, in the parameter's units.
    pub min: f32,
    /// Largest accepted value, in the parameter's units.
    pub max: f32,
    /// Reads the current value, in the parameter's units.
    pub get: fn(&Autopilot) -> f32,
    /// Writes a value already checked against the range; `None` when the
    /// parameter is read-only.
    pub set: Option<fn(&mut Autopilot, f32)>,
}

use MavParamType::{MAV_PARAM_TYPE_INT8 as INT8, MAV_PARAM_TYPE_INT16 as INT16};
use MavParamType::{MAV_PARAM_TYPE_INT32 as INT32, MAV_PARAM_TYPE_REAL32 as REAL32};

/// The parameters the simulated autopilot knows, in index order.
pub const PARAMS: &[Param] = &[
    Param {
        name: "FENCE_ENABLE",
        kind: INT8,
        min: 0.0,
        max: 1.0,
        get: |ap| f32::from(u8::from(ap.fence.enabled)),
        set: Some(|ap, v| ap.fence.enabled = v >= 0.5),
    },
    Param {
        name: "FENCE_ALT_MAX",
        kind: REAL32,
        min: 10.0,
        max: 1000.0,
        get: |ap| ap.fence.alt_max_m.unwrap_or(ap.config.fence_alt_max_m) as f32,
        set: Some(|ap, v| {
            ap.config.fence_alt_max_m = f64::from(v);
            ap.fence.alt_max_m = Some(f64::from(v));
        }),
    },
    Param {
        name: "RTL_ALT",
        kind: INT32,
        min: 200.0,
        max: 300_000.0,
        get: |ap| (ap.config.rtl_alt_m * 100.0).round() as f32,
        set: Some(|ap, v| ap.config.rtl_alt_m = f64::from(v.round()) / 100.0),
    },
    Param {
        name: "RTL_LOIT_TIME",
        kind: INT32,
        min: 0.0,
        max: 60_000.0,
        get: |ap| (ap.config.rtl_loiter_s * 1000.0).round() as f32,
        set: Some(|ap, v| ap.config.rtl_loiter_s = f64::from(v.round()) / 1000.0),
    },
    Param {
        name: "WPNAV_SPEED",
        kind: REAL32,
        min: 20.0,
        max: 2000.0,
        get: |ap| (ap.config.limits.speed_h_mps * 100.0) as f32,
        set: Some(|ap, v| ap.config.limits.speed_h_mps = f64::from(v) / 100.0),
    },
    Param {
        name: "WPNAV_SPEED_UP",
        kind: REAL32,
        min: 10.0,
        max: 1000.0,
        get: |ap| (ap.config.limits.climb_mps * 100.0) as f32,
        set: Some(|ap, v| ap.config.limits.climb_mps = f64::from(v) / 100.0),
    },
    Param {
        name: "WPNAV_SPEED_DN",
        kind: REAL32,
        min: 10.0,
        max: 500.0,
        get: |ap| (ap.config.limits.descent_mps * 100.0) as f32,
        set: Some(|ap, v| ap.config.limits.descent_mps = f64::from(v) / 100.0),
    },
    Param {
        name: "WPNAV_RADIUS",
        kind: REAL32,
        min: 5.0,
        max: 1000.0,
        get: |ap| (ap.config.wp_radius_m * 100.0) as f32,
        set: Some(|ap, v| ap.config.wp_radius_m = f64::from(v) / 100.0),
    },
    Param {
        name: "LAND_SPEED",
        kind: INT16,
        min: 30.0,
        max: 200.0,
        get: |ap| (ap.config.limits.land_speed_mps * 100.0).round() as f32,
        set: Some(|ap, v| ap.config.limits.land_speed_mps = f64::from(v.round()) / 100.0),
    },
    Param {
        name: "DISARM_DELAY",
        kind: INT8,
        min: 0.0,
        max: 127.0,
        get: |ap| ap.config.disarm_delay_s.round() as f32,
        set: Some(|ap, v| ap.config.disarm_delay_s = f64::from(v.round())),
    },
    // The simulated frame is a quad; changing it needs a reboot on a real
    // autopilot, so here it is read-only.
    Param {
        name: "FRAME_CLASS",
        kind: INT8,
        min: 1.0,
        max: 1.0,
        get: |_| 1.0,
        set: None,
    },
];

/// A PARAM_VALUE for the parameter at `index` (PARAM_VALUE has no target:
/// every ground station on the link sees it).
fn value(ap: &Autopilot, index: usize) -> Option<MavMessage> {
    let p = PARAMS.get(index)?;
    Some(MavMessage::PARAM_VALUE(PARAM_VALUE_DATA {
        param_value: (p.get)(ap),
        param_count: PARAMS.len() as u16,
        param_index: index as u16,
        param_id: p.name.into(),
        param_type: p.kind,
    }))
}

/// The index of a parameter by name (PARAM ids are NUL-padded).
fn index_of(id: &[u8]) -> Option<usize> {
    let end = id.iter().position(|&b| b == 0).unwrap_or(id.len());
    let name = std::str::from_utf8(&id[..end]).ok()?;
    PARAMS.iter().position(|p| p.name == name)
}

/// PARAM_REQUEST_LIST: every parameter, in index order.
pub fn list(ap: &Autopilot) -> Vec<MavMessage> {
    (0..PARAMS.len()).filter_map(|i| value(ap, i)).collect()
}

/// PARAM_REQUEST_READ: by index when `param_index >= 0`, else by name.
/// Unknown parameters get no answer, as on ArduPilot.
pub fn read(ap: &Autopilot, req: &PARAM_REQUEST_READ_DATA) -> Option<MavMessage> {
    let index = if req.param_index >= 0 {
        req.param_index as usize
    } else {
        index_of(&req.param_id[..])?
    };
    value(ap, index)
}

/// PARAM_SET: applies the value when it is in range and the parameter is
/// writable, and answers with the value now in force either way. Unknown
/// parameters get no answer.
pub fn set(ap: &mut Autopilot, req: &PARAM_SET_DATA) -> Option<MavMessage> {
    let index = index_of(&req.param_id[..])?;
    let p = &PARAMS[index];
    let v = req.param_value;
    if let Some(write) = p.set
        && v.is_finite()
        && (p.min..=p.max).contains(&v)
    {
        write(ap, v);
    }
    value(ap, index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drone::autopilot::AutopilotConfig;

    fn values(msgs: &[MavMessage]) -> Vec<(String, f32, u16, u16)> {
        msgs.iter()
            .filter_map(|m| match m {
                MavMessage::PARAM_VALUE(v) => Some((
                    v.param_id.to_str().unwrap_or("").to_string(),
                    v.param_value,
                    v.param_index,
                    v.param_count,
                )),
                _ => None,
            })
            .collect()
    }

    fn set_req(name: &str, value: f32) -> PARAM_SET_DATA {
        PARAM_SET_DATA {
            param_value: value,
            target_system: 1,
            target_component: 1,
            param_id: name.into(),
            param_type: REAL32,
        }
    }

    #[test]
    fn names_fit_the_protocol_and_are_unique() {
        for (i, p) in PARAMS.iter().enumerate() {
            assert!(p.name.len() <= 16, "{}", p.name);
            assert_eq!(index_of(p.name.as_bytes()), Some(i));
        }
    }

    #[test]
    fn the_list_holds_every_parameter_with_its_index_and_count() {
        let ap = Autopilot::new(AutopilotConfig::default());
        let v = values(&list(&ap));
        assert_eq!(v.len(), PARAMS.len());
        for (i, (name, _, index, count)) in v.iter().enumerate() {
            assert_eq!(name, PARAMS[i].name);
            assert_eq!(*index as usize, i);
            assert_eq!(*count as usize, PARAMS.len());
        }
        // ArduCopter units: RTL_ALT in centimetres, WPNAV_SPEED in cm/s.
        let rtl = v.iter().find(|p| p.0 == "RTL_ALT").map(|p| p.1);
        assert_eq!(rtl, Some(1500.0));
        let speed = v.iter().find(|p| p.0 == "WPNAV_SPEED").map(|p| p.1);
        assert_eq!(speed, Some(1000.0));
    }

    #[test]
    fn read_by_name_and_by_index_agree_and_unknown_names_are_ignored() {
        let ap = Autopilot::new(AutopilotConfig::default());
        let by_name = read(
            &ap,
            &PARAM_REQUEST_READ_DATA {
                param_index: -1,
                target_system: 1,
                target_component: 1,
                param_id: "FENCE_ENABLE".into(),
            },
        );
        let i = index_of(b"FENCE_ENABLE").unwrap();
        let by_index = read(
            &ap,
            &PARAM_REQUEST_READ_DATA {
                param_index: i as i16,
                target_system: 1,
                target_component: 1,
                param_id: "".into(),
            },
        );
        assert!(by_name.is_some());
        assert_eq!(by_name, by_index);
        let unknown = PARAM_REQUEST_READ_DATA {
            param_index: -1,
            target_system: 1,
            target_component: 1,
            param_id: "NO_SUCH_PARAM".into(),
        };
        assert_eq!(read(&ap, &unknown), None);
    }

    #[test]
    fn a_set_changes_the_autopilot_and_a_refused_set_answers_the_old_value() {
        let mut ap = Autopilot::new(AutopilotConfig::default());
        let v = values(&[set(&mut ap, &set_req("RTL_ALT", 3000.0)).unwrap()]);
        assert_eq!(v[0].1, 3000.0);
        assert_eq!(ap.config.rtl_alt_m, 30.0);

        set(&mut ap, &set_req("WPNAV_SPEED", 500.0));
        assert_eq!(ap.config.limits.speed_h_mps, 5.0);
        set(&mut ap, &set_req("FENCE_ENABLE", 1.0));
        assert!(ap.fence.enabled);

        // Out of range, not a number, read-only: unchanged, old value sent.
        for (name, bad) in [
            ("WPNAV_SPEED", 5000.0),
            ("WPNAV_SPEED", f32::NAN),
            ("FRAME_CLASS", 2.0),
        ] {
            let before = values(&list(&ap));
            let answer = values(&[set(&mut ap, &set_req(name, bad)).unwrap()]);
            let old = before.iter().find(|p| p.0 == name).map(|p| p.1);
            assert_eq!(Some(answer[0].1), old, "{name} = {bad}");
        }
        assert_eq!(ap.config.limits.speed_h_mps, 5.0);
        assert_eq!(set(&mut ap, &set_req("NO_SUCH_PARAM", 1.0)), None);
    }
}

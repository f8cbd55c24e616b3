//! One altitude policy for every command and mission item that sets a
//! flight altitude: between [`ALTITUDE_FLOOR_M`] and the open-category
//! ceiling [`ALTITUDE_CEILING_M`] above the home (launch) point. The link
//! core applies it to take-off, go-to, orbit and every mission item before
//! anything is sent, so no path (HTTP, dispatch, a mission file) can ask a
//! vehicle to climb above the ceiling.

use vigie_protocols::api::{DroneCommand, MissionItem};

/// Highest altitude above home any command or mission item may ask for,
/// metres (the EU open-category ceiling).
pub const ALTITUDE_CEILING_M: f64 = 120.0;
/// Lowest altitude above home a flight target may ask for, metres (to go
/// lower, land).
pub const ALTITUDE_FLOOR_M: f64 = 1.0;

/// MAV_FRAME numbers whose z is metres above home (or above terrain).
const RELATIVE_FRAMES: &[u8] = &[3, 6, 10, 11];
/// MAV_FRAME numbers whose z is metres above mean sea level.
const MSL_FRAMES: &[u8] = &[0, 5];
/// NAV commands (MAV_CMD 16..=95) whose z is not a flight altitude: RTL,
/// LAND, VTOL_LAND, and the mission-control NAV commands without position.
const NAV_WITHOUT_ALTITUDE: &[u16] = &[20, 21, 85, 93, 94, 95];

fn within(what: &str, alt_m: f64) -> Result<(), String> {
    if !alt_m.is_finite() {
        return Err(format!(
            "{what}: the altitude must be a finite number of metres"
        ));
    }
    if (ALTITUDE_FLOOR_M..=ALTITUDE_CEILING_M).contains(&alt_m) {
        Ok(())
    } else {
        Err(format!(
            "{what}: altitude {alt_m} m above home is outside {ALTITUDE_FLOOR_M}..{ALTITUDE_CEILING_M} m (the open-category ceiling is 120 m)"
        ))
    }
}

/// Checks every altitude `cmd` asks for; `home_alt_msl_m` (the vehicle's
/// home, metres above mean sea level, when known) converts raw mission
/// items given above sea level. The error says which item and why.
pub fn check(cmd: &DroneCommand, home_alt_msl_m: Option<f64>) -> Result<(), String> {
    match cmd {
        DroneCommand::Takeoff { alt_m } => within("take-off", *alt_m),
        DroneCommand::Goto { alt_m, .. } => within("go-to", *alt_m),
        DroneCommand::Orbit { alt_m, .. } => within("orbit", *alt_m),
        DroneCommand::Mission { items } => {
            for (i, item) in items.iter().enumerate() {
                let what = format!("mission item {i}");
                match *item {
                    MissionItem::Takeoff { alt_m }
                    | MissionItem::Waypoint { alt_m, .. }
                    | MissionItem::Loiter { alt_m, .. } => within(&what, alt_m)?,
                    MissionItem::Raw {
                        command, frame, z, ..
                    } if (16..=95).contains(&command)
                        && !NAV_WITHOUT_ALTITUDE.contains(&command) =>
                    {
                        let z = f64::from(z);
                        if RELATIVE_FRAMES.contains(&frame) {
                            within(&what, z)?;
                        } else if MSL_FRAMES.contains(&frame) {
                            let home = home_alt_msl_m.ok_or_else(|| {
                                format!("{what}: its altitude is above sea level (MAV_FRAME {frame}) and the vehicle's home is not known yet, so it cannot be checked against the {ALTITUDE_CEILING_M} m ceiling; use frame 3 (relative to home)")
                            })?;
                            within(&what, z - home)?;
                        } else {
                            return Err(format!(
                                "{what}: MAV_FRAME {frame} is not a global frame whose altitude can be checked against the {ALTITUDE_CEILING_M} m ceiling; use frame 3 (relative to home)"
                            ));
                        }
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

//! Simulated multicopters that speak MAVLink like ArduCopter.
//!
//! - [`physics`]: kinematics and battery, pure `step(dt)`.
//! - [`fence`]: geofence zones.
//! - [`autopilot`]: modes, arming, guided commands, missions, failsafes, gimbal.
pub mod autopilot;
pub mod fence;
pub mod physics;

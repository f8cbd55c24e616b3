//! Multicopter kinematics and battery, as pure `step(dt)` logic.
//!
//! The model is a point mass with a yaw, driven by a setpoint the autopilot
//! chooses (a position to reach, a velocity to hold, a descent to land). It
//! reproduces what a ground station sees from ArduCopter's position
//! controller: speed, climb and descent limits, a braking distance from the
//! acceleration limit, and tilt angles that follow the acceleration. It does
//! not model rotor dynamics, wind or drag: ground software never sees them.

/// Standard gravity, m/s².
pub const GRAVITY_MPS2: f64 = 9.80665;

/// A vector in the local frame: east, north, up (metres, or metres per
/// second for a velocity). Up is relative to home.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Enu {
    /// East component.
    pub e: f64,
    /// North component.
    pub n: f64,
    /// Up component.
    pub u: f64,
}

impl Enu {
    /// A vector from its components.
    pub const fn new(e: f64, n: f64, u: f64) -> Enu {
        Enu { e, n, u }
    }

    /// Horizontal length.
    pub fn horizontal_len(&self) -> f64 {
        self.e.hypot(self.n)
    }

    /// Horizontal distance to `other`, metres.
    pub fn horizontal_dist(&self, other: &Enu) -> f64 {
        (other.e - self.e).hypot(other.n - self.n)
    }

    /// Three-dimensional distance to `other`, metres.
    pub fn dist(&self, other: &Enu) -> f64 {
        (self.horizontal_dist(other)).hypot(other.u - self.u)
    }
}

/// Flight envelope, with ArduCopter's default parameter values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Horizontal cruise speed (WPNAV_SPEED), m/s.
    pub speed_h_mps: f64,
    /// Climb rate (WPNAV_SPEED_UP), m/s.
    pub climb_mps: f64,
    /// Descent rate (WPNAV_SPEED_DN), m/s.
    pub descent_mps: f64,
    /// Horizontal acceleration (WPNAV_ACCEL), m/s².
    pub accel_h_mps2: f64,
    /// Vertical acceleration (WPNAV_ACCEL_Z), m/s².
    pub accel_v_mps2: f64,
    /// Final landing descent rate (LAND_SPEED), m/s.
    pub land_speed_mps: f64,
    /// Height below which landing slows to `land_speed_mps` (LAND_ALT_LOW), m.
    pub land_alt_low_m: f64,
    /// Yaw rate, degrees per second.
    pub yaw_rate_dps: f64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            speed_h_mps: 10.0,
            climb_mps: 2.5,
            descent_mps: 1.5,
            accel_h_mps2: 2.5,
            accel_v_mps2: 1.0,
            land_speed_mps: 0.5,
            land_alt_low_m: 10.0,
            yaw_rate_dps: 90.0,
        }
    }
}

/// What the position controller should do during one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Setpoint {
    /// Motors off or idling on the ground: stay put.
    Ground,
    /// Fly to a point, horizontal speed capped at `speed_h_mps`.
    Position {
        /// Where to go.
        target: Enu,
        /// Horizontal speed cap, m/s.
        speed_h_mps: f64,
    },
    /// Hold a velocity (capped by the limits).
    Velocity {
        /// The velocity, m/s.
        velocity: Enu,
    },
    /// Hold the horizontal position `over` and descend to the ground.
    Land {
        /// Where to touch down (only `e` and `n` are used).
        over: Enu,
    },
}

/// The state of the airframe.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Kinematics {
    /// Position relative to home, metres.
    pub pos: Enu,
    /// Velocity, m/s.
    pub vel: Enu,
    /// Acceleration during the last step, m/s².
    pub accel: Enu,
    /// Heading, degrees clockwise from north in [0, 360).
    pub yaw_deg: f64,
    /// Yaw rate during the last step, degrees per second.
    pub yaw_rate_dps: f64,
}

/// Distance gain of the position controllers near the target, 1/s: inside
/// the braking distance, the commanded speed falls off linearly with
/// distance so the approach converges without overshoot.
const POS_GAIN_PER_S: f64 = 1.0;

impl Kinematics {
    /// True when resting on the ground (at or below home height, not rising).
    pub fn on_ground(&self) -> bool {
        self.pos.u <= 0.01 && self.vel.u <= 0.0
    }

    /// Roll angle from the horizontal acceleration, radians (right wing down
    /// positive).
    pub fn roll_rad(&self) -> f64 {
        let (s, c) = self.yaw_deg.to_radians().sin_cos();
        // Right-pointing axis for heading h (clockwise from north): (cos h, -sin h) in (e, n).
        let a_right = self.accel.e * c - self.accel.n * s;
        (a_right / GRAVITY_MPS2).atan()
    }

    /// Pitch angle from the horizontal acceleration, radians (nose up
    /// positive: accelerating forwards pitches the nose down).
    pub fn pitch_rad(&self) -> f64 {
        let (s, c) = self.yaw_deg.to_radians().sin_cos();
        let a_fwd = self.accel.e * s + self.accel.n * c;
        -(a_fwd / GRAVITY_MPS2).atan()
    }

    /// Advances the airframe by `dt_s` seconds towards `setpoint`, turning
    /// towards `yaw_target_deg` when given (else towards the direction of
    /// travel above 2 m/s).
    pub fn step(
        &mut self,
        dt_s: f64,
        setpoint: &Setpoint,
        yaw_target_deg: Option<f64>,
        lim: &Limits,
    ) {
        let old_vel = self.vel;
        let desired = match *setpoint {
            Setpoint::Ground => Enu::default(),
            Setpoint::Position {
                target,
                speed_h_mps,
            } => Enu {
                e: 0.0,
                n: 0.0,
                u: approach_speed(
                    target.u - self.pos.u,
                    lim.climb_mps,
                    lim.descent_mps,
                    lim.accel_v_mps2,
                ),
            }
            .with_horizontal(horizontal_approach(
                &self.pos,
                &target,
                speed_h_mps.min(lim.speed_h_mps),
                lim.accel_h_mps2,
            )),
            Setpoint::Velocity { velocity } => {
                let h = velocity.horizontal_len();
                let scale = if h > lim.speed_h_mps {
                    lim.speed_h_mps / h
                } else {
                    1.0
                };
                Enu::new(
                    velocity.e * scale,
                    velocity.n * scale,
                    velocity.u.clamp(-lim.descent_mps, lim.climb_mps),
                )
            }
            Setpoint::Land { over } => {
                let rate = if self.pos.u > lim.land_alt_low_m {
                    lim.descent_mps
                } else {
                    lim.land_speed_mps
                };
                Enu {
                    e: 0.0,
                    n: 0.0,
                    u: -rate,
                }
                .with_horizontal(horizontal_approach(
                    &self.pos,
                    &over,
                    lim.speed_h_mps,
                    lim.accel_h_mps2,
                ))
            }
        };
        // Acceleration limits: horizontal as a vector, vertical on its own.
        let mut dv_e = desired.e - self.vel.e;
        let mut dv_n = desired.n - self.vel.n;
        let dv_h = dv_e.hypot(dv_n);
        let max_dv_h = lim.accel_h_mps2 * dt_s;
        if dv_h > max_dv_h {
            dv_e *= max_dv_h / dv_h;
            dv_n *= max_dv_h / dv_h;
        }
        let max_dv_v = lim.accel_v_mps2 * dt_s;
        let dv_u = (desired.u - self.vel.u).clamp(-max_dv_v, max_dv_v);
        self.vel.e += dv_e;
        self.vel.n += dv_n;
        self.vel.u += dv_u;
        self.pos.e += self.vel.e * dt_s;
        self.pos.n += self.vel.n * dt_s;
        self.pos.u += self.vel.u * dt_s;
        if self.pos.u <= 0.0 {
            // The ground stops the descent (and a landed frame does not slide).
            self.pos.u = 0.0;
            if self.vel.u < 0.0 {
                self.vel = Enu::default();
            }
        }
        if dt_s > 0.0 {
            self.accel = Enu::new(
                (self.vel.e - old_vel.e) / dt_s,
                (self.vel.n - old_vel.n) / dt_s,
                (self.vel.u - old_vel.u) / dt_s,
            );
        }
        let speed_h = self.vel.horizontal_len();
        let yaw_target = yaw_target_deg
            .or_else(|| (speed_h > 2.0).then(|| self.vel.e.atan2(self.vel.n).to_degrees()));
        self.yaw_rate_dps = 0.0;
        if let Some(target) = yaw_target {
            let err = wrap_180(target - self.yaw_deg);
            let max = lim.yaw_rate_dps * dt_s;
            let turn = err.clamp(-max, max);
            self.yaw_deg = wrap_360(self.yaw_deg + turn);
            if dt_s > 0.0 {
                self.yaw_rate_dps = turn / dt_s;
            }
        }
    }
}

impl Enu {
    /// This vector with its horizontal part replaced by `(e, n)`.
    fn with_horizontal(self, (e, n): (f64, f64)) -> Enu {
        Enu { e, n, u: self.u }
    }
}

/// Signed speed to close a gap `delta` (metres) on one axis, respecting
/// the braking distance under `accel` and the rate caps.
fn approach_speed(delta: f64, up_cap: f64, down_cap: f64, accel: f64) -> f64 {
    let d = delta.abs();
    let speed = (2.0 * accel * d).sqrt().min(POS_GAIN_PER_S * d);
    if delta >= 0.0 {
        speed.min(up_cap)
    } else {
        -speed.min(down_cap)
    }
}

/// Horizontal velocity `(e, n)` towards `target`.
fn horizontal_approach(pos: &Enu, target: &Enu, cap: f64, accel: f64) -> (f64, f64) {
    let de = target.e - pos.e;
    let dn = target.n - pos.n;
    let d = de.hypot(dn);
    if d < 1e-6 {
        return (0.0, 0.0);
    }
    let speed = (2.0 * accel * d).sqrt().min(POS_GAIN_PER_S * d).min(cap);
    (de / d * speed, dn / d * speed)
}

/// An angle in degrees wrapped to (-180, 180].
pub fn wrap_180(deg: f64) -> f64 {
    let mut a = deg.rem_euclid(360.0);
    if a > 180.0 {
        a -= 360.0;
    }
    a
}

/// An angle in degrees wrapped to [0, 360).
pub fn wrap_360(deg: f64) -> f64 {
    deg.rem_euclid(360.0)
}

/// Battery parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatteryConfig {
    /// Capacity, mAh.
    pub capacity_mah: f64,
    /// Hover endurance on a full battery, seconds.
    pub endurance_s: f64,
    /// Cells in series.
    pub cells: u8,
}

impl Default for BatteryConfig {
    fn default() -> BatteryConfig {
        BatteryConfig {
            capacity_mah: 5200.0,
            endurance_s: 25.0 * 60.0,
            cells: 4,
        }
    }
}

/// What the motors are doing, for the battery's current draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Disarmed: electronics only.
    Disarmed,
    /// Armed on the ground, props idling.
    Idle,
    /// Flying with this velocity, m/s.
    Flying(Enu),
}

/// A LiPo pack drained by the motors' current.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Battery {
    /// The pack.
    pub config: BatteryConfig,
    /// Charge used so far, mAh.
    pub consumed_mah: f64,
    /// Current during the last step, A.
    pub current_a: f64,
}

impl Battery {
    /// A full battery.
    pub fn new(config: BatteryConfig) -> Battery {
        Battery {
            config,
            consumed_mah: 0.0,
            current_a: 0.0,
        }
    }

    /// Hover current, A: the capacity spread over the endurance.
    pub fn hover_current_a(&self) -> f64 {
        self.config.capacity_mah / 1000.0 / (self.config.endurance_s / 3600.0)
    }

    /// Drains the pack for `dt_s` seconds under `load`.
    pub fn step(&mut self, dt_s: f64, load: Load, limits: &Limits) {
        let hover = self.hover_current_a();
        self.current_a = match load {
            Load::Disarmed => 0.3,
            Load::Idle => 0.15 * hover,
            Load::Flying(v) => {
                let fast = (v.horizontal_len() / limits.speed_h_mps).min(1.5);
                let climb = (v.u.max(0.0) / limits.climb_mps).min(1.5);
                hover * (1.0 + 0.3 * fast * fast + 0.3 * climb)
            }
        };
        self.consumed_mah = (self.consumed_mah + self.current_a * 1000.0 * dt_s / 3600.0)
            .min(self.config.capacity_mah);
    }

    /// Charge left, percent (0 to 100).
    pub fn remaining_pct(&self) -> f64 {
        100.0 * (1.0 - self.consumed_mah / self.config.capacity_mah).clamp(0.0, 1.0)
    }

    /// Pack voltage under the present load, volts: 4.2 V per cell full,
    /// 3.3 V empty, minus a sag of 10 mΩ per pack.
    pub fn voltage_v(&self) -> f64 {
        let rest = self.remaining_pct() / 100.0;
        f64::from(self.config.cells) * (3.3 + 0.9 * rest) - 0.01 * self.current_a
    }

    /// Seconds left at the present current (hover current when idle).
    pub fn time_remaining_s(&self) -> f64 {
        let left_ah = (self.config.capacity_mah - self.consumed_mah) / 1000.0;
        left_ah / self.current_a.max(self.hover_current_a()) * 3600.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fly(k: &mut Kinematics, sp: Setpoint, secs: f64) {
        let lim = Limits::default();
        let steps = (secs / 0.02).round() as usize;
        for _ in 0..steps {
            k.step(0.02, &sp, None, &lim);
        }
    }

    #[test]
    fn position_setpoint_respects_speed_and_accel_and_arrives() {
        let lim = Limits::default();
        let mut k = Kinematics {
            pos: Enu::new(0.0, 0.0, 20.0),
            ..Default::default()
        };
        let target = Enu::new(300.0, 0.0, 20.0);
        let sp = Setpoint::Position {
            target,
            speed_h_mps: 10.0,
        };
        let mut max_speed: f64 = 0.0;
        let mut max_accel: f64 = 0.0;
        for _ in 0..(60 * 50) {
            k.step(0.02, &sp, None, &lim);
            max_speed = max_speed.max(k.vel.horizontal_len());
            max_accel = max_accel.max(k.accel.horizontal_len());
        }
        assert!(k.pos.dist(&target) < 0.5, "{:?}", k.pos);
        assert!(max_speed <= 10.0 + 1e-9 && max_speed > 9.9, "{max_speed}");
        assert!(max_accel <= 2.5 + 1e-6, "{max_accel}");
        // Facing the way it flew (east = 90°).
        assert!((k.yaw_deg - 90.0).abs() < 1.0, "{}", k.yaw_deg);
    }

    #[test]
    fn climb_is_capped_and_the_ground_stops_descent() {
        let mut k = Kinematics::default();
        fly(
            &mut k,
            Setpoint::Position {
                target: Enu::new(0.0, 0.0, 30.0),
                speed_h_mps: 5.0,
            },
            4.0,
        );
        assert!(k.vel.u <= 2.5 + 1e-9);
        fly(
            &mut k,
            Setpoint::Land {
                over: Enu::default(),
            },
            200.0,
        );
        assert!(k.on_ground());
        assert_eq!(k.pos.u, 0.0);
    }

    #[test]
    fn battery_lasts_its_endurance_at_hover() {
        let lim = Limits::default();
        let mut b = Battery::new(BatteryConfig::default());
        for _ in 0..(25 * 60) {
            b.step(1.0, Load::Flying(Enu::default()), &lim);
        }
        assert!(b.remaining_pct() < 0.5, "{}", b.remaining_pct());
        assert!(b.voltage_v() < 13.5);
    }
}

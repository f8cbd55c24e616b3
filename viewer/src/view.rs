//! The viewing camera and the mapping from the local frame to the 3D world.
//!
//! World axes: X east, Y up, Z south (right-handed, Bevy's convention), one
//! unit per metre. [`OrbitView`] is the orbit camera's whole state; the
//! same numbers give the Bevy transform and projection and, through
//! [`OrbitView::world_to_pixel`], where a point lands in a picture, which is
//! how tests know where to look.

use bevy::math::{Mat4, Quat};
/// Re-exported so that users of the projection need not depend on Bevy.
pub use bevy::math::{Vec2, Vec3};

use crate::scene::EastNorth;

/// Vertical field of view of the viewing camera, degrees.
pub const VFOV_DEG: f32 = 45.0;
/// Near clipping distance, metres.
pub const NEAR_M: f32 = 1.0;
/// Smallest and largest pitch of the orbit camera, degrees below the horizon.
pub const PITCH_RANGE_DEG: (f32, f32) = (5.0, 89.5);

/// A local point at a height to a world position.
pub fn world(p: EastNorth, up_m: f64) -> Vec3 {
    Vec3::new(p[0] as f32, up_m as f32, -(p[1] as f32))
}

/// An orbit camera: looks at a target from a heading, pitch and distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrbitView {
    /// Point looked at, world coordinates.
    pub target: Vec3,
    /// Direction the camera looks, degrees clockwise from north.
    pub heading_deg: f32,
    /// Angle below the horizon, degrees (90 = straight down).
    pub pitch_deg: f32,
    /// Distance from the target, metres.
    pub distance_m: f32,
}

impl OrbitView {
    /// The overview of a site of half side `extent_m`: the whole ground in
    /// view, looking north-north-east, steep enough to see streets between
    /// buildings.
    pub fn overview(extent_m: f64) -> OrbitView {
        OrbitView {
            target: Vec3::ZERO,
            heading_deg: 20.0,
            pitch_deg: 55.0,
            distance_m: (extent_m as f32 * 2.2).max(50.0),
        }
    }

    /// Unit vector the camera looks along, world coordinates.
    pub fn forward(&self) -> Vec3 {
        let (h, p) = (
            self.heading_deg.to_radians(),
            self.pitch_deg
                .clamp(PITCH_RANGE_DEG.0, PITCH_RANGE_DEG.1)
                .to_radians(),
        );
        Vec3::new(h.sin() * p.cos(), -p.sin(), -h.cos() * p.cos())
    }

    /// Camera position, world coordinates.
    pub fn eye(&self) -> Vec3 {
        self.target - self.forward() * self.distance_m
    }

    /// Camera orientation (Bevy cameras look along their local -Z, Y up).
    pub fn rotation(&self) -> Quat {
        let f = self.forward();
        let right = f.cross(Vec3::Y).normalize_or(Vec3::X);
        let up = right.cross(f).normalize();
        Quat::from_mat3(&bevy::math::Mat3::from_cols(right, up, -f))
    }

    /// Far distance that keeps the whole site in view, metres.
    pub fn far_m(&self, extent_m: f64) -> f32 {
        self.distance_m + 4.0 * extent_m as f32 + 1000.0
    }

    /// Where a world point lands in a `width` x `height` picture, pixels
    /// from the top-left corner; `None` behind the camera.
    ///
    /// Same projection as the renderer's (vertical field of view
    /// [`VFOV_DEG`], aspect from the picture); depth is not needed.
    pub fn world_to_pixel(&self, point: Vec3, width: u32, height: u32) -> Option<Vec2> {
        let view = Mat4::from_rotation_translation(self.rotation(), self.eye()).inverse();
        let aspect = width as f32 / height.max(1) as f32;
        let proj = Mat4::perspective_infinite_reverse_rh(VFOV_DEG.to_radians(), aspect, NEAR_M);
        let clip = proj * view * point.extend(1.0);
        if clip.w <= 0.0 {
            return None;
        }
        let ndc = clip.truncate() / clip.w;
        Some(Vec2::new(
            (ndc.x + 1.0) / 2.0 * width as f32,
            (1.0 - ndc.y) / 2.0 * height as f32,
        ))
    }

    /// Moves the target by `right_m` to the right and `ahead_m` forward on the
    /// ground, as seen from the camera.
    pub fn pan(&mut self, right_m: f32, ahead_m: f32) {
        let h = self.heading_deg.to_radians();
        let ahead = Vec3::new(h.sin(), 0.0, -h.cos());
        let right = Vec3::new(h.cos(), 0.0, h.sin());
        self.target += right * right_m + ahead * ahead_m;
    }

    /// Turns the camera around the target by degrees of heading and pitch.
    pub fn orbit(&mut self, heading_deg: f32, pitch_deg: f32) {
        self.heading_deg = (self.heading_deg + heading_deg).rem_euclid(360.0);
        self.pitch_deg = (self.pitch_deg + pitch_deg).clamp(PITCH_RANGE_DEG.0, PITCH_RANGE_DEG.1);
    }

    /// Multiplies the distance by `factor`, within 20 m and 50 km.
    pub fn zoom(&mut self, factor: f32) {
        self.distance_m = (self.distance_m * factor).clamp(20.0, 50_000.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_projects_to_the_centre_and_north_is_up_when_looking_north() {
        let v = OrbitView {
            target: Vec3::ZERO,
            heading_deg: 0.0,
            pitch_deg: 60.0,
            distance_m: 500.0,
        };
        let c = v.world_to_pixel(Vec3::ZERO, 320, 180).expect("in front");
        assert!((c.x - 160.0).abs() < 0.01 && (c.y - 90.0).abs() < 0.01);
        let north = v
            .world_to_pixel(world([0.0, 50.0], 0.0), 320, 180)
            .expect("in front");
        assert!(north.y < 90.0 && (north.x - 160.0).abs() < 0.01);
        let east = v
            .world_to_pixel(world([50.0, 0.0], 0.0), 320, 180)
            .expect("in front");
        assert!(east.x > 160.0);
        let behind = v.eye() - v.forward() * 10.0;
        assert!(v.world_to_pixel(behind, 320, 180).is_none());
    }

    #[test]
    fn orbit_keeps_the_target_and_clamps_the_pitch() {
        let mut v = OrbitView::overview(500.0);
        v.orbit(400.0, 100.0);
        assert_eq!(v.pitch_deg, PITCH_RANGE_DEG.1);
        assert!((0.0..360.0).contains(&v.heading_deg));
        let d = (v.eye() - v.target).length();
        assert!((d - v.distance_m).abs() < 0.01);
    }
}

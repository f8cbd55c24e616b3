//! The viewing camera and the mapping from the local frame to the 3D world.
//!
//! World axes: X east, Y up, Z south (right-handed, Bevy's convention), one
//! unit per metre. [`OrbitView`] is the orbit camera's whole state; the
//! same numbers give the Bevy transform and projection and, through
//! [`OrbitView::world_to_pixel`], where a point lands in a picture, which is
//! how tests know where to look.
//!
//! Two modes: the 3D orbit, and a top-down map (orthographic, north up)
//! as operators have on a wall screen. [`OrbitView::fit`] frames a box
//! (the event, or the live picture's extent) in either.

use bevy::math::{Mat4, Quat};
/// Re-exported so that users of the projection need not depend on Bevy.
pub use bevy::math::{Vec2, Vec3};

use crate::scene::EastNorth;

/// Vertical field of view of the viewing camera, degrees.
pub const VFOV_DEG: f32 = 45.0;
/// Near clipping distance, metres.
pub const NEAR_M: f32 = 1.0;
/// Closest and farthest the camera goes from its target, metres.
pub const MIN_DISTANCE_M: f32 = 20.0;
/// See [`MIN_DISTANCE_M`].
pub const MAX_DISTANCE_M: f32 = 50_000.0;
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
    /// Distance from the target, metres; in the top-down mode it sets the
    /// scale as the same distance would in 3D looking straight down.
    pub distance_m: f32,
    /// Top-down map: orthographic, north up (heading and pitch ignored).
    pub top_down: bool,
}

/// A box on the ground, local metres east and north.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    /// South-west corner.
    pub min: EastNorth,
    /// North-east corner.
    pub max: EastNorth,
}

impl Extent {
    /// The smallest box holding every point, `None` without points.
    pub fn of(points: impl IntoIterator<Item = EastNorth>) -> Option<Extent> {
        let mut it = points
            .into_iter()
            .filter(|p| p[0].is_finite() && p[1].is_finite());
        let first = it.next()?;
        let mut e = Extent {
            min: first,
            max: first,
        };
        for p in it {
            e.include(p);
        }
        Some(e)
    }

    /// Grows the box to hold `p`.
    pub fn include(&mut self, p: EastNorth) {
        for (i, v) in p.into_iter().enumerate() {
            self.min[i] = self.min[i].min(v);
            self.max[i] = self.max[i].max(v);
        }
    }

    /// Centre of the box.
    pub fn centre(&self) -> EastNorth {
        [
            (self.min[0] + self.max[0]) / 2.0,
            (self.min[1] + self.max[1]) / 2.0,
        ]
    }

    /// The four corners.
    pub fn corners(&self) -> [EastNorth; 4] {
        [
            self.min,
            [self.max[0], self.min[1]],
            self.max,
            [self.min[0], self.max[1]],
        ]
    }
}

/// Share of the picture left free on each side of a fitted box.
pub const FIT_MARGIN: f32 = 0.06;

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
            top_down: false,
        }
    }

    /// This view (its mode, heading and pitch) moved and zoomed so that
    /// `extent` fills a `width` x `height` picture, up to [`FIT_MARGIN`] on
    /// each side: the target at the box's centre, the distance the smallest
    /// that keeps every corner, at the ground and `up_m` above it, inside.
    pub fn fit(mut self, extent: &Extent, up_m: f64, width: u32, height: u32) -> OrbitView {
        self.target = world(extent.centre(), 0.0);
        let corners: Vec<Vec3> = extent
            .corners()
            .iter()
            .flat_map(|c| [world(*c, 0.0), world(*c, up_m)])
            .collect();
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        let inside = |v: &OrbitView| {
            corners.iter().all(|c| {
                v.world_to_pixel(*c, width, height).is_some_and(|p| {
                    p.x >= w * FIT_MARGIN
                        && p.x <= w * (1.0 - FIT_MARGIN)
                        && p.y >= h * FIT_MARGIN
                        && p.y <= h * (1.0 - FIT_MARGIN)
                })
            })
        };
        // Farther always shows more: bisect on the distance.
        let (mut near, mut far) = (MIN_DISTANCE_M, MAX_DISTANCE_M);
        for _ in 0..60 {
            let mid = (near * far).sqrt();
            self.distance_m = mid;
            if inside(&self) {
                far = mid;
            } else {
                near = mid;
            }
        }
        self.distance_m = far;
        self
    }

    /// Half the height of the ground shown by the top-down view, metres.
    pub fn half_height_m(&self) -> f32 {
        self.distance_m * (VFOV_DEG.to_radians() / 2.0).tan()
    }

    /// Ground metres per picture pixel at `point`, for a picture `height_px`
    /// tall (the scale bar, marker sizes, mouse panning).
    pub fn metres_per_px(&self, point: Vec3, height_px: f32) -> f32 {
        let h = height_px.max(1.0);
        if self.top_down {
            return 2.0 * self.half_height_m() / h;
        }
        let d = (point - self.eye()).length().max(NEAR_M);
        d * 2.0 * (VFOV_DEG.to_radians() / 2.0).tan() / h
    }

    /// Unit vector the camera looks along, world coordinates.
    pub fn forward(&self) -> Vec3 {
        if self.top_down {
            return Vec3::NEG_Y;
        }
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
        // Straight down, the cross product vanishes: east is right, north up.
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
        if self.top_down {
            let v = view * point.extend(1.0);
            if v.z > 0.0 {
                return None;
            }
            let half_h = self.half_height_m();
            let half_w = half_h * aspect;
            return Some(Vec2::new(
                (v.x / half_w + 1.0) / 2.0 * width as f32,
                (1.0 - v.y / half_h) / 2.0 * height as f32,
            ));
        }
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
        let h = if self.top_down {
            0.0
        } else {
            self.heading_deg.to_radians()
        };
        let ahead = Vec3::new(h.sin(), 0.0, -h.cos());
        let right = Vec3::new(h.cos(), 0.0, h.sin());
        self.target += right * right_m + ahead * ahead_m;
    }

    /// Turns the camera around the target by degrees of heading and pitch.
    /// The top-down map stays north up: it does not turn.
    pub fn orbit(&mut self, heading_deg: f32, pitch_deg: f32) {
        if self.top_down {
            return;
        }
        self.heading_deg = (self.heading_deg + heading_deg).rem_euclid(360.0);
        self.pitch_deg = (self.pitch_deg + pitch_deg).clamp(PITCH_RANGE_DEG.0, PITCH_RANGE_DEG.1);
    }

    /// Multiplies the distance by `factor`, within 20 m and 50 km.
    pub fn zoom(&mut self, factor: f32) {
        self.distance_m = (self.distance_m * factor).clamp(MIN_DISTANCE_M, MAX_DISTANCE_M);
    }

    /// Direction of north on the picture, degrees clockwise from up (the
    /// north arrow's needle).
    pub fn north_on_screen_deg(&self) -> f32 {
        if self.top_down {
            0.0
        } else {
            (-self.heading_deg).rem_euclid(360.0)
        }
    }
}

impl std::fmt::Display for OrbitView {
    /// `east=E,north=N,heading=H,pitch=P,distance=D` (metres, degrees),
    /// with `,top-down` in the 2D mode: what `vigie view --view` takes and
    /// what a screenshot logs, so any picture can be taken again.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "east={:.2},north={:.2},heading={:.2},pitch={:.2},distance={:.2}",
            self.target.x, -self.target.z, self.heading_deg, self.pitch_deg, self.distance_m
        )?;
        if self.top_down {
            f.write_str(",top-down")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for OrbitView {
    type Err = String;

    /// Parses the [`Display`](std::fmt::Display) form; missing fields keep
    /// the overview's values.
    fn from_str(s: &str) -> Result<OrbitView, String> {
        let mut v = OrbitView::overview(0.0);
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "top-down" {
                v.top_down = true;
                continue;
            }
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not KEY=VALUE or top-down"))?;
            let x: f32 = value
                .trim()
                .parse()
                .ok()
                .filter(|x: &f32| x.is_finite())
                .ok_or_else(|| format!("{key}: {value:?} is not a number"))?;
            match key.trim() {
                "east" => v.target.x = x,
                "north" => v.target.z = -x,
                "heading" => v.heading_deg = x.rem_euclid(360.0),
                "pitch" => v.pitch_deg = x.clamp(PITCH_RANGE_DEG.0, PITCH_RANGE_DEG.1),
                "distance" => v.distance_m = x.clamp(MIN_DISTANCE_M, MAX_DISTANCE_M),
                other => {
                    return Err(format!(
                        "unknown view field {other:?}: use east, north, heading, pitch, distance, top-down"
                    ));
                }
            }
        }
        Ok(v)
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
            top_down: false,
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

    #[test]
    fn top_down_is_north_up_and_east_right_at_one_scale_everywhere() {
        let v = OrbitView {
            top_down: true,
            heading_deg: 137.0,
            ..OrbitView::overview(500.0)
        };
        let c = v.world_to_pixel(Vec3::ZERO, 400, 200).expect("in view");
        assert!((c.x - 200.0).abs() < 0.01 && (c.y - 100.0).abs() < 0.01);
        let n = v
            .world_to_pixel(world([0.0, 100.0], 0.0), 400, 200)
            .expect("in view");
        let e = v
            .world_to_pixel(world([100.0, 0.0], 0.0), 400, 200)
            .expect("in view");
        let px_per_100m = c.y - n.y;
        assert!(px_per_100m > 0.0 && (n.x - c.x).abs() < 0.01);
        assert!((e.x - c.x - px_per_100m).abs() < 0.01 && (e.y - c.y).abs() < 0.01);
        // Orthographic: height does not move a point, and the scale is the
        // one the scale bar uses.
        let high = v
            .world_to_pixel(world([100.0, 0.0], 80.0), 400, 200)
            .expect("in view");
        assert!((high - e).length() < 0.01);
        assert!((v.metres_per_px(Vec3::ZERO, 200.0) * px_per_100m - 100.0).abs() < 0.01);
        assert_eq!(v.north_on_screen_deg(), 0.0);
        let mut turned = v;
        turned.orbit(30.0, 10.0);
        assert_eq!(turned, v);
    }

    #[test]
    fn a_fitted_box_fills_the_picture_in_both_modes() {
        let extent = Extent::of([[-1800.0, -200.0], [900.0, 350.0]]).expect("points");
        for top_down in [false, true] {
            let v = OrbitView {
                top_down,
                ..OrbitView::overview(100.0)
            }
            .fit(&extent, 30.0, 1280, 720);
            let px: Vec<Vec2> = extent
                .corners()
                .iter()
                .map(|c| {
                    v.world_to_pixel(world(*c, 0.0), 1280, 720)
                        .expect("in front")
                })
                .collect();
            let (min_x, max_x) = px
                .iter()
                .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.x), b.max(p.x)));
            let (min_y, max_y) = px
                .iter()
                .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.y), b.max(p.y)));
            assert!(
                min_x >= 1280.0 * FIT_MARGIN - 0.5 && max_x <= 1280.0 * (1.0 - FIT_MARGIN) + 0.5
            );
            assert!(min_y >= 720.0 * FIT_MARGIN - 0.5 && max_y <= 720.0 * (1.0 - FIT_MARGIN) + 0.5);
            // Fills: one direction reaches its margin (within 2 %).
            let fill = ((max_x - min_x) / (1280.0 * (1.0 - 2.0 * FIT_MARGIN)))
                .max((max_y - min_y) / (720.0 * (1.0 - 2.0 * FIT_MARGIN)));
            assert!(fill > 0.9, "top_down {top_down}: the box fills {fill:.2}");
        }
    }

    #[test]
    fn a_view_reads_back_what_it_writes_and_refuses_nonsense() {
        let v = OrbitView {
            target: world([120.5, -33.25], 0.0),
            heading_deg: 200.0,
            pitch_deg: 70.0,
            distance_m: 1234.5,
            top_down: true,
        };
        let back: OrbitView = v.to_string().parse().expect("round trip");
        assert_eq!(back, v);
        assert!("heading=NaN".parse::<OrbitView>().is_err());
        assert!("zoom=3".parse::<OrbitView>().unwrap_err().contains("zoom"));
        assert!("east".parse::<OrbitView>().is_err());
    }
}

//! Fixed cameras: what the inventory says about each, and how far each one
//! is useful.
//!
//! A camera's useful range is either given, or follows from its horizontal
//! resolution and field of view by the IEC 62676-4 pixel-density tiers: at
//! slant distance `d` a camera with `W` pixels across a field of view `f`
//! puts `W / (2 d tan(f/2))` pixels on each metre of the scene. When only a
//! range is given, the range is taken as the distance where the density
//! falls to the detection tier (25 px/m), so every camera can be ranked by
//! pixel density at a point.

use serde::{Deserialize, Serialize};

use super::Network;
use super::buildings::Buildings;
use super::footprint::{CameraPose, ground_footprint};
use super::polygon::Pt;
use crate::frame::LocalFrame;

/// IEC 62676-4 pixel-density tiers (pixels per metre of scene width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 25 px/m: a person can be detected.
    Detection,
    /// 62 px/m: characteristic details (clothing colour) can be observed.
    Observation,
    /// 125 px/m: a known person can be recognised by a viewer.
    Recognition,
    /// 250 px/m: identification beyond reasonable doubt.
    Identification,
}

impl Tier {
    /// All tiers, lowest density first.
    pub const ALL: [Tier; 4] = [
        Tier::Detection,
        Tier::Observation,
        Tier::Recognition,
        Tier::Identification,
    ];

    /// Pixel density that defines the tier, pixels per metre.
    pub fn px_per_m(self) -> f64 {
        match self {
            Tier::Detection => 25.0,
            Tier::Observation => 62.0,
            Tier::Recognition => 125.0,
            Tier::Identification => 250.0,
        }
    }

    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Detection => "detection",
            Tier::Observation => "observation",
            Tier::Recognition => "recognition",
            Tier::Identification => "identification",
        }
    }

    /// Parses [`Tier::as_str`] (case-insensitive).
    pub fn parse(s: &str) -> Option<Tier> {
        let s = s.trim().to_ascii_lowercase();
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The highest tier a density reaches, or `None` below detection.
    pub fn reached(px_per_m: f64) -> Option<Tier> {
        Tier::ALL
            .into_iter()
            .rev()
            .find(|t| px_per_m >= t.px_per_m())
    }
}

/// Pixel density at slant distance `slant_m` for a camera with
/// `horizontal_px` pixels across `hfov_deg`, pixels per metre.
#[inline]
pub fn pixel_density(horizontal_px: f64, hfov_deg: f64, slant_m: f64) -> f64 {
    let width_m = 2.0 * slant_m.max(0.1) * (hfov_deg.to_radians() / 2.0).tan();
    horizontal_px / width_m
}

/// Slant distance at which a camera's density falls to `tier`, metres.
pub fn tier_range_m(horizontal_px: f64, hfov_deg: f64, tier: Tier) -> f64 {
    horizontal_px / (tier.px_per_m() * 2.0 * (hfov_deg.to_radians() / 2.0).tan())
}

/// Optics assumed where a source does not say, set by the `[coverage.optics]`
/// section of the configuration. They decide the pixel-density ranking of
/// who-sees answers and the useful range that follows from a resolution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Optics {
    /// Tier whose density defines a camera's useful range when its
    /// inventory row gives a resolution but names no tier. Default
    /// `detection` (25 px/m).
    pub range_tier: Tier,
    /// Density a camera is taken to reach at its useful range when its row
    /// gives a range but no resolution (its resolution follows from it).
    /// Default `detection`.
    pub range_only_tier: Tier,
    /// Sensor width over height, for a fixed camera's vertical field of
    /// view. Default 16:9 (1.778).
    pub sensor_aspect: f64,
    /// Horizontal resolution of drone cameras, pixels. Default 1920 (1080p).
    pub drone_px: f64,
    /// Horizontal field of view of a drone camera that does not report it,
    /// degrees. Default 84.
    pub drone_hfov_deg: f64,
    /// Horizontal resolution of a patrol tablet's stream, pixels. Default
    /// 1280 (720p).
    pub tablet_px: f64,
    /// Horizontal field of view of a tablet camera, degrees. Default 65.
    pub tablet_hfov_deg: f64,
    /// Height a tablet is held at, metres. Default 1.5.
    pub tablet_height_m: f64,
}

impl Default for Optics {
    fn default() -> Self {
        Optics {
            range_tier: Tier::Detection,
            range_only_tier: Tier::Detection,
            sensor_aspect: 16.0 / 9.0,
            drone_px: 1920.0,
            drone_hfov_deg: 84.0,
            tablet_px: 1280.0,
            tablet_hfov_deg: 65.0,
            tablet_height_m: 1.5,
        }
    }
}

impl Optics {
    /// Checks the values make physical sense; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("sensor_aspect", self.sensor_aspect, 0.2, 10.0),
            ("drone_px", self.drone_px, 1.0, 100_000.0),
            ("tablet_px", self.tablet_px, 1.0, 100_000.0),
            ("drone_hfov_deg", self.drone_hfov_deg, 1.0, 179.0),
            ("tablet_hfov_deg", self.tablet_hfov_deg, 1.0, 179.0),
            ("tablet_height_m", self.tablet_height_m, 0.1, 100.0),
        ];
        for (key, v, lo, hi) in positive {
            if !(lo..=hi).contains(&v) {
                return Err(format!(
                    "coverage.optics.{key} = {v} must be within {lo}..{hi}"
                ));
            }
        }
        Ok(())
    }
}

/// One fixed camera of the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedCamera {
    /// Inventory identifier, unique across networks (e.g. `city-0042`).
    pub id: String,
    /// Network that owns the camera.
    pub network: Network,
    /// Latitude, degrees.
    pub lat_deg: f64,
    /// Longitude, degrees.
    pub lon_deg: f64,
    /// Mount height above the ground, metres.
    pub mount_height_m: f64,
    /// Optical axis heading, degrees clockwise from north.
    pub heading_deg: f64,
    /// Optical axis tilt, degrees: 0 = horizon, negative looks down.
    pub tilt_deg: f64,
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
    /// Useful range as given by the inventory, slant metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_m: Option<f64>,
    /// Horizontal resolution, pixels, when the inventory gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_px: Option<u32>,
    /// Tier that defines the useful range when it follows from the
    /// resolution.
    #[serde(default = "default_tier")]
    pub range_tier: Tier,
    /// Pan-tilt-zoom camera: an operator can turn it.
    #[serde(default)]
    pub ptz: bool,
    /// Human-readable label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn default_tier() -> Tier {
    Tier::Detection
}

impl FixedCamera {
    /// Checks the values make physical sense; the message says which field
    /// is wrong and what is expected.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("id is empty".into());
        }
        if !(-90.0..=90.0).contains(&self.lat_deg) || !(-180.0..=180.0).contains(&self.lon_deg) {
            return Err(format!(
                "position {}, {} is not a latitude/longitude",
                self.lat_deg, self.lon_deg
            ));
        }
        if !(self.mount_height_m > 0.0 && self.mount_height_m < 500.0) {
            return Err(format!(
                "mount_height_m = {} must be above 0 and below 500",
                self.mount_height_m
            ));
        }
        if !self.heading_deg.is_finite() {
            return Err("heading_deg is not a number".into());
        }
        if !(-90.0..=90.0).contains(&self.tilt_deg) {
            return Err(format!(
                "tilt_deg = {} must be within -90..90 (negative looks down)",
                self.tilt_deg
            ));
        }
        if !(self.hfov_deg > 0.0 && self.hfov_deg < 180.0) {
            return Err(format!(
                "hfov_deg = {} must be within 0..180 (exclusive)",
                self.hfov_deg
            ));
        }
        match (self.range_m, self.resolution_px) {
            (None, None) => return Err("give range_m or resolution_px (the range follows from the resolution by the IEC 62676-4 tiers)".into()),
            (Some(r), _) if !(r > 0.0 && r <= 5000.0) => return Err(format!("range_m = {r} must be above 0 and at most 5000")),
            (_, Some(0)) => return Err("resolution_px must be above 0".into()),
            _ => {}
        }
        Ok(())
    }

    /// Useful range, slant metres: the inventory's, or the range tier's
    /// distance for the resolution.
    pub fn useful_range_m(&self) -> f64 {
        match (self.range_m, self.resolution_px) {
            (Some(r), _) => r,
            (None, Some(px)) => tier_range_m(f64::from(px), self.hfov_deg, self.range_tier),
            (None, None) => 0.0,
        }
    }

    /// Horizontal resolution used for pixel density, pixels: the inventory's,
    /// or the one that puts the assumed tier's density
    /// ([`Optics::range_only_tier`]) at the useful range.
    pub fn horizontal_px(&self, optics: &Optics) -> f64 {
        match self.resolution_px {
            Some(px) => f64::from(px),
            None => {
                optics.range_only_tier.px_per_m()
                    * 2.0
                    * self.useful_range_m()
                    * (self.hfov_deg.to_radians() / 2.0).tan()
            }
        }
    }

    /// Vertical field of view, degrees, for the assumed sensor aspect.
    pub fn vfov_deg(&self, optics: &Optics) -> f64 {
        2.0 * ((self.hfov_deg.to_radians() / 2.0).tan() / optics.sensor_aspect)
            .atan()
            .to_degrees()
    }

    /// Position in the local frame.
    pub fn local(&self, frame: &LocalFrame) -> Pt {
        let (e, n) = frame.to_local(self.lat_deg, self.lon_deg);
        [e, n]
    }

    /// The camera's pose, with the useful range turned into a horizontal
    /// bound on the footprint.
    pub fn pose(&self, frame: &LocalFrame, optics: &Optics) -> CameraPose {
        let [e, n] = self.local(frame);
        let slant = self.useful_range_m();
        let h = self.mount_height_m;
        CameraPose {
            east_m: e,
            north_m: n,
            height_agl_m: h,
            yaw_deg: self.heading_deg,
            pitch_deg: self.tilt_deg,
            roll_deg: 0.0,
            hfov_deg: self.hfov_deg,
            vfov_deg: self.vfov_deg(optics),
            max_range_m: (slant * slant - h * h).max(0.0).sqrt(),
        }
    }

    /// Ground coverage in the local frame: the image footprint bounded by the
    /// useful range and, when buildings are given, clipped by line of sight.
    /// `None` when the camera sees no ground within its range.
    pub fn coverage(
        &self,
        frame: &LocalFrame,
        buildings: Option<&Buildings>,
        optics: &Optics,
    ) -> Option<Vec<Pt>> {
        let pose = self.pose(frame, optics);
        let ring: Vec<Pt> = ground_footprint(&pose)?
            .into_iter()
            .map(|(e, n)| [e, n])
            .collect();
        match buildings {
            Some(b) => b.visible_part([pose.east_m, pose.north_m], &ring),
            None => Some(ring),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> FixedCamera {
        FixedCamera {
            id: "c1".into(),
            network: Network::City,
            lat_deg: 48.9,
            lon_deg: 2.36,
            mount_height_m: 6.0,
            heading_deg: 90.0,
            tilt_deg: -10.0,
            hfov_deg: 60.0,
            range_m: None,
            resolution_px: Some(1920),
            range_tier: Tier::Recognition,
            ptz: false,
            name: None,
        }
    }

    #[test]
    fn tiers_follow_iec_62676_4() {
        // 1920 px over 60°: width at d is 1.1547 d, so 125 px/m at 13.3 m.
        let c = cam();
        let r = c.useful_range_m();
        assert!((r - 1920.0 / (125.0 * 2.0 * 30f64.to_radians().tan())).abs() < 1e-9);
        assert!((pixel_density(1920.0, 60.0, r) - 125.0).abs() < 1e-9);
        assert_eq!(Tier::reached(130.0), Some(Tier::Recognition));
        assert_eq!(Tier::reached(24.0), None);
        assert_eq!(Tier::reached(250.0), Some(Tier::Identification));
    }

    #[test]
    fn range_only_camera_is_at_detection_density_at_its_range() {
        let mut c = cam();
        c.resolution_px = None;
        c.range_m = Some(40.0);
        let d = pixel_density(c.horizontal_px(&Optics::default()), c.hfov_deg, 40.0);
        assert!((d - 25.0).abs() < 1e-9);
        let recognition = Optics {
            range_only_tier: Tier::Recognition,
            ..Optics::default()
        };
        let d = pixel_density(c.horizontal_px(&recognition), c.hfov_deg, 40.0);
        assert!((d - 125.0).abs() < 1e-9);
    }

    #[test]
    fn coverage_points_along_heading_and_stays_in_range() {
        let c = cam();
        let frame = LocalFrame::new(48.9, 2.36);
        let ring = c.coverage(&frame, None, &Optics::default()).unwrap();
        let r = c.useful_range_m();
        for p in &ring {
            assert!(f64::hypot(p[0], p[1]) <= r + 1e-6);
            assert!(p[0] >= -1e-6, "looking east");
        }
    }

    #[test]
    fn bad_rows_say_what_is_wrong() {
        let mut c = cam();
        c.hfov_deg = 200.0;
        assert!(c.validate().unwrap_err().contains("hfov_deg"));
        let mut c = cam();
        c.resolution_px = None;
        assert!(c.validate().unwrap_err().contains("range_m"));
    }
}

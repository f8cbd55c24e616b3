//! Geofence geometry: inclusion and exclusion polygons and circles in the
//! local frame, checked the way ArduPilot does by default: the vehicle must
//! be inside every inclusion zone and outside every exclusion zone, and
//! below the maximum altitude.

/// One zone of the fence, in local metres (east, north).
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    /// A polygon (at least 3 vertices, implicitly closed).
    Polygon {
        /// True for an inclusion zone, false for an exclusion zone.
        inclusion: bool,
        /// Vertices `(east_m, north_m)`.
        vertices: Vec<(f64, f64)>,
    },
    /// A circle.
    Circle {
        /// True for an inclusion zone, false for an exclusion zone.
        inclusion: bool,
        /// Centre `(east_m, north_m)`.
        center: (f64, f64),
        /// Radius, metres.
        radius_m: f64,
    },
}

impl Zone {
    /// True when `(e, n)` lies inside the zone.
    pub fn contains(&self, e: f64, n: f64) -> bool {
        match self {
            Zone::Polygon { vertices, .. } => point_in_polygon(e, n, vertices),
            Zone::Circle {
                center, radius_m, ..
            } => (e - center.0).hypot(n - center.1) <= *radius_m,
        }
    }

    /// True for an inclusion zone.
    pub fn is_inclusion(&self) -> bool {
        match self {
            Zone::Polygon { inclusion, .. } | Zone::Circle { inclusion, .. } => *inclusion,
        }
    }
}

/// Why the vehicle is outside the fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// Outside an inclusion zone.
    Inclusion,
    /// Inside an exclusion zone.
    Exclusion,
    /// Above the maximum altitude.
    Altitude,
}

impl Breach {
    /// Words for a STATUSTEXT.
    pub fn as_str(self) -> &'static str {
        match self {
            Breach::Inclusion => "outside inclusion zone",
            Breach::Exclusion => "inside exclusion zone",
            Breach::Altitude => "above maximum altitude",
        }
    }
}

/// The uploaded fence and whether it is enforced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fence {
    /// The zones.
    pub zones: Vec<Zone>,
    /// Maximum altitude above home while the fence is enabled, metres.
    pub alt_max_m: Option<f64>,
    /// Enforced (set by an upload of at least one zone, or DO_FENCE_ENABLE).
    pub enabled: bool,
}

impl Fence {
    /// The first breach at `(e, n, up)`, if any.
    pub fn check(&self, e: f64, n: f64, up_m: f64) -> Option<Breach> {
        if !self.enabled {
            return None;
        }
        if self.alt_max_m.is_some_and(|max| up_m > max) {
            return Some(Breach::Altitude);
        }
        for z in &self.zones {
            let inside = z.contains(e, n);
            if z.is_inclusion() && !inside {
                return Some(Breach::Inclusion);
            }
            if !z.is_inclusion() && inside {
                return Some(Breach::Exclusion);
            }
        }
        None
    }
}

/// Even-odd ray casting.
fn point_in_polygon(x: f64, y: f64, v: &[(f64, f64)]) -> bool {
    let mut inside = false;
    let mut j = v.len().wrapping_sub(1);
    for i in 0..v.len() {
        let (xi, yi) = v[i];
        let (xj, yj) = v[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusion_and_exclusion_zones_combine_like_ardupilot() {
        let square = Zone::Polygon {
            inclusion: true,
            vertices: vec![
                (-100.0, -100.0),
                (100.0, -100.0),
                (100.0, 100.0),
                (-100.0, 100.0),
            ],
        };
        let hole = Zone::Circle {
            inclusion: false,
            center: (50.0, 50.0),
            radius_m: 10.0,
        };
        let fence = Fence {
            zones: vec![square, hole],
            alt_max_m: Some(120.0),
            enabled: true,
        };
        assert_eq!(fence.check(0.0, 0.0, 10.0), None);
        assert_eq!(fence.check(150.0, 0.0, 10.0), Some(Breach::Inclusion));
        assert_eq!(fence.check(52.0, 48.0, 10.0), Some(Breach::Exclusion));
        assert_eq!(fence.check(0.0, 0.0, 130.0), Some(Breach::Altitude));
        let off = Fence {
            enabled: false,
            ..fence
        };
        assert_eq!(off.check(150.0, 0.0, 10.0), None);
    }
}

//! Colours of the view, in one place so that the legend, the renderer and
//! the tests agree. sRGB, as a designer would pick them.
//!
//! Incidents are the one saturated red: statuses, owner networks, zones and
//! the heat map keep away from it, so an incident stands out for every
//! viewer. The test below checks that with a simulation of colour-vision
//! deficiency (Machado, Oliveira and Fernandes 2009, full severity) and the
//! CIE 1976 colour difference: an incident differs by at least
//! [`INCIDENT_MIN_DELTA_E`] from every other colour on screen, as it is seen
//! (translucent layers over the ground), with normal vision, protanopia,
//! deuteranopia and tritanopia; unit statuses stay apart from each other by
//! at least [`STATUS_MIN_DELTA_E`]. Owner networks are seven categories and
//! cannot all be told apart under every deficiency: the legend and the
//! details panel name them.

use bevy::color::{Alpha, Color, ColorToComponents, Srgba};
use vigie_protocols::api::UnitStatus;

use crate::coverage::Cell;
use crate::scene::{OwnerNetwork, ZoneKind};

/// Smallest CIE76 difference between an incident and any other colour on
/// screen, under every simulated vision.
pub const INCIDENT_MIN_DELTA_E: f32 = 30.0;
/// Smallest CIE76 difference between two unit statuses, under every
/// simulated vision.
pub const STATUS_MIN_DELTA_E: f32 = 12.0;

/// Background above the horizon.
pub const SKY: Srgba = Srgba::rgb(0.62, 0.72, 0.82);
/// The ground plane.
pub const GROUND: Srgba = Srgba::rgb(0.30, 0.33, 0.30);
/// Streets.
pub const STREET: Srgba = Srgba::rgb(0.48, 0.48, 0.46);
/// Water of the base map (rivers, canals): dark blue, under everything.
pub const WATER: Srgba = Srgba::rgb(0.17, 0.30, 0.45);
/// Parks and gardens of the base map: a lighter green than the ground.
pub const PARK: Srgba = Srgba::rgb(0.40, 0.50, 0.38);
/// Map labels' text.
pub const LABEL_TEXT: Srgba = Srgba::rgb(0.96, 0.96, 0.94);
/// Map labels' backing, so text reads over any layer.
pub const LABEL_BACK: Srgba = Srgba::new(0.05, 0.05, 0.06, 0.72);
/// Buildings (lit).
pub const BUILDING: Srgba = Srgba::rgb(0.80, 0.78, 0.74);
/// Privacy masks: blacked out.
pub const PRIVACY: Srgba = Srgba::rgb(0.0, 0.0, 0.0);
/// Incidents: the view's only saturated red.
pub const INCIDENT: Srgba = Srgba::rgb(0.9, 0.0, 0.0);
/// Lines from an incident to its suggested units.
pub const INCIDENT_LINK: Srgba = Srgba::rgb(1.0, 0.55, 0.80);
/// Opacity of camera ground coverage.
pub const COVERAGE_ALPHA: f32 = 0.45;
/// Opacity of drone footprints.
pub const FOOTPRINT_ALPHA: f32 = 0.35;
/// Drone footprints and frustum lines.
pub const DRONE_FOOTPRINT: Srgba = Srgba::rgb(1.0, 1.0, 1.0);
/// The selected unit's highlight.
pub const SELECTION: Srgba = Srgba::rgb(0.2, 1.0, 1.0);

/// Colour of a camera owner network.
pub fn owner(owner: OwnerNetwork) -> Srgba {
    match owner {
        OwnerNetwork::City => Srgba::rgb(0.0, 0.45, 0.70),
        OwnerNetwork::Transit => Srgba::rgb(0.55, 0.40, 0.85),
        OwnerNetwork::Parking => Srgba::rgb(0.35, 0.85, 0.80),
        OwnerNetwork::Housing => Srgba::rgb(0.95, 0.80, 0.55),
        OwnerNetwork::Private => Srgba::rgb(0.80, 0.60, 0.75),
        OwnerNetwork::Fleet => Srgba::rgb(0.85, 0.85, 0.85),
        OwnerNetwork::Other => Srgba::rgb(0.60, 0.60, 0.65),
    }
}

/// Colour of a unit status (patrol and drone markers).
pub fn status(status: UnitStatus) -> Srgba {
    match status {
        UnitStatus::Available => Srgba::rgb(0.0, 0.62, 0.45),
        UnitStatus::EnRoute => Srgba::rgb(0.34, 0.71, 0.91),
        UnitStatus::OnScene => Srgba::rgb(0.94, 0.89, 0.26),
        UnitStatus::Busy => Srgba::rgb(0.72, 0.52, 0.98),
        UnitStatus::Unavailable => Srgba::rgb(0.80, 0.80, 0.82),
        // Dark, not red: a lost link must not read as an incident.
        UnitStatus::LinkLost => Srgba::rgb(0.12, 0.12, 0.14),
    }
}

/// Colour and opacity of a zone volume.
pub fn zone(kind: ZoneKind) -> Srgba {
    match kind {
        ZoneKind::Event => Srgba::new(0.95, 0.95, 1.0, 0.12),
        ZoneKind::NoFly => Srgba::new(0.80, 0.30, 1.0, 0.25),
        ZoneKind::DronePerimeter => Srgba::new(0.2, 0.9, 1.0, 0.08),
    }
}

/// Colour of a heat-map cell, `None` for cells not drawn: blues that get
/// lighter with more sources, gaps in pale yellow.
pub fn heat(cell: Cell) -> Option<Srgba> {
    match cell {
        Cell::Gap => Some(Srgba::new(1.0, 0.95, 0.55, 0.7)),
        Cell::Seen(0) | Cell::Masked | Cell::Building => None,
        Cell::Seen(1) => Some(Srgba::new(0.20, 0.40, 0.85, 0.55)),
        Cell::Seen(2) => Some(Srgba::new(0.30, 0.70, 0.90, 0.55)),
        Cell::Seen(_) => Some(Srgba::new(0.75, 0.95, 0.95, 0.6)),
    }
}

/// Linear RGBA floats, as vertex colours take them.
pub fn linear(c: Srgba) -> [f32; 4] {
    Color::from(c).to_linear().to_f32_array()
}

/// A translucent colour as it shows over an opaque one (blending in linear
/// light, as the renderer does).
pub fn over(top: Srgba, under: Srgba) -> Srgba {
    let (t, u) = (Color::from(top).to_linear(), Color::from(under).to_linear());
    let a = t.alpha;
    let mix = |x: f32, y: f32| x * a + y * (1.0 - a);
    Color::linear_rgb(
        mix(t.red, u.red),
        mix(t.green, u.green),
        mix(t.blue, u.blue),
    )
    .to_srgba()
}

/// Every colour the view can put on screen other than an incident's, named,
/// as it is seen: translucent layers over the ground.
pub fn on_screen() -> Vec<(String, Srgba)> {
    let mut all: Vec<(String, Srgba)> = vec![
        ("sky".into(), SKY),
        ("ground".into(), GROUND),
        ("street".into(), STREET),
        ("water".into(), WATER),
        ("park".into(), PARK),
        ("label".into(), LABEL_TEXT),
        ("label backing".into(), over(LABEL_BACK, GROUND)),
        ("building".into(), BUILDING),
        ("privacy mask".into(), PRIVACY),
        ("incident link".into(), INCIDENT_LINK),
        ("selection".into(), SELECTION),
        ("drone trail".into(), DRONE_FOOTPRINT),
        (
            "drone footprint".into(),
            over(DRONE_FOOTPRINT.with_alpha(FOOTPRINT_ALPHA), GROUND),
        ),
    ];
    for s in UnitStatus::ALL {
        all.push((format!("status {}", s.as_str()), status(s)));
    }
    for o in OwnerNetwork::ALL {
        all.push((format!("camera {}", o.as_str()), owner(o)));
        all.push((
            format!("coverage {}", o.as_str()),
            over(owner(o).with_alpha(COVERAGE_ALPHA), GROUND),
        ));
    }
    for z in ZoneKind::ALL {
        all.push((format!("zone {z:?}"), over(zone(z), GROUND)));
    }
    for c in [Cell::Gap, Cell::Seen(1), Cell::Seen(2), Cell::Seen(3)] {
        if let Some(h) = heat(c) {
            all.push((format!("heat {c:?}"), over(h, GROUND)));
        }
    }
    all
}

/// Simulated colour vision: how a colour looks to a viewer with a full
/// colour-vision deficiency, and how far apart two colours look.
pub mod vision {
    use bevy::color::{Color, Srgba};

    /// A kind of colour vision.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Vision {
        /// Typical trichromatic vision.
        Normal,
        /// No long-wavelength (red) cones.
        Protanopia,
        /// No medium-wavelength (green) cones.
        Deuteranopia,
        /// No short-wavelength (blue) cones.
        Tritanopia,
    }

    impl Vision {
        /// Every kind, normal first.
        pub const ALL: [Vision; 4] = [
            Vision::Normal,
            Vision::Protanopia,
            Vision::Deuteranopia,
            Vision::Tritanopia,
        ];

        /// Machado et al. (2009) matrices at severity 1.0, on linear RGB.
        fn matrix(self) -> [[f32; 3]; 3] {
            match self {
                Vision::Normal => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                Vision::Protanopia => [
                    [0.152_286, 1.052_583, -0.204_868],
                    [0.114_503, 0.786_281, 0.099_216],
                    [-0.003_882, -0.048_116, 1.051_998],
                ],
                Vision::Deuteranopia => [
                    [0.367_322, 0.860_646, -0.227_968],
                    [0.280_085, 0.672_501, 0.047_413],
                    [-0.011_820, 0.042_940, 0.968_881],
                ],
                Vision::Tritanopia => [
                    [1.255_528, -0.076_749, -0.178_779],
                    [-0.078_411, 0.930_809, 0.147_602],
                    [0.004_733, 0.691_367, 0.303_900],
                ],
            }
        }

        /// The colour as this viewer sees it, in linear RGB (0..1).
        pub fn simulate(self, c: Srgba) -> [f32; 3] {
            let l = Color::from(c).to_linear();
            let rgb = [l.red, l.green, l.blue];
            let m = self.matrix();
            let row = |r: [f32; 3]| (r[0] * rgb[0] + r[1] * rgb[1] + r[2] * rgb[2]).clamp(0.0, 1.0);
            [row(m[0]), row(m[1]), row(m[2])]
        }
    }

    /// CIE L*a*b* (D65) of a linear RGB colour.
    pub fn lab(rgb: [f32; 3]) -> [f32; 3] {
        let [r, g, b] = rgb;
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.950_47;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.088_83;
        let f = |t: f32| {
            if t > 216.0 / 24389.0 {
                t.cbrt()
            } else {
                (24389.0 / 27.0 * t + 16.0) / 116.0
            }
        };
        let (fx, fy, fz) = (f(x), f(y), f(z));
        [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
    }

    /// CIE76 difference between two colours as `vision` sees them.
    pub fn delta_e(vision: Vision, a: Srgba, b: Srgba) -> f32 {
        let (p, q) = (lab(vision.simulate(a)), lab(vision.simulate(b)));
        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::vision::{Vision, delta_e, lab};
    use super::*;

    #[test]
    fn the_simulation_matches_known_values() {
        // White stays white, and pure red and green, which a protanope
        // confuses, come out within a few units of each other in hue
        // (both yellowish) while normal vision puts them far apart.
        let white = lab(Vision::Protanopia.simulate(Srgba::WHITE));
        assert!((white[0] - 100.0).abs() < 0.5 && white[1].abs() < 1.0);
        let (red, green) = (Srgba::rgb(1.0, 0.0, 0.0), Srgba::rgb(0.0, 0.5, 0.0));
        assert!(delta_e(Vision::Normal, red, green) > 100.0);
        assert!(delta_e(Vision::Deuteranopia, red, green) < 25.0);
        // The colours this test replaced: the old incident red and the old
        // link-lost red were indistinguishable.
        let (old_incident, old_link_lost) =
            (Srgba::rgb(1.0, 0.1, 0.1), Srgba::rgb(0.9, 0.05, 0.05));
        assert!(delta_e(Vision::Protanopia, old_incident, old_link_lost) < 10.0);
    }

    #[test]
    fn incidents_stand_out_from_everything_else_under_every_vision() {
        let mut worst: Option<(f32, Vision, String)> = None;
        for (name, c) in on_screen() {
            for v in Vision::ALL {
                let d = delta_e(v, INCIDENT, c);
                if worst.as_ref().is_none_or(|w| d < w.0) {
                    worst = Some((d, v, name.clone()));
                }
            }
        }
        let (d, v, name) = worst.expect("colours");
        assert!(
            d >= INCIDENT_MIN_DELTA_E,
            "an incident is only {d:.1} from {name} under {v:?}"
        );
    }

    #[test]
    fn unit_statuses_stay_apart_under_every_vision() {
        for (i, a) in UnitStatus::ALL.iter().enumerate() {
            for b in &UnitStatus::ALL[i + 1..] {
                for v in Vision::ALL {
                    let d = delta_e(v, status(*a), status(*b));
                    assert!(
                        d >= STATUS_MIN_DELTA_E,
                        "{a:?} and {b:?} are {d:.1} apart under {v:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn heat_map_steps_and_gaps_stay_apart_under_every_vision() {
        let cells = [Cell::Gap, Cell::Seen(1), Cell::Seen(2), Cell::Seen(3)];
        let seen: Vec<_> = cells
            .iter()
            .filter_map(|c| Some((*c, over(heat(*c)?, GROUND))))
            .chain([(Cell::Seen(0), GROUND)])
            .collect();
        for (i, (a, ca)) in seen.iter().enumerate() {
            for (b, cb) in &seen[i + 1..] {
                for v in Vision::ALL {
                    let d = delta_e(v, *ca, *cb);
                    assert!(d >= 15.0, "{a:?} and {b:?} are {d:.1} apart under {v:?}");
                }
            }
        }
    }

    #[test]
    fn no_fly_zones_and_incident_links_have_their_own_colours() {
        let no_fly = over(zone(ZoneKind::NoFly), GROUND);
        for v in Vision::ALL {
            assert!(delta_e(v, no_fly, INCIDENT_LINK) >= 20.0, "{v:?}");
            assert!(
                delta_e(v, no_fly, over(zone(ZoneKind::Event), GROUND)) >= 10.0,
                "{v:?}"
            );
        }
    }
}

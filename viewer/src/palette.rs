//! Colours of the view, in one place so that the legend, the renderer and
//! the tests agree. sRGB, as a designer would pick them.

use bevy::color::{Color, ColorToComponents, Srgba};
use vigie_protocols::api::UnitStatus;

use crate::coverage::Cell;
use crate::scene::{OwnerNetwork, ZoneKind};

/// Background above the horizon.
pub const SKY: Srgba = Srgba::rgb(0.62, 0.72, 0.82);
/// The ground plane.
pub const GROUND: Srgba = Srgba::rgb(0.30, 0.33, 0.30);
/// Streets.
pub const STREET: Srgba = Srgba::rgb(0.48, 0.48, 0.46);
/// Buildings (lit).
pub const BUILDING: Srgba = Srgba::rgb(0.80, 0.78, 0.74);
/// Privacy masks: blacked out.
pub const PRIVACY: Srgba = Srgba::rgb(0.0, 0.0, 0.0);
/// Incidents.
pub const INCIDENT: Srgba = Srgba::rgb(1.0, 0.1, 0.1);
/// Opacity of camera ground coverage.
pub const COVERAGE_ALPHA: f32 = 0.45;
/// Opacity of drone footprints.
pub const FOOTPRINT_ALPHA: f32 = 0.35;
/// Drone footprints and frustum lines.
pub const DRONE_FOOTPRINT: Srgba = Srgba::rgb(1.0, 1.0, 1.0);
/// The selected unit's highlight.
pub const SELECTION: Srgba = Srgba::rgb(1.0, 1.0, 0.2);

/// Colour of a camera owner network.
pub fn owner(owner: OwnerNetwork) -> Srgba {
    match owner {
        OwnerNetwork::City => Srgba::rgb(0.10, 0.45, 1.0),
        OwnerNetwork::Transit => Srgba::rgb(0.70, 0.25, 0.95),
        OwnerNetwork::Parking => Srgba::rgb(0.0, 0.80, 0.75),
        OwnerNetwork::Housing => Srgba::rgb(0.95, 0.60, 0.10),
        OwnerNetwork::Private => Srgba::rgb(0.85, 0.35, 0.55),
        OwnerNetwork::Fleet => Srgba::rgb(0.55, 0.75, 0.20),
        OwnerNetwork::Other => Srgba::rgb(0.60, 0.60, 0.65),
    }
}

/// Colour of a unit status (patrol and drone markers).
pub fn status(status: UnitStatus) -> Srgba {
    match status {
        UnitStatus::Available => Srgba::rgb(0.15, 0.85, 0.25),
        UnitStatus::EnRoute => Srgba::rgb(0.20, 0.60, 1.0),
        UnitStatus::OnScene => Srgba::rgb(1.0, 0.90, 0.10),
        UnitStatus::Busy => Srgba::rgb(1.0, 0.45, 0.0),
        UnitStatus::Unavailable => Srgba::rgb(0.55, 0.55, 0.55),
        UnitStatus::LinkLost => Srgba::rgb(0.90, 0.05, 0.05),
    }
}

/// Colour and opacity of a zone volume.
pub fn zone(kind: ZoneKind) -> Srgba {
    match kind {
        ZoneKind::Event => Srgba::new(1.0, 0.85, 0.2, 0.12),
        ZoneKind::NoFly => Srgba::new(1.0, 0.15, 0.15, 0.18),
        ZoneKind::DronePerimeter => Srgba::new(0.2, 0.9, 1.0, 0.08),
    }
}

/// Colour of a heat-map cell, `None` for cells not drawn.
pub fn heat(cell: Cell) -> Option<Srgba> {
    match cell {
        Cell::Gap => Some(Srgba::new(0.9, 0.0, 0.0, 0.55)),
        Cell::Seen(0) | Cell::Masked | Cell::Building => None,
        Cell::Seen(1) => Some(Srgba::new(1.0, 0.85, 0.0, 0.5)),
        Cell::Seen(2) => Some(Srgba::new(0.55, 0.9, 0.1, 0.5)),
        Cell::Seen(_) => Some(Srgba::new(0.0, 0.7, 0.2, 0.55)),
    }
}

/// Linear RGBA floats, as vertex colours take them.
pub fn linear(c: Srgba) -> [f32; 4] {
    Color::from(c).to_linear().to_f32_array()
}

//! Who sees what: every source of eyes in one spatial index, live and over
//! time.
//!
//! A straight path through the module, in the order data flows:
//!
//! - [`camera`]: a fixed camera's description and the IEC 62676-4 pixel
//!   density tiers that turn a resolution into a useful range.
//! - [`inventory`]: fixed-camera inventories in GeoJSON and CSV, with a
//!   report of the rows refused and why.
//! - [`buildings`]: building footprints with heights, and line of sight.
//! - [`footprint`]: where a camera's image lands on the ground (drones,
//!   tablets, fixed cameras), including MAVLink `CAMERA_FOV_STATUS`.
//! - [`polygon`]: flat rings and the few exact predicates everything uses.
//! - [`mask`]: privacy masks, excluded from every answer.
//! - [`index`]: the spatial index: a static packed tree for fixed cameras
//!   beside a dynamic R-tree for moving drones and tablets.
//! - [`query`]: who sees P (ranked by pixel density), zone coverage with
//!   gaps, the source that could see P soonest.
//! - [`history`]: coverage intervals persisted with a retention limit, and
//!   which sources covered a point or a path between two times.
//! - [`live`]: follows the fleet picture and keeps the index and history
//!   current.
//! - [`http`]: the `/api/v1/coverage/...` routes.
//! - `grid` (private): the uniform grid of cells behind point lookups over the
//!   fixed cameras.
//! - [`synth`]: seeded synthetic cities for benchmarks and comparisons.
//!
//! Geometry runs in the site's local metric frame ([`crate::frame`]); WGS84
//! only at the edges (files, HTTP, history rows).

pub mod buildings;
pub mod camera;
pub mod footprint;
mod grid;
pub mod history;
pub mod http;
pub mod index;
pub mod inventory;
pub mod live;
pub mod mask;
pub mod polygon;
pub mod query;
pub mod synth;

use serde::{Deserialize, Serialize};

/// What kind of source a coverage polygon comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A fixed video-protection camera from the inventory.
    FixedCamera,
    /// A drone's camera footprint.
    Drone,
    /// A patrol tablet's view sector while it streams.
    Tablet,
}

impl SourceKind {
    /// All kinds, in display order.
    pub const ALL: [SourceKind; 3] = [
        SourceKind::FixedCamera,
        SourceKind::Drone,
        SourceKind::Tablet,
    ];

    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::FixedCamera => "fixed_camera",
            SourceKind::Drone => "drone",
            SourceKind::Tablet => "tablet",
        }
    }

    /// Parses [`SourceKind::as_str`].
    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The network that owns a source: a command post interconnects several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// The city's video-protection network.
    City,
    /// Public transport operator.
    Transit,
    /// Car parks.
    Parking,
    /// Social housing landlords.
    Housing,
    /// Private premises connected under agreement.
    Private,
    /// Our own fleet: drones and patrol tablets.
    Fleet,
    /// Anything else.
    Other,
}

impl Network {
    /// All networks, in display order.
    pub const ALL: [Network; 7] = [
        Network::City,
        Network::Transit,
        Network::Parking,
        Network::Housing,
        Network::Private,
        Network::Fleet,
        Network::Other,
    ];

    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::City => "city",
            Network::Transit => "transit",
            Network::Parking => "parking",
            Network::Housing => "housing",
            Network::Private => "private",
            Network::Fleet => "fleet",
            Network::Other => "other",
        }
    }

    /// Parses a network name, accepting common synonyms (`public_transport`,
    /// `car_park`, `social_housing`, ...). Case-insensitive.
    pub fn parse(s: &str) -> Option<Network> {
        let s = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Some(match s.as_str() {
            "city" | "municipal" | "ville" => Network::City,
            "transit" | "transport" | "public_transport" | "transports" => Network::Transit,
            "parking" | "car_park" | "carpark" | "car_parks" => Network::Parking,
            "housing" | "social_housing" | "bailleur" => Network::Housing,
            "private" | "prive" => Network::Private,
            "fleet" => Network::Fleet,
            "other" | "" => Network::Other,
            _ => return None,
        })
    }
}

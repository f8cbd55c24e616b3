//! The Vigie 3D operations view (Bevy).
//!
//! How the crate fits together:
//!
//! - [`scene`]: the picture model: a site's static layers in the local
//!   frame, and [`scene::Picture`], the moving units as the API gives them.
//! - [`scenario`]: scenario files (TOML + GeoJSON) and their scripted units.
//! - [`source`]: where pictures come from (scenario, live HTTP); the one
//!   place to add the QUIC operator client and replay.
//! - [`coverage`]: a fixed camera's ground coverage and the coverage heat
//!   map with its gaps, on the CPU.
//! - [`meshes`]: batched meshes, one per layer, from scene data.
//! - [`plan`]: plan mode: an event file, the plan to edit by hand, the
//!   planner on a thread, the coverage figure as things move.
//! - [`view`]: the orbit camera and the projection tests use to find pixels.
//! - [`palette`], [`layers`], [`fonts`]: colours (checked under simulated
//!   colour-vision deficiency), toggleable layers, the shipped fonts;
//!   [`i18n`] the interface in French and English; [`legend`] the legend,
//!   north arrow, scale bar and the base map's attribution; [`labels`]
//!   names on the map (units, incidents, zones, landmarks) placed without
//!   overlap.
//! - [`app`]: the Bevy app; [`units`] (markers, footprints, heat map),
//!   [`controls`] (input), [`panels`] (overlays), [`capture`] (screenshots)
//!   are its systems, with [`timebar`] (the replay's timeline bar);
//!   [`site`] rebuilds cameras, masks and incidents when a live ground
//!   server sends its own.

pub mod app;
pub mod capture;
pub mod controls;
pub mod coverage;
pub mod fonts;
pub mod i18n;
pub mod labels;
pub mod layers;
pub mod legend;
pub mod meshes;
pub mod palette;
pub mod panels;
pub mod plan;
pub mod scenario;
pub mod scene;
pub mod site;
pub mod source;
pub mod timebar;
pub mod units;
pub mod view;

//! Who sees what: camera footprints and the spatial index over them.
//!
//! - [`footprint`]: where a camera's image lands on the ground.

pub mod footprint;

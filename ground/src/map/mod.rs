//! What maps are drawn with, on screen (the viewer) and on paper (the
//! planner's report maps): one base map, one way to place labels, one pair
//! of typefaces.
//!
//! - [`base`]: the base map people orient by (water, parks, streets,
//!   landmarks) and the attribution its licence asks for, from an offline
//!   GeoJSON file.
//! - [`labels`]: label placement without overlap, greedy by rank.
//! - [`text`]: the shipped DejaVu typefaces, text drawn into images, and
//!   the pixel blending both text and report maps use.
//! - [`scale`]: scale bars' round lengths.

pub mod base;
pub mod labels;
pub mod scale;
pub mod text;

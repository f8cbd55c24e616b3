//! Helpers shared by end-to-end tests. Each test binary compiles this module
//! and uses part of it.
#![allow(dead_code)]

pub mod api;
pub mod render;
pub mod server;
pub mod skip;
pub mod video;

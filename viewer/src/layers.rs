//! Layers the operator turns on and off, with their keys. The ground and
//! privacy masks are not layers: they are always drawn (masks by design).

use bevy::input::keyboard::KeyCode;
use bevy::prelude::{Component, Resource};

/// A toggleable layer of the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Component)]
pub enum Layer {
    /// Extruded buildings.
    Buildings,
    /// The base map: water, parks, street ribbons and landmark labels.
    Map,
    /// Event, no-fly and drone-perimeter volumes.
    Zones,
    /// Fixed camera masts and frustum lines.
    Cameras,
    /// Fixed cameras' ground coverage, coloured by owner network.
    Coverage,
    /// Heat map of how many sources see each cell, with gaps in red.
    HeatMap,
    /// Drones: markers, footprints, trails and altitude lines.
    Drones,
    /// Patrol markers coloured by status.
    Patrols,
    /// Incidents and links to their suggested units.
    Incidents,
    /// Text overlays: status bar and details panel.
    Hud,
}

impl Layer {
    /// Every layer, in key order.
    pub const ALL: [Layer; 10] = [
        Layer::Buildings,
        Layer::Map,
        Layer::Zones,
        Layer::Cameras,
        Layer::Coverage,
        Layer::HeatMap,
        Layer::Drones,
        Layer::Patrols,
        Layer::Incidents,
        Layer::Hud,
    ];

    /// Name used on the command line (`--layers`) and in the help.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Buildings => "buildings",
            Layer::Map => "map",
            Layer::Zones => "zones",
            Layer::Cameras => "cameras",
            Layer::Coverage => "coverage",
            Layer::HeatMap => "heatmap",
            Layer::Drones => "drones",
            Layer::Patrols => "patrols",
            Layer::Incidents => "incidents",
            Layer::Hud => "hud",
        }
    }

    /// The key that toggles it.
    pub fn key(self) -> (KeyCode, &'static str) {
        match self {
            Layer::Buildings => (KeyCode::Digit1, "1"),
            Layer::Map => (KeyCode::Digit2, "2"),
            Layer::Zones => (KeyCode::Digit3, "3"),
            Layer::Cameras => (KeyCode::Digit4, "4"),
            Layer::Coverage => (KeyCode::Digit5, "5"),
            Layer::HeatMap => (KeyCode::Digit6, "6"),
            Layer::Drones => (KeyCode::Digit7, "7"),
            Layer::Patrols => (KeyCode::Digit8, "8"),
            Layer::Incidents => (KeyCode::Digit9, "9"),
            Layer::Hud => (KeyCode::Digit0, "0"),
        }
    }

    /// Parses a layer name (`streets`, its name before the base map had
    /// water and landmarks, is read as `map`).
    pub fn parse(s: &str) -> Option<Layer> {
        match s {
            "streets" => Some(Layer::Map),
            _ => Layer::ALL.into_iter().find(|l| l.name() == s),
        }
    }
}

/// Which layers are shown.
#[derive(Debug, Clone, PartialEq, Eq, Resource)]
pub struct Layers {
    /// Shown layers, in [`Layer::ALL`] order.
    shown: [bool; Layer::ALL.len()],
}

impl Default for Layers {
    /// Everything but the heat map, which hides the coverage colours.
    fn default() -> Layers {
        let mut l = Layers {
            shown: [true; Layer::ALL.len()],
        };
        l.set(Layer::HeatMap, false);
        l
    }
}

impl Layers {
    /// Only the named layers, from a comma-separated list (`--layers`).
    pub fn parse_list(list: &str) -> Result<Layers, String> {
        let mut l = Layers {
            shown: [false; Layer::ALL.len()],
        };
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let layer = Layer::parse(name).ok_or_else(|| {
                let names: Vec<_> = Layer::ALL.iter().map(|l| l.name()).collect();
                format!("unknown layer {name:?}: use some of {}", names.join(","))
            })?;
            l.set(layer, true);
        }
        Ok(l)
    }

    fn index(layer: Layer) -> usize {
        Layer::ALL.iter().position(|&l| l == layer).unwrap_or(0)
    }

    /// Whether `layer` is shown.
    pub fn shown(&self, layer: Layer) -> bool {
        self.shown[Layers::index(layer)]
    }

    /// Shows or hides `layer`.
    pub fn set(&mut self, layer: Layer, shown: bool) {
        self.shown[Layers::index(layer)] = shown;
    }

    /// Flips `layer`.
    pub fn toggle(&mut self, layer: Layer) {
        let i = Layers::index(layer);
        self.shown[i] = !self.shown[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_selects_exactly_the_named_layers() {
        let l = Layers::parse_list("coverage, drones").expect("valid");
        assert!(l.shown(Layer::Coverage) && l.shown(Layer::Drones));
        assert!(!l.shown(Layer::Buildings) && !l.shown(Layer::Hud));
        let e = Layers::parse_list("drones,trees").expect_err("unknown");
        assert!(e.contains("trees") && e.contains("heatmap"));
    }

    #[test]
    fn every_layer_has_its_own_key() {
        let mut keys: Vec<_> = Layer::ALL.iter().map(|l| l.key().1).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), Layer::ALL.len());
    }
}

//! The base map people orient by: water, parks, streets and landmarks, from
//! a GeoJSON file a deployment has offline (OpenStreetMap-derived or the
//! city's GIS export), with the attribution its licence asks for.
//!
//! One file, one feature per thing, its `kind` property saying what it is:
//!
//! | `kind` | geometry | properties |
//! |---|---|---|
//! | `water` | Polygon, MultiPolygon | `name` |
//! | `park` | Polygon, MultiPolygon | `name` |
//! | `street` | LineString, MultiLineString | `name`, `width_m` |
//! | `landmark` | Point (or Polygon: its centre) | `name` (required) |
//!
//! The collection's foreign members `attribution` (shown on every map
//! drawn with it) and `source` (what it was made from) travel with the data
//! (RFC 7946 §6.1 allows them): an OpenStreetMap extract says
//! `"© OpenStreetMap contributors, ODbL"`. Positions stay WGS84 `[lon, lat]`
//! here; each reader puts them in its own frame.

use std::fmt;

use serde_json::Value;

use crate::geojson;

/// What a base map holds, WGS84.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BaseMap {
    /// Rivers, canals, lakes: areas.
    pub water: Vec<Area>,
    /// Parks and gardens: areas.
    pub parks: Vec<Area>,
    /// Streets as centre lines.
    pub streets: Vec<StreetLine>,
    /// Named places to orient by.
    pub landmarks: Vec<Landmark>,
    /// What the licence asks to be shown with the map; empty if the file
    /// gives none.
    pub attribution: String,
    /// What the data was made from, as the file states it.
    pub source: String,
}

/// A named area, its outer ring `[lon, lat]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Name, possibly empty.
    pub name: String,
    /// Outer ring, `[lon, lat]` degrees.
    pub ring: Vec<[f64; 2]>,
}

/// A street's centre line.
#[derive(Debug, Clone, PartialEq)]
pub struct StreetLine {
    /// Name, possibly empty.
    pub name: String,
    /// Centre line, `[lon, lat]` degrees.
    pub line: Vec<[f64; 2]>,
    /// Width between the kerbs, metres.
    pub width_m: f64,
}

/// A named place.
#[derive(Debug, Clone, PartialEq)]
pub struct Landmark {
    /// Name, as people say it (the label).
    pub name: String,
    /// Where the label stands, `[lon, lat]` degrees.
    pub at: [f64; 2],
}

/// Street width when a street gives none, metres.
pub const DEFAULT_STREET_WIDTH_M: f64 = 10.0;

/// Why a base map file was refused: which feature and what to change.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseMapError {
    /// Index of the feature in the collection (from 0), if one is at fault.
    pub feature: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for BaseMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.feature {
            Some(i) => write!(f, "feature {i}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for BaseMapError {}

impl BaseMap {
    /// Reads a base map from GeoJSON text.
    pub fn parse(text: &str) -> Result<BaseMap, BaseMapError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| BaseMapError {
            feature: None,
            message: format!("not JSON: {e}"),
        })?;
        BaseMap::from_geojson(&doc)
    }

    /// Reads a base map from a parsed GeoJSON document.
    pub fn from_geojson(doc: &Value) -> Result<BaseMap, BaseMapError> {
        let member = |k: &str| {
            doc.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut map = BaseMap {
            attribution: member("attribution"),
            source: member("source"),
            ..BaseMap::default()
        };
        for (i, (props, geometry)) in geojson::features(doc).into_iter().enumerate() {
            let bad = |message: String| BaseMapError {
                feature: Some(i),
                message,
            };
            let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_owned);
            let name = text("name").unwrap_or_default();
            let kind = text("kind").ok_or_else(|| {
                bad("a base map feature needs a `kind`: water, park, street or landmark".into())
            })?;
            let rings = || {
                let rings: Vec<_> = geojson::outer_rings(geometry)
                    .into_iter()
                    .filter(|r| r.len() >= 3)
                    .collect();
                checked(rings, 3, "a Polygon of three points or more").map_err(&bad)
            };
            match kind.as_str() {
                "water" | "park" => {
                    let areas = rings()?.into_iter().map(|ring| Area {
                        name: name.clone(),
                        ring,
                    });
                    if kind == "water" {
                        map.water.extend(areas);
                    } else {
                        map.parks.extend(areas);
                    }
                }
                "street" => {
                    let lines: Vec<_> = geojson::lines(geometry)
                        .into_iter()
                        .filter(|l| l.len() >= 2)
                        .collect();
                    let width_m = match props.get("width_m") {
                        None => DEFAULT_STREET_WIDTH_M,
                        Some(w) => w
                            .as_f64()
                            .filter(|w| w.is_finite() && *w > 0.0)
                            .ok_or_else(|| bad(format!("width_m {w} is not a positive number")))?,
                    };
                    for line in
                        checked(lines, 2, "a LineString of two points or more").map_err(&bad)?
                    {
                        map.streets.push(StreetLine {
                            name: name.clone(),
                            line,
                            width_m,
                        });
                    }
                }
                "landmark" => {
                    if name.trim().is_empty() {
                        return Err(bad("a landmark needs a `name` (it is its label)".into()));
                    }
                    let at = match geojson::point(geometry) {
                        Some(p) => p,
                        None => {
                            let rings = rings()?;
                            centre(&rings[0])
                        }
                    };
                    if !geojson::is_lon_lat(at) {
                        return Err(bad(format!("{at:?} is not [lon, lat] in degrees")));
                    }
                    map.landmarks.push(Landmark { name, at });
                }
                other => {
                    return Err(bad(format!(
                        "kind {other:?} unknown: use water, park, street or landmark"
                    )));
                }
            }
        }
        Ok(map)
    }

    /// Whether the map holds nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.water.is_empty()
            && self.parks.is_empty()
            && self.streets.is_empty()
            && self.landmarks.is_empty()
    }
}

/// `shapes` if it holds at least one and every position is `[lon, lat]`.
fn checked(
    shapes: Vec<Vec<[f64; 2]>>,
    min: usize,
    what: &str,
) -> Result<Vec<Vec<[f64; 2]>>, String> {
    if shapes.is_empty() {
        return Err(format!("needs {what}"));
    }
    for s in &shapes {
        debug_assert!(s.len() >= min);
        if let Some(p) = s.iter().find(|p| !geojson::is_lon_lat(**p)) {
            return Err(format!("{p:?} is not [lon, lat] in degrees"));
        }
    }
    Ok(shapes)
}

/// The mean of a ring's distinct vertices (the closing point counted once).
fn centre(ring: &[[f64; 2]]) -> [f64; 2] {
    let pts = match (ring.first(), ring.last()) {
        (Some(a), Some(b)) if a == b && ring.len() > 1 => &ring[..ring.len() - 1],
        _ => ring,
    };
    let n = pts.len().max(1) as f64;
    let (x, y) = pts
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
    [x / n, y / n]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "type": "FeatureCollection",
      "attribution": "© OpenStreetMap contributors, ODbL",
      "source": "test",
      "features": [
        {"type": "Feature", "properties": {"kind": "water", "name": "La Seine"},
         "geometry": {"type": "Polygon", "coordinates": [[[2.29, 48.85], [2.30, 48.85], [2.30, 48.86], [2.29, 48.85]]]}},
        {"type": "Feature", "properties": {"kind": "street", "name": "Quai Branly", "width_m": 20},
         "geometry": {"type": "LineString", "coordinates": [[2.29, 48.85], [2.30, 48.86]]}},
        {"type": "Feature", "properties": {"kind": "landmark", "name": "Trocadéro"},
         "geometry": {"type": "Point", "coordinates": [2.2875, 48.8620]}},
        {"type": "Feature", "properties": {"kind": "landmark", "name": "Tour Eiffel"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}}
      ]
    }"#;

    #[test]
    fn reads_every_kind_and_the_attribution() {
        let m = BaseMap::parse(SAMPLE).unwrap();
        assert_eq!(m.attribution, "© OpenStreetMap contributors, ODbL");
        assert_eq!(m.water.len(), 1);
        assert_eq!(m.water[0].name, "La Seine");
        assert_eq!(m.streets[0].width_m, 20.0);
        assert_eq!(m.landmarks[0].name, "Trocadéro");
        // A polygon landmark's label stands at its centre, the closing
        // vertex counted once.
        assert_eq!(m.landmarks[1].at, [1.0, 1.0]);
        assert!(!m.is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_draw_and_names_the_feature() {
        let one = |props: &str, geometry: &str| {
            BaseMap::parse(&format!(
                r#"{{"type": "FeatureCollection", "features": [
                  {{"type": "Feature", "properties": {{"kind": "park"}},
                    "geometry": {{"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]}}}},
                  {{"type": "Feature", "properties": {props}, "geometry": {geometry}}}]}}"#
            ))
            .unwrap_err()
        };
        let pt = r#"{"type": "Point", "coordinates": [2.3, 48.8]}"#;
        let e = one(r#"{"name": "x"}"#, pt);
        assert_eq!(e.feature, Some(1));
        assert!(e.message.contains("kind"), "{e}");
        assert!(one(r#"{"kind": "lava"}"#, pt).message.contains("lava"));
        assert!(one(r#"{"kind": "landmark"}"#, pt).message.contains("name"));
        assert!(one(r#"{"kind": "water"}"#, pt).message.contains("Polygon"));
        assert!(
            one(
                r#"{"kind": "street", "width_m": -3}"#,
                r#"{"type": "LineString", "coordinates": [[0,0],[1,1]]}"#
            )
            .message
            .contains("width_m")
        );
        assert!(
            one(
                r#"{"kind": "landmark", "name": "x"}"#,
                r#"{"type": "Point", "coordinates": [48.8, 200]}"#
            )
            .message
            .contains("lon, lat")
        );
        assert!(BaseMap::parse("{").unwrap_err().message.contains("JSON"));
    }
}

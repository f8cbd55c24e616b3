//! Fixed-camera inventories, buildings and privacy masks as files.
//!
//! Cameras come as CSV (one camera per row, a header naming the columns) or
//! as a GeoJSON FeatureCollection of Points whose properties use the same
//! names. A bad row never stops an import: it is reported with its row
//! number and why, and the rest goes in.
//!
//! Columns (aliases in parentheses): `id`, `network` (`owner`), `lat`
//! (`lat_deg`, `latitude`), `lon` (`lon_deg`, `lng`, `longitude`),
//! `mount_height_m` (`height_m`, `height`), `heading_deg` (`heading`,
//! `azimuth`), `tilt_deg` (`tilt`, `pitch_deg`) (negative looks down;
//! default: top of the image on the horizon), `hfov_deg` (`hfov`, `fov`),
//! `range_m` (`range`), `resolution_px` (`resolution`, `width_px`),
//! `range_tier` (`detection`, `observation`, `recognition`, `identification`;
//! default detection), `ptz` (`true`/`false`/`1`/`0`/`yes`/`no`), `name`.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Network;
use super::buildings::Building;
use super::camera::{FixedCamera, Optics, Tier};
use super::polygon::{Pt, closed};
use crate::frame::LocalFrame;

/// Height given to a building whose file gives neither a height nor a
/// number of levels, metres (a typical Paris building is 15–20 m; erring
/// low claims a little more coverage than a true 18 m would).
pub const DEFAULT_BUILDING_HEIGHT_M: f64 = 10.0;
/// Height of one storey when only `building:levels` is given, metres.
pub const LEVEL_HEIGHT_M: f64 = 3.0;

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not in a format we read.
    #[error("{0}")]
    Format(String),
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// CSV line number (header = 1) or GeoJSON feature number (first = 1).
    pub row: usize,
    /// The row's id, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What was wrong and what to do.
    pub reason: String,
}

/// The result of reading an inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Import {
    /// Cameras accepted.
    pub cameras: Vec<FixedCamera>,
    /// Rows refused.
    pub rejected: Vec<Rejected>,
}

/// Reads a camera inventory, CSV or GeoJSON by extension (`.csv`;
/// `.geojson` or `.json`).
pub fn load_cameras(path: &Path, optics: &Optics) -> Result<Import, InventoryError> {
    let text = read(path)?;
    match extension(path).as_str() {
        "csv" => parse_csv(&text, optics),
        "geojson" | "json" => parse_geojson(&text, optics),
        other => Err(InventoryError::Format(format!(
            "{}: unknown extension {other:?}: use .csv or .geojson",
            path.display()
        ))),
    }
}

fn read(path: &Path) -> Result<String, InventoryError> {
    std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Splits CSV text into records (RFC 4180: quoted fields, doubled quotes,
/// newlines inside quotes), each with its starting line number.
pub fn csv_records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut records = Vec::new();
    let mut field = String::new();
    let mut record = Vec::new();
    let (mut line, mut start) = (1usize, 1usize);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                if !(record.len() == 1 && record[0].trim().is_empty()) {
                    records.push((start, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                start = line;
            }
            (_, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push((start, record));
    }
    records
}

/// Quotes a CSV field when it needs it.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

const ALIASES: &[(&str, &[&str])] = &[
    ("id", &["id", "camera_id"]),
    ("network", &["network", "owner", "owner_network"]),
    ("lat", &["lat", "lat_deg", "latitude"]),
    ("lon", &["lon", "lon_deg", "lng", "longitude"]),
    ("mount_height_m", &["mount_height_m", "height_m", "height"]),
    (
        "heading_deg",
        &["heading_deg", "heading", "azimuth", "azimuth_deg"],
    ),
    ("tilt_deg", &["tilt_deg", "tilt", "pitch_deg"]),
    ("hfov_deg", &["hfov_deg", "hfov", "fov", "fov_deg"]),
    ("range_m", &["range_m", "range", "useful_range_m"]),
    (
        "resolution_px",
        &["resolution_px", "resolution", "width_px"],
    ),
    ("range_tier", &["range_tier", "tier"]),
    ("ptz", &["ptz"]),
    ("name", &["name", "label"]),
];

fn canonical(column: &str) -> Option<&'static str> {
    let c = column.trim().to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&c.as_str()))
        .map(|(k, _)| *k)
}

/// Builds a camera from named string values; the error says which field.
fn camera_from(
    get: &dyn Fn(&str) -> Option<String>,
    optics: &Optics,
) -> Result<FixedCamera, String> {
    let text = |k: &str| {
        get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let num = |k: &str| -> Result<Option<f64>, String> {
        match text(k) {
            None => Ok(None),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| format!("{k} = {v:?} is not a number")),
        }
    };
    let need = |k: &str| num(k)?.ok_or_else(|| format!("{k} is missing"));
    let id = text("id").ok_or("id is missing")?;
    let network = match text("network") {
        None => Network::Other,
        Some(n) => Network::parse(&n).ok_or_else(|| {
            format!(
                "network {n:?} is unknown: use city, transit, parking, housing, private or other"
            )
        })?,
    };
    let hfov_deg = need("hfov_deg")?;
    let resolution_px = match num("resolution_px")? {
        None => None,
        Some(v) if (1.0..=100_000.0).contains(&v) && v.fract() == 0.0 => Some(v as u32),
        Some(v) => {
            return Err(format!(
                "resolution_px = {v} must be a whole number of pixels (1..100000)"
            ));
        }
    };
    let range_tier = match text("range_tier") {
        None => optics.range_tier,
        Some(t) => Tier::parse(&t).ok_or_else(|| {
            format!("range_tier {t:?} is unknown: use detection, observation, recognition or identification")
        })?,
    };
    let ptz = match text("ptz").map(|v| v.to_ascii_lowercase()) {
        None => false,
        Some(v) if ["true", "1", "yes", "y"].contains(&v.as_str()) => true,
        Some(v) if ["false", "0", "no", "n"].contains(&v.as_str()) => false,
        Some(v) => return Err(format!("ptz = {v:?} must be true or false")),
    };
    let mut cam = FixedCamera {
        id,
        network,
        lat_deg: need("lat")?,
        lon_deg: need("lon")?,
        mount_height_m: need("mount_height_m")?,
        heading_deg: need("heading_deg")?,
        tilt_deg: 0.0,
        hfov_deg,
        range_m: num("range_m")?,
        resolution_px,
        range_tier,
        ptz,
        name: text("name"),
    };
    cam.tilt_deg = match num("tilt_deg")? {
        Some(t) => t,
        None => -cam.vfov_deg(optics) / 2.0,
    };
    cam.validate()?;
    Ok(cam)
}

fn push_camera(
    import: &mut Import,
    seen: &mut HashMap<String, usize>,
    row: usize,
    result: Result<FixedCamera, String>,
    id: Option<String>,
) {
    match result {
        Ok(cam) => match seen.get(&cam.id) {
            Some(first) => import.rejected.push(Rejected {
                row,
                id: Some(cam.id.clone()),
                reason: format!(
                    "duplicate id (first at row {first}): ids must be unique across networks"
                ),
            }),
            None => {
                seen.insert(cam.id.clone(), row);
                import.cameras.push(cam);
            }
        },
        Err(reason) => import.rejected.push(Rejected { row, id, reason }),
    }
}

/// Reads a CSV inventory.
pub fn parse_csv(text: &str, optics: &Optics) -> Result<Import, InventoryError> {
    let mut records = csv_records(text.trim_start_matches('\u{feff}')).into_iter();
    let (_, header) = records.next().ok_or_else(|| {
        InventoryError::Format("empty CSV: the first line must name the columns".into())
    })?;
    let columns: Vec<Option<&'static str>> = header.iter().map(|h| canonical(h)).collect();
    for required in [
        "id",
        "lat",
        "lon",
        "mount_height_m",
        "heading_deg",
        "hfov_deg",
    ] {
        if !columns.contains(&Some(required)) {
            return Err(InventoryError::Format(format!(
                "CSV header has no {required} column (found: {}); see `vigie cameras import --help` for the columns",
                header.join(", ")
            )));
        }
    }
    let mut import = Import::default();
    let mut seen = HashMap::new();
    for (line, fields) in records {
        let get = |k: &str| {
            columns
                .iter()
                .position(|c| *c == Some(k))
                .and_then(|i| fields.get(i).cloned())
        };
        let result = if fields.len() != header.len() {
            Err(format!(
                "{} fields where the header has {}",
                fields.len(),
                header.len()
            ))
        } else {
            camera_from(&get, optics)
        };
        push_camera(
            &mut import,
            &mut seen,
            line,
            result,
            get("id").filter(|s| !s.is_empty()),
        );
    }
    Ok(import)
}

fn features(text: &str) -> Result<Vec<Value>, InventoryError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| InventoryError::Format(format!("not valid JSON: {e}")))?;
    match v.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => Ok(v
            .get("features")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()),
        Some("Feature") => Ok(vec![v]),
        _ => Err(InventoryError::Format(
            "expected a GeoJSON FeatureCollection".into(),
        )),
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads a GeoJSON inventory (Point features).
pub fn parse_geojson(text: &str, optics: &Optics) -> Result<Import, InventoryError> {
    let mut import = Import::default();
    let mut seen = HashMap::new();
    for (i, f) in features(text)?.iter().enumerate() {
        let props = f.get("properties").and_then(Value::as_object);
        let coords = f
            .get("geometry")
            .filter(|g| g.get("type").and_then(Value::as_str) == Some("Point"))
            .and_then(|g| g.get("coordinates"))
            .and_then(Value::as_array);
        let get = |k: &str| -> Option<String> {
            match (k, coords) {
                ("lon", Some(c)) => c.first().and_then(value_text),
                ("lat", Some(c)) => c.get(1).and_then(value_text),
                _ => props.and_then(|p| {
                    p.iter()
                        .find(|(name, _)| canonical(name) == Some(k))
                        .and_then(|(_, v)| value_text(v))
                }),
            }
        };
        let result = if coords.is_none() {
            Err("geometry is not a Point: a camera is a point with properties".to_string())
        } else {
            camera_from(&get, optics)
        };
        push_camera(&mut import, &mut seen, i + 1, result, get("id"));
    }
    Ok(import)
}

/// The inventory as CSV, with the canonical header.
pub fn to_csv(cameras: &[FixedCamera]) -> String {
    let mut out = String::from(
        "id,network,lat,lon,mount_height_m,heading_deg,tilt_deg,hfov_deg,range_m,resolution_px,range_tier,ptz,name\n",
    );
    for c in cameras {
        let opt = |v: Option<String>| v.unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(&c.id),
            c.network.as_str(),
            c.lat_deg,
            c.lon_deg,
            c.mount_height_m,
            c.heading_deg,
            c.tilt_deg,
            c.hfov_deg,
            opt(c.range_m.map(|r| r.to_string())),
            opt(c.resolution_px.map(|r| r.to_string())),
            c.range_tier.as_str(),
            c.ptz,
            csv_field(c.name.as_deref().unwrap_or("")),
        ));
    }
    out
}

/// The inventory as a GeoJSON FeatureCollection of Points; with `frame`
/// given, each feature also carries its coverage ring (`coverage`
/// property, `[lon, lat]` pairs) as computed without buildings.
pub fn to_geojson(cameras: &[FixedCamera]) -> Value {
    let features: Vec<Value> = cameras
        .iter()
        .map(|c| {
            let mut props = serde_json::to_value(c).unwrap_or(Value::Null);
            if let Some(o) = props.as_object_mut() {
                o.remove("lat_deg");
                o.remove("lon_deg");
                o.insert("computed_range_m".into(), json!(c.useful_range_m()));
            }
            json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [c.lon_deg, c.lat_deg]},
                "properties": props,
            })
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

fn to_local_ring(frame: &LocalFrame, lonlat: &[[f64; 2]]) -> Option<Vec<Pt>> {
    closed(
        lonlat
            .iter()
            .map(|p| {
                let (e, n) = frame.to_local(p[1], p[0]);
                [e, n]
            })
            .collect(),
    )
}

/// Reads building footprints (Polygon/MultiPolygon features) with heights
/// from `height`/`height_m` (metres) or `building:levels`/`levels` (times
/// [`LEVEL_HEIGHT_M`]), else [`DEFAULT_BUILDING_HEIGHT_M`].
pub fn parse_buildings(
    text: &str,
    frame: &LocalFrame,
) -> Result<(Vec<Building>, Vec<Rejected>), InventoryError> {
    let mut buildings = Vec::new();
    let mut rejected = Vec::new();
    for (i, f) in features(text)?.iter().enumerate() {
        let props = f.get("properties");
        let num = |k: &str| {
            props.and_then(|p| p.get(k)).and_then(|v| {
                v.as_f64().or_else(|| {
                    v.as_str()
                        .and_then(|s| s.trim().trim_end_matches('m').trim().parse().ok())
                })
            })
        };
        let height = num("height_m")
            .or_else(|| num("height"))
            .or_else(|| {
                num("building:levels")
                    .or_else(|| num("levels"))
                    .map(|l| l * LEVEL_HEIGHT_M)
            })
            .unwrap_or(DEFAULT_BUILDING_HEIGHT_M);
        let Some(rings) = polygon_rings(f, i + 1, &mut rejected) else {
            continue;
        };
        if !(height > 0.0 && height < 1000.0) {
            rejected.push(Rejected {
                row: i + 1,
                id: None,
                reason: format!("height {height} m must be within 0..1000"),
            });
            continue;
        }
        for r in rings {
            match to_local_ring(frame, &r) {
                Some(ring) => buildings.push(Building {
                    ring,
                    height_m: height,
                }),
                None => rejected.push(Rejected {
                    row: i + 1,
                    id: None,
                    reason: "footprint ring has fewer than 3 points".into(),
                }),
            }
        }
    }
    Ok((buildings, rejected))
}

/// The outer rings of a Polygon or MultiPolygon feature; `None`, with row
/// `row` rejected and why, for any other geometry.
fn polygon_rings(
    f: &serde_json::Value,
    row: usize,
    rejected: &mut Vec<Rejected>,
) -> Option<Vec<Vec<[f64; 2]>>> {
    let rings = f
        .get("geometry")
        .map(crate::geojson::outer_rings)
        .unwrap_or_default();
    if rings.is_empty() {
        rejected.push(Rejected {
            row,
            id: None,
            reason: "geometry is not a Polygon or MultiPolygon".into(),
        });
        return None;
    }
    Some(rings)
}

/// Reads privacy masks (Polygon/MultiPolygon features) as local rings.
pub fn parse_masks(
    text: &str,
    frame: &LocalFrame,
) -> Result<(Vec<Vec<Pt>>, Vec<Rejected>), InventoryError> {
    let mut masks = Vec::new();
    let mut rejected = Vec::new();
    for (i, f) in features(text)?.iter().enumerate() {
        for r in polygon_rings(f, i + 1, &mut rejected).unwrap_or_default() {
            match to_local_ring(frame, &r) {
                Some(ring) => masks.push(ring),
                None => rejected.push(Rejected {
                    row: i + 1,
                    id: None,
                    reason: "mask ring has fewer than 3 points".into(),
                }),
            }
        }
    }
    Ok((masks, rejected))
}

/// Reads a GeoJSON layer file (buildings or masks) from disk.
pub fn read_layer(path: &Path) -> Result<String, InventoryError> {
    read(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "id,owner,lat,lon,height_m,heading,tilt,hfov,range_m,resolution_px,tier,ptz,name\n\
        c1,city,48.9,2.36,6,90,-10,60,40,,,no,\"Gare, north\"\n\
        c2,transit,48.901,2.361,5,180,-15,90,,1920,recognition,yes,\n\
        c3,nowhere,48.9,2.36,6,90,-10,60,40,,,no,\n\
        c4,city,48.9,2.36,6,90,-10,260,40,,,no,\n\
        c1,city,48.9,2.36,6,90,-10,60,40,,,no,\n\
        c5,city,48.9,2.36,6,90\n\
        c6,city,48.9,2.36,abc,90,-10,60,40,,,no,\n";

    #[test]
    fn csv_import_reports_each_bad_row_and_why() {
        let imp = parse_csv(CSV, &Optics::default()).unwrap();
        let ids: Vec<_> = imp.cameras.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
        assert_eq!(imp.cameras[0].name.as_deref(), Some("Gare, north"));
        assert!(imp.cameras[1].ptz && imp.cameras[1].range_tier == Tier::Recognition);
        let reasons: Vec<(usize, &str)> = imp
            .rejected
            .iter()
            .map(|r| (r.row, r.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(reasons[0].0 == 4 && reasons[0].1.contains("network"));
        assert!(reasons[1].1.contains("hfov_deg"));
        assert!(reasons[2].1.contains("duplicate id (first at row 2)"));
        assert!(reasons[3].1.contains("fields"));
        assert!(reasons[4].1.contains("mount_height_m"));
    }

    #[test]
    fn csv_and_geojson_round_trip() {
        let imp = parse_csv(CSV, &Optics::default()).unwrap();
        let again = parse_csv(&to_csv(&imp.cameras), &Optics::default()).unwrap();
        assert_eq!(again.cameras, imp.cameras);
        assert!(again.rejected.is_empty());
        let gj = to_geojson(&imp.cameras).to_string();
        let back = parse_geojson(&gj, &Optics::default()).unwrap();
        assert_eq!(back.cameras, imp.cameras, "{:?}", back.rejected);
    }

    #[test]
    fn missing_column_is_a_file_error() {
        let err = parse_csv("id,lat,lon\n1,2,3\n", &Optics::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("mount_height_m"), "{err}");
    }

    #[test]
    fn buildings_take_levels_or_default_height() {
        let frame = LocalFrame::new(48.9, 2.36);
        let gj = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"building:levels":"5"},"geometry":{"type":"Polygon","coordinates":[[[2.36,48.9],[2.3601,48.9],[2.3601,48.9001],[2.36,48.9]]]}},
          {"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[2.36,48.9],[2.3601,48.9],[2.3601,48.9001]]]}},
          {"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[2.36,48.9]}}]}"#;
        let (b, rej) = parse_buildings(gj, &frame).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].height_m, 15.0);
        assert_eq!(b[1].height_m, DEFAULT_BUILDING_HEIGHT_M);
        assert_eq!(rej.len(), 1);
    }
}

//! Reading GeoJSON (RFC 7946) as deployments' files give it: one reader for
//! event areas, street networks, buildings, privacy masks, camera points and
//! authorisation perimeters. Positions are `[lon, lat]` in degrees; what a
//! caller accepts (rings of three points, lines of two, points on the
//! site) it checks itself, with its own message.

use serde_json::Value;

/// The features of a document, as (properties, geometry): every feature of
/// a FeatureCollection in order, a lone Feature, or a bare geometry (no
/// properties). What a feature lacks is [`Value::Null`]: a feature without
/// a geometry is still listed, so that a caller numbering rows can name it,
/// and the readers below find nothing in it.
pub fn features(doc: &Value) -> Vec<(&Value, &Value)> {
    static NULL: Value = Value::Null;
    fn part<'a>(f: &'a Value, key: &str) -> &'a Value {
        f.get(key).unwrap_or(&NULL)
    }
    match doc.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => doc
            .get("features")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|f| (part(f, "properties"), part(f, "geometry")))
            .collect(),
        Some("Feature") => vec![(part(doc, "properties"), part(doc, "geometry"))],
        _ => vec![(&NULL, doc)],
    }
}

/// The geometry's type name (`"Point"`, `"Polygon"`…).
pub fn kind(geometry: &Value) -> Option<&str> {
    geometry.get("type").and_then(Value::as_str)
}

/// One position, `[lon, lat]`.
pub fn position(v: &Value) -> Option<[f64; 2]> {
    let a = v.as_array()?;
    Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?])
}

/// A list of positions; `None` if any is not two numbers.
pub fn positions(v: &Value) -> Option<Vec<[f64; 2]>> {
    v.as_array()?.iter().map(position).collect()
}

/// A Point geometry's position.
pub fn point(geometry: &Value) -> Option<[f64; 2]> {
    (kind(geometry) == Some("Point"))
        .then(|| geometry.get("coordinates").and_then(position))
        .flatten()
}

/// The outer rings of a Polygon or MultiPolygon geometry (holes are not
/// read); nothing for other types.
pub fn outer_rings(geometry: &Value) -> Vec<Vec<[f64; 2]>> {
    let coords = geometry.get("coordinates").and_then(Value::as_array);
    let first_ring = |poly: &Value| poly.as_array()?.first().and_then(positions);
    match kind(geometry) {
        Some("Polygon") => coords
            .and_then(|rings| rings.first())
            .and_then(positions)
            .into_iter()
            .collect(),
        Some("MultiPolygon") => coords
            .into_iter()
            .flatten()
            .filter_map(first_ring)
            .collect(),
        _ => Vec::new(),
    }
}

/// The lines of a LineString or MultiLineString geometry; nothing for other
/// types.
pub fn lines(geometry: &Value) -> Vec<Vec<[f64; 2]>> {
    let coords = geometry.get("coordinates");
    match kind(geometry) {
        Some("LineString") => coords.and_then(positions).into_iter().collect(),
        Some("MultiLineString") => coords
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(positions)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `p` is `[lon, lat]` within the degrees' ranges.
pub fn is_lon_lat(p: [f64; 2]) -> bool {
    (-180.0..=180.0).contains(&p[0]) && (-90.0..=90.0).contains(&p[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_features_and_bare_geometries_read_alike() {
        let line =
            serde_json::json!({"type": "LineString", "coordinates": [[2.0, 48.0], [2.1, 48.1]]});
        let feature = serde_json::json!({"type": "Feature", "properties": {"name": "Rue A"}, "geometry": line});
        let collection = serde_json::json!({"type": "FeatureCollection", "features": [
            feature,
            {"type": "Feature", "properties": {}, "geometry": null},
            {"type": "Feature", "properties": {}},
        ]});
        for doc in [&line, &feature, &collection] {
            let fs = features(doc);
            let lines: Vec<_> = fs.iter().flat_map(|(_, g)| lines(g)).collect();
            assert_eq!(lines, vec![vec![[2.0, 48.0], [2.1, 48.1]]], "{doc}");
        }
        assert_eq!(features(&collection)[0].0["name"], "Rue A");
        let without: Vec<_> = features(&collection)[1..]
            .iter()
            .map(|(_, g)| g.is_null())
            .collect();
        assert_eq!(
            without,
            [true, true],
            "features without a geometry are listed, empty"
        );
        assert!(features(&line)[0].0.is_null());
    }

    #[test]
    fn outer_rings_points_and_malformed_positions() {
        let poly = serde_json::json!({"type": "MultiPolygon", "coordinates": [
            [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], [[0.2, 0.2], [0.3, 0.2], [0.3, 0.3]]],
            [[[5.0, 5.0], [6.0, 5.0], [6.0, 6.0]]],
            [[[9.0, "x"]]],
        ]});
        let rings = outer_rings(&poly);
        assert_eq!(rings.len(), 2, "holes and malformed rings are not read");
        assert_eq!(rings[1][0], [5.0, 5.0]);
        assert_eq!(
            point(&serde_json::json!({"type": "Point", "coordinates": [2.35, 48.85]})),
            Some([2.35, 48.85])
        );
        assert_eq!(point(&poly), None);
        assert!(is_lon_lat([2.35, 48.85]) && !is_lon_lat([48.85, 200.0]));
    }
}

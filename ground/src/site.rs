//! Which local frame a data directory measures in.
//!
//! Every metric computation (camera footprints, line of sight, who sees a
//! point) happens in a [`LocalFrame`] around an origin. The server takes it
//! from the configuration's `[site]`; an offline command must use the same,
//! or it measures in another frame without a word (the example site's frame
//! stretches east-west distances in Oslo by 1.32). So the data directory
//! records the origin it was set up with, and [`resolve`] chooses, in
//! order: the configuration's `[site]` when the file has one, the origin
//! recorded in the data directory, the centre of the data at hand (recorded
//! then, so later commands agree), and last the example site, said so.

use rusqlite::{OptionalExtension as _, params};

use crate::config::Config;
use crate::frame::{LocalFrame, SITE_RADIUS_M};
use crate::store::{Store, StoreError};

const MIGRATIONS: &[&str] = &[
    // 1: the origin the data directory measures in.
    "CREATE TABLE deployment_site (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        origin_lat_deg REAL NOT NULL,
        origin_lon_deg REAL NOT NULL,
        source TEXT NOT NULL,
        set_ms INTEGER NOT NULL
    );",
];

/// Creates the table.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate_module("site", MIGRATIONS)
}

/// The origin recorded in a data directory.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedSite {
    /// Origin latitude, degrees.
    pub origin_lat_deg: f64,
    /// Origin longitude, degrees.
    pub origin_lon_deg: f64,
    /// Where it came from, in words.
    pub source: String,
    /// When it was recorded, Unix ms.
    pub set_ms: i64,
}

impl RecordedSite {
    /// Whether this origin is `frame`'s (within a metre).
    pub fn is_at(&self, frame: &LocalFrame) -> bool {
        let (e, n) = frame.to_local(self.origin_lat_deg, self.origin_lon_deg);
        e.hypot(n) <= 1.0
    }
}

/// The recorded origin, if any.
pub fn recorded(store: &Store) -> Result<Option<RecordedSite>, StoreError> {
    migrate(store)?;
    store.with_conn(|c| {
        c.query_row(
            "SELECT origin_lat_deg, origin_lon_deg, source, set_ms FROM deployment_site WHERE id = 1",
            [],
            |r| {
                Ok(RecordedSite {
                    origin_lat_deg: r.get(0)?,
                    origin_lon_deg: r.get(1)?,
                    source: r.get(2)?,
                    set_ms: r.get(3)?,
                })
            },
        )
        .optional()
    })
}

/// Records (or replaces) the origin.
pub fn record(
    store: &Store,
    origin_lat_deg: f64,
    origin_lon_deg: f64,
    source: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    migrate(store)?;
    store.with_conn(|c| {
        c.execute(
            "INSERT INTO deployment_site (id, origin_lat_deg, origin_lon_deg, source, set_ms)
             VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET origin_lat_deg = excluded.origin_lat_deg,
               origin_lon_deg = excluded.origin_lon_deg, source = excluded.source,
               set_ms = excluded.set_ms",
            params![origin_lat_deg, origin_lon_deg, source, now_ms],
        )
        .map(|_| ())
    })
}

/// The frame chosen for a command, and why, in words for its user.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The frame.
    pub frame: LocalFrame,
    /// Which origin and why ("local frame: ...").
    pub note: String,
    /// Data farther than [`SITE_RADIUS_M`] from the origin, in words.
    pub warning: Option<String>,
    /// An origin derived from the data, for [`keep`] to record once the
    /// command's work is done: `(lat, lon, source)`.
    pub derived: Option<(f64, f64, String)>,
}

/// Records a derived origin (nothing to do for one configured or
/// already recorded), so that later commands measure in the same frame.
pub fn keep(store: &Store, resolved: &Resolved, now_ms: i64) -> Result<(), StoreError> {
    match &resolved.derived {
        Some((lat, lon, source)) => record(store, *lat, *lon, source, now_ms),
        None => Ok(()),
    }
}

/// Chooses the frame for `store` under `config` (see the module), given
/// the `(lat, lon)` points of the data at hand (what is imported or
/// queried). Writes nothing: [`keep`] records a frame derived from the data.
pub fn resolve(
    store: &Store,
    config: &Config,
    data: &[(f64, f64)],
    data_name: &str,
) -> Result<Resolved, StoreError> {
    let site = &config.site;
    let recorded = recorded(store)?;
    let mut derived = None;
    let (frame, note) = if !config.site_defaulted {
        let frame = LocalFrame::new(site.origin_lat_deg, site.origin_lon_deg);
        let mut note = format!(
            "local frame: origin {:.6}, {:.6} from the configuration's [site]",
            site.origin_lat_deg, site.origin_lon_deg
        );
        if let Some(r) = recorded.as_ref().filter(|r| !r.is_at(&frame)) {
            note.push_str(&format!(
                "; the data directory was set up with {:.6}, {:.6} ({})",
                r.origin_lat_deg, r.origin_lon_deg, r.source
            ));
        }
        (frame, note)
    } else if let Some(r) = &recorded {
        (
            LocalFrame::new(r.origin_lat_deg, r.origin_lon_deg),
            format!(
                "local frame: origin {:.6}, {:.6} recorded in the data directory ({})",
                r.origin_lat_deg, r.origin_lon_deg, r.source
            ),
        )
    } else if let Some((lat, lon)) = centre(data) {
        let source = format!("centre of {data_name}");
        let note = format!(
            "local frame: origin {lat:.6}, {lon:.6}, the {source} (no [site] configured), recorded in the data directory for later commands"
        );
        derived = Some((lat, lon, source));
        (LocalFrame::new(lat, lon), note)
    } else {
        (
            LocalFrame::new(site.origin_lat_deg, site.origin_lon_deg),
            format!(
                "local frame: origin {:.6}, {:.6}, the example site ({}): no [site] configured and no data to centre on; set [site] in the configuration",
                site.origin_lat_deg, site.origin_lon_deg, site.name
            ),
        )
    };
    let warning = far_warning(&frame, data, data_name);
    Ok(Resolved {
        frame,
        note,
        warning,
        derived,
    })
}

/// The centre of the points' bounding box (longitudes taken as they are:
/// a deployment does not straddle the antimeridian).
pub fn centre(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let finite = points
        .iter()
        .filter(|(a, b)| a.is_finite() && b.is_finite());
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    let mut any = false;
    for &(lat, lon) in finite {
        any = true;
        lo = [lo[0].min(lat), lo[1].min(lon)];
        hi = [hi[0].max(lat), hi[1].max(lon)];
    }
    any.then(|| ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0))
}

/// A warning when some of `data` lies beyond [`SITE_RADIUS_M`] of the
/// frame's origin, with the frame's error bound there.
pub fn far_warning(frame: &LocalFrame, data: &[(f64, f64)], data_name: &str) -> Option<String> {
    let distances: Vec<f64> = data
        .iter()
        .map(|&(lat, lon)| {
            let (e, n) = frame.to_local(lat, lon);
            e.hypot(n)
        })
        .collect();
    let far = distances.iter().filter(|d| **d > SITE_RADIUS_M).count();
    if far == 0 {
        return None;
    }
    let max = distances.iter().copied().fold(0.0, f64::max);
    Some(format!(
        "{far} of {} points of {data_name} lie more than {:.0} km from the frame's origin ({:.6}, {:.6}), the farthest {:.0} km: distances there are off by up to {:.1} % (within {:.0} km: {:.2} %); set [site] near the data, or split the deployment",
        data.len(),
        SITE_RADIUS_M / 1000.0,
        frame.origin_lat_deg,
        frame.origin_lon_deg,
        max / 1000.0,
        100.0 * frame.relative_error_bound(max),
        SITE_RADIUS_M / 1000.0,
        100.0 * frame.relative_error_bound(SITE_RADIUS_M),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaulted() -> Config {
        Config {
            site_defaulted: true,
            ..Config::default()
        }
    }

    #[test]
    fn the_frame_comes_from_the_config_then_the_directory_then_the_data() {
        let store = Store::in_memory().unwrap();
        let oslo = [(59.91, 10.75), (59.93, 10.77)];
        // Nothing configured or recorded: the data's centre, recorded.
        let r = resolve(&store, &defaulted(), &oslo, "the cameras").unwrap();
        assert!((r.frame.origin_lat_deg - 59.92).abs() < 1e-9, "{r:?}");
        assert!(r.note.contains("centre of the cameras"), "{}", r.note);
        assert!(r.warning.is_none());
        assert_eq!(recorded(&store).unwrap(), None, "resolving writes nothing");
        keep(&store, &r, 5).unwrap();
        // Later, with other data: the recorded origin.
        let r = resolve(&store, &defaulted(), &[(59.0, 10.0)], "a point").unwrap();
        assert!((r.frame.origin_lon_deg - 10.76).abs() < 1e-9);
        assert!(r.note.contains("recorded in the data directory"));
        assert!(
            r.warning.as_deref().is_some_and(|w| w.contains("km")),
            "{r:?}"
        );
        // A configured [site] wins, and the note says the directory differs.
        let r = resolve(&store, &Config::default(), &oslo, "the cameras").unwrap();
        assert!((r.frame.origin_lat_deg - 48.924_459).abs() < 1e-9);
        assert!(r.note.contains("set up with 59.92"), "{}", r.note);
        assert!(
            r.warning.as_deref().is_some_and(|w| w.contains("2 of 2")),
            "{r:?}"
        );
        // Nothing at all: the example site, said so.
        let empty = Store::in_memory().unwrap();
        let r = resolve(&empty, &defaulted(), &[], "nothing").unwrap();
        assert!(r.note.contains("example site"), "{}", r.note);
        assert_eq!(recorded(&empty).unwrap(), None);
    }
}

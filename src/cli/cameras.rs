//! `vigie cameras`: the fixed-camera inventory in the data directory.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use vigie_ground::config::Config;
use vigie_ground::coverage::buildings::Buildings;
use vigie_ground::coverage::history;
use vigie_ground::coverage::inventory::{self, Rejected};
use vigie_ground::frame::LocalFrame;
use vigie_ground::site;
use vigie_ground::store::Store;

/// Fixed-camera inventory commands.
#[derive(Subcommand, Debug)]
pub enum CamerasCommand {
    /// Import an inventory (CSV or GeoJSON) into the data directory,
    /// replacing the current one; rejected rows are listed with the reason.
    ///
    /// CSV columns: id, network (city, transit, parking, housing, private,
    /// other), lat, lon, mount_height_m, heading_deg, tilt_deg (negative
    /// looks down), hfov_deg, range_m or resolution_px (+ range_tier:
    /// detection, observation, recognition, identification), ptz, name.
    /// GeoJSON: Point features with the same properties.
    ///
    /// Example: `vigie cameras import cameras.csv --buildings buildings.geojson --masks masks.geojson`
    Import {
        /// The inventory file (.csv or .geojson).
        file: PathBuf,
        /// Building footprints with heights (GeoJSON): coverage is clipped
        /// by line of sight.
        #[arg(long)]
        buildings: Option<PathBuf>,
        /// Privacy masks (GeoJSON polygons), excluded from every answer.
        #[arg(long)]
        masks: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Import even when some rows are rejected (otherwise nothing is
        /// imported and the exit status is 1).
        #[arg(long)]
        allow_rejected: bool,
        /// Let an empty file replace a non-empty inventory, building or
        /// mask layer (otherwise refused: an empty export or a truncated
        /// download must not wipe the cameras or lift the privacy masks).
        #[arg(long)]
        replace_with_empty: bool,
        #[command(flatten)]
        place: DataPlace,
    },
    /// Export the current inventory as CSV or GeoJSON.
    ///
    /// Example: `vigie cameras export --format geojson --out cameras.geojson`
    Export {
        /// `csv` or `geojson`.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Output file; standard output without it.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        place: DataPlace,
    },
}

/// Where the data directory is.
#[derive(clap::Args, Debug, Clone)]
pub struct DataPlace {
    /// TOML configuration (data directory and site origin).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the configuration's).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataPlace {
    /// The configuration with the override applied.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::unconfigured(),
        };
        if let Some(d) = &self.data_dir {
            config.data_dir = d.clone();
        }
        Ok(config)
    }

    /// Opens the store and the frame it measures in (see
    /// [`site::resolve`]), centred on the stored inventory when nothing
    /// else says where the site is. Says on stderr which frame and why.
    pub fn open(&self) -> anyhow::Result<(Store, LocalFrame)> {
        let (store, resolved) = self.open_for(None)?;
        site::keep(&store, &resolved, vigie_ground::time::unix_ms())?;
        Ok((store, resolved.frame))
    }

    /// [`DataPlace::open`], for `data` (the `(lat, lon)` points being
    /// imported, and what they are) instead of the stored inventory.
    pub fn open_for(
        &self,
        data: Option<(&[(f64, f64)], &str)>,
    ) -> anyhow::Result<(Store, site::Resolved)> {
        let config = self.config()?;
        let store = Store::open(&config.data_dir)
            .with_context(|| format!("opening the data directory {}", config.data_dir.display()))?;
        history::migrate(&store)?;
        let stored: Vec<(f64, f64)>;
        let (points, name) = match data {
            Some(d) => d,
            None => {
                stored = history::load_inventory(&store)?
                    .iter()
                    .map(|(c, _)| (c.lat_deg, c.lon_deg))
                    .collect();
                (stored.as_slice(), "the stored camera inventory")
            }
        };
        let resolved = site::resolve(&store, &config, points, name)?;
        eprintln!("{}", resolved.note);
        if let Some(w) = &resolved.warning {
            eprintln!("warning: {w}");
        }
        Ok((store, resolved))
    }

    /// The store alone, for commands that measure nothing.
    pub fn open_store(&self) -> anyhow::Result<Store> {
        let config = self.config()?;
        let store = Store::open(&config.data_dir)
            .with_context(|| format!("opening the data directory {}", config.data_dir.display()))?;
        history::migrate(&store)?;
        Ok(store)
    }
}

/// Runs a `vigie cameras` subcommand.
pub fn run(cmd: CamerasCommand) -> anyhow::Result<()> {
    match cmd {
        CamerasCommand::Import {
            file,
            buildings,
            masks,
            json,
            allow_rejected,
            replace_with_empty,
            place,
        } => import(
            file,
            Layers { buildings, masks },
            Flags {
                json,
                allow_rejected,
                replace_with_empty,
            },
            place,
        ),
        CamerasCommand::Export { format, out, place } => {
            let store = place.open_store()?;
            let cameras: Vec<_> = history::load_inventory(&store)?
                .into_iter()
                .map(|(c, _)| c)
                .collect();
            let text = match format.as_str() {
                "csv" => inventory::to_csv(&cameras),
                "geojson" | "json" => {
                    serde_json::to_string_pretty(&inventory::to_geojson(&cameras))?
                }
                other => anyhow::bail!("unknown format {other:?}: use csv or geojson"),
            };
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}

fn print_rejected(what: &str, rejected: &[Rejected]) {
    for r in rejected {
        match &r.id {
            Some(id) => println!("  {what} row {} ({id}): {}", r.row, r.reason),
            None => println!("  {what} row {}: {}", r.row, r.reason),
        }
    }
}

/// The optional layers imported with an inventory.
struct Layers {
    buildings: Option<PathBuf>,
    masks: Option<PathBuf>,
}

/// How an import reports and what it may replace.
struct Flags {
    json: bool,
    allow_rejected: bool,
    replace_with_empty: bool,
}

/// Refuses to replace `current` non-empty content by an empty import.
fn refuse_empty(what: &str, new: usize, current: usize, flags: &Flags) -> anyhow::Result<()> {
    if new == 0 && current > 0 && !flags.replace_with_empty {
        anyhow::bail!(
            "the {what} file holds nothing and would replace the {current} stored; nothing imported \
             (pass --replace-with-empty to empty it on purpose)"
        );
    }
    Ok(())
}

fn import(file: PathBuf, layers: Layers, flags: Flags, place: DataPlace) -> anyhow::Result<()> {
    let Flags {
        json,
        allow_rejected,
        ..
    } = flags;
    let optics = place.config()?.coverage.optics;
    let imp = inventory::load_cameras(&file, &optics)?;
    let positions: Vec<(f64, f64)> = imp.cameras.iter().map(|c| (c.lat_deg, c.lon_deg)).collect();
    let what = format!("the cameras of {}", file.display());
    let (store, resolved) = place.open_for(Some((&positions, &what)))?;
    let frame = resolved.frame;
    refuse_empty(
        "camera",
        imp.cameras.len(),
        history::load_inventory(&store)?.len(),
        &flags,
    )?;
    let stored_count = |name: &str, parse: fn(&str, &LocalFrame) -> anyhow::Result<usize>| {
        anyhow::Ok(match history::load_layer(&store, name)? {
            Some(text) => parse(&text, &frame).unwrap_or(1),
            None => 0,
        })
    };
    let (building_text, building_set, building_rejected) = match &layers.buildings {
        Some(path) => {
            let text = inventory::read_layer(path)?;
            let (b, rej) = inventory::parse_buildings(&text, &frame)?;
            refuse_empty(
                "buildings",
                b.len(),
                stored_count("buildings", |t, f| {
                    Ok(inventory::parse_buildings(t, f)?.0.len())
                })?,
                &flags,
            )?;
            (Some(text), Some(Buildings::new(b)), rej)
        }
        None => (None, None, Vec::new()),
    };
    let (mask_text, mask_rejected) = match &layers.masks {
        Some(path) => {
            let text = inventory::read_layer(path)?;
            let (m, rej) = inventory::parse_masks(&text, &frame)?;
            refuse_empty(
                "masks",
                m.len(),
                stored_count("masks", |t, f| Ok(inventory::parse_masks(t, f)?.0.len()))?,
                &flags,
            )?;
            (Some(text), rej)
        }
        None => (None, Vec::new()),
    };
    let stored = history::with_coverage(&imp.cameras, &frame, building_set.as_ref(), &optics);
    let blind: Vec<String> = stored
        .iter()
        .filter(|(_, ring)| ring.is_none())
        .map(|(c, _)| c.id.clone())
        .collect();
    let rejected_total = imp.rejected.len() + building_rejected.len() + mask_rejected.len();
    let commit = rejected_total == 0 || allow_rejected;
    if commit {
        let now = vigie_ground::time::unix_ms();
        let mut layers = Vec::new();
        if let Some(text) = &building_text {
            layers.push(("buildings", text.as_str()));
        }
        if let Some(text) = &mask_text {
            layers.push(("masks", text.as_str()));
        }
        match &mask_text {
            // New masks and their record in the register commit together:
            // a crash cannot leave a mask change unrecorded.
            Some(text) => {
                let entry = super::audit::local_change(now, "masks.change", "masks", text);
                vigie_ground::guardrails::audit::Audit::open(&store)?.record_with(entry, |tx| {
                    history::save_import_in(tx, now, &stored, &layers)
                })?;
            }
            None => history::save_import(&store, now, &stored, &layers)?,
        }
        // After the import: were it lost in a crash, the next command
        // derives the same origin from the same stored cameras.
        site::keep(&store, &resolved, now)?;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "imported": commit,
                "cameras": imp.cameras.len(),
                "rejected": imp.rejected,
                "buildings_rejected": building_rejected,
                "masks_rejected": mask_rejected,
                "no_ground_in_view": blind,
            }))?
        );
    } else {
        println!(
            "{} {} cameras from {} ({} rejected){}",
            if commit { "imported" } else { "NOT imported:" },
            imp.cameras.len(),
            file.display(),
            imp.rejected.len(),
            if commit {
                ""
            } else {
                " — fix the rows below or pass --allow-rejected"
            }
        );
        print_rejected("camera", &imp.rejected);
        print_rejected("building", &building_rejected);
        print_rejected("mask", &mask_rejected);
        for id in &blind {
            println!(
                "  camera {id}: sees no ground within its range (check tilt_deg and range); kept, but covers nothing"
            );
        }
    }
    if !commit {
        anyhow::bail!("{rejected_total} rejected rows; nothing imported");
    }
    Ok(())
}

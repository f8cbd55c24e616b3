//! `vigie view`: the 3D operations view, on a scenario file or a live
//! ground server, interactive or as a one-shot screenshot.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use vigie_viewer::app::{self, ViewerOptions};
use vigie_viewer::i18n::Lang;
use vigie_viewer::layers::Layers;
use vigie_viewer::scenario::Scenario;
use vigie_viewer::scene::Scene;
use vigie_viewer::source::{LiveSource, ScenarioSource, Source};
use vigie_viewer::view::OrbitView;

/// Stade de France, the default origin of a live view without a scenario.
const DEFAULT_ORIGIN: (f64, f64) = (48.924459, 2.360164);
/// Half side of the ground of a live view without a scenario, metres.
const DEFAULT_EXTENT_M: f64 = 1000.0;

/// Options of `vigie view`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vigie view --scenario simulations/scenarios/stade-de-france/scenario.toml\n  vigie view --live quic://127.0.0.1:4433 --certs ops-certs --unit OPS1\n  vigie view --live http://127.0.0.1:8080 --scenario simulations/scenarios/stade-de-france/scenario.toml\n  vigie view --scenario FILE --screenshot out.png --at 90s --size 320x180\n  vigie view --replay ./vigie-data --at 2h --scenario FILE   # replay a recorded day\n  vigie view --plan simulations/events/concorde.toml [--plan-file plan.geojson]   # plan mode\n  vigie view --live http://127.0.0.1:8080 --origin 48.856,2.329 --base simulations/events/paris-centre.base.geojson\n\nWithout a display, run under Xvfb with Mesa's lavapipe:\n  WGPU_BACKEND=vulkan xvfb-run -a -s \"-screen 0 1280x720x24\" vigie view --scenario FILE --screenshot out.png\n\nPress H in the window for the keys."
)]
pub struct ViewArgs {
    /// Scenario file (TOML with GeoJSON layers). With --live, gives the
    /// static layers (buildings, zones, cameras) and units come from the server.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Ground server to follow: `quic://127.0.0.1:4433` as an operator
    /// client (a snapshot, then deltas; needs --certs), or
    /// `http://127.0.0.1:8080` (polls `/api/v1/units` every 500 ms; needs a
    /// token).
    #[arg(long)]
    pub live: Option<String>,
    /// Directory with the operator's certificate for `--live quic://...`
    /// (`<UNIT>.cert.pem`, `<UNIT>.key.pem`, `ca.pem`, as `vigie ca issue
    /// --role operator` writes them).
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// Operator unit id of the certificate in --certs.
    #[arg(long, default_value = "OPS1")]
    pub unit: String,
    /// Operator token for `--live http://...` (any role sees the picture).
    #[arg(long, env = "VIGIE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Replay the picture a server recorded in this data directory (its
    /// timeline); `--at` is then the offset from the recording's start.
    #[arg(long, conflicts_with = "live")]
    pub replay: Option<PathBuf>,
    /// Length of the replayed window from `--at`.
    #[arg(long, value_parser = super::duration::parse, default_value = "2h")]
    pub length: Duration,
    /// Save a PNG of the view to this file once the scene is ready, then exit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Scenario time to start at (e.g. `90s`, `2m`).
    #[arg(long, value_parser = super::duration::parse, default_value = "0s")]
    pub at: Duration,
    /// Window (and screenshot) size, `WIDTHxHEIGHT` pixels.
    #[arg(long, value_parser = parse_size, default_value = "1280x720")]
    pub size: (u32, u32),
    /// Layers shown at start, comma-separated (default: all but heatmap):
    /// buildings, map, zones, cameras, coverage, heatmap, drones,
    /// patrols, incidents, hud.
    #[arg(long)]
    pub layers: Option<String>,
    /// Plan mode: open this event file (as `vigie plan` reads it) to place
    /// drone stations, patrol posts and cameras by hand and run the planner.
    #[arg(long, conflicts_with_all = ["live", "replay", "scenario"])]
    pub plan: Option<PathBuf>,
    /// With --plan: start from this plan (`plan.geojson` as `vigie plan
    /// --out` or Ctrl+S write it) instead of running the planner.
    #[arg(long, requires = "plan")]
    pub plan_file: Option<PathBuf>,
    /// With --plan: where Ctrl+S saves the plan (default: the --plan-file,
    /// else `plan.geojson` in the current directory).
    #[arg(long, requires = "plan")]
    pub save: Option<PathBuf>,
    /// A base map (GeoJSON: water, parks, streets, landmarks, as an event's
    /// `[layers] base` reads it) under the view, added to the scenario's
    /// or event's own: a live or replayed view without a scenario gets its
    /// streets and river this way.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Origin `LAT,LON` of a live view without a scenario.
    #[arg(long, value_parser = parse_origin)]
    pub origin: Option<(f64, f64)>,
    /// Start in the top-down map (orthographic, north up); T switches in
    /// the window.
    #[arg(long, alias = "2d")]
    pub top_down: bool,
    /// Start on this view instead of framing the event or the picture:
    /// `east=E,north=N,heading=H,pitch=P,distance=D[,top-down]` (metres
    /// from the site origin, degrees), as a screenshot logs it.
    #[arg(long, value_parser = parse_view)]
    pub view: Option<OrbitView>,
    /// Language of the interface, `fr` or `en` (default: the locale's,
    /// from LC_ALL, LC_MESSAGES or LANG; English otherwise).
    #[arg(long, value_parser = parse_lang)]
    pub lang: Option<Lang>,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("unknown language {s:?}: use fr or en"))
}

fn parse_view(s: &str) -> Result<OrbitView, String> {
    s.parse()
}

/// Runs the viewer.
pub fn run(args: ViewArgs) -> anyhow::Result<()> {
    let layers = match &args.layers {
        Some(list) => Layers::parse_list(list).map_err(anyhow::Error::msg)?,
        None => Layers::default(),
    };
    if let Some(event) = &args.plan {
        return run_plan(&args, event, layers);
    }
    let scenario = args
        .scenario
        .as_deref()
        .map(|p| Scenario::load(p).map(Arc::new))
        .transpose()
        .context("loading the scenario")?;
    if let Some(dir) = &args.replay {
        let store = vigie_ground::store::Store::open_existing(dir)
            .with_context(|| format!("opening the recording in {}", dir.display()))?;
        vigie_ground::timeline::persist::migrate(&store)?;
        let Some((first, last)) = store.timeline_span()? else {
            bail!(
                "{} holds no recorded picture: run `vigie serve` (or `vigie demo --data-dir`) with [timeline] record = true",
                dir.display()
            );
        };
        let from = first + args.at.as_millis() as i64;
        if from > last {
            bail!(
                "--at {:?} is past the end of the recording ({} s long)",
                args.at,
                (last - first) / 1000
            );
        }
        let to = from.saturating_add(args.length.as_millis() as i64);
        let replay = vigie_ground::timeline::Replay::new(store.timeline_steps(from, to)?);
        let playing = args.screenshot.is_none();
        let source = vigie_viewer::source::ReplaySource::new(replay, from, playing)
            .context("the recording is empty in that window")?;
        let scene = match scenario {
            Some(s) => Arc::new(s.scene.clone()),
            None => {
                let (lat, lon) = args.origin.unwrap_or(DEFAULT_ORIGIN);
                Arc::new(Scene::empty("replay", lat, lon, DEFAULT_EXTENT_M))
            }
        };
        return open(&args, scene, Source::Replay(source), layers, None);
    }
    let (scene, source) = match (&args.live, scenario) {
        (Some(url), scenario) => {
            let live = if let Some(addr) = url.strip_prefix("quic://") {
                let addr: std::net::SocketAddr =
                    addr.trim_end_matches('/').parse().with_context(|| {
                        format!(
                            "--live {url:?}: expected quic://IP:PORT, e.g. quic://127.0.0.1:4433"
                        )
                    })?;
                let Some(dir) = &args.certs else {
                    bail!(
                        "--live quic://... needs --certs DIR with an operator certificate (vigie ca issue --unit {} --role operator --out DIR)",
                        args.unit
                    );
                };
                let config = vigie_ground::operator::client::load_client_config(dir, &args.unit)?;
                LiveSource::start_quic(addr, config)
            } else if url.starts_with("http://") || url.starts_with("https://") {
                LiveSource::start(url, args.token.clone())
            } else {
                bail!(
                    "--live wants quic://IP:PORT or an HTTP URL such as http://127.0.0.1:8080, got {url:?}"
                );
            };
            let scene = match scenario {
                Some(s) => Arc::new(s.scene.clone()),
                None => {
                    let (lat, lon) = args.origin.unwrap_or(DEFAULT_ORIGIN);
                    Arc::new(Scene::empty("live", lat, lon, DEFAULT_EXTENT_M))
                }
            };
            (scene, Source::Live(live))
        }
        (None, Some(s)) => {
            let playing = args.screenshot.is_none();
            (
                Arc::new(s.scene.clone()),
                Source::Scenario(ScenarioSource::new(s, args.at, playing)),
            )
        }
        (None, None) => {
            bail!("nothing to view: give --scenario FILE, --live URL, or both (see --help)")
        }
    };
    open(&args, scene, source, layers, None)
}

/// Opens the window (or takes the screenshot) with what the arguments ask.
fn open(
    args: &ViewArgs,
    scene: Arc<Scene>,
    source: Source,
    layers: Layers,
    plan: Option<vigie_viewer::plan::PlanMode>,
) -> anyhow::Result<()> {
    app::run(ViewerOptions {
        scene: with_base(scene, args.base.as_deref())?,
        source,
        size: args.size,
        screenshot: args.screenshot.clone(),
        layers,
        view: args.view,
        top_down: args.top_down,
        lang: args.lang.unwrap_or_else(Lang::from_env),
        plan,
    })?;
    Ok(())
}

/// Plan mode: the event, the plan file or a fresh plan, the editor.
fn run_plan(args: &ViewArgs, event_path: &std::path::Path, layers: Layers) -> anyhow::Result<()> {
    use vigie_ground::plan::{self, event::Event, layout::Layout};
    let event = Arc::new(
        Event::load(event_path)
            .with_context(|| format!("loading the event {}", event_path.display()))?,
    );
    for w in &event.warnings {
        tracing::warn!("{w}");
    }
    let opts = plan::Options::default();
    let mut layout = Layout::new(event.clone(), opts.clone())
        .with_context(|| format!("sampling the zones of {}", event_path.display()))?;
    let mut message = None;
    let mut plan_at_start = false;
    match &args.plan_file {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the plan file {}", file.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let warnings = layout
                .load_geojson(&value)
                .with_context(|| format!("reading the plan {}", file.display()))?;
            for w in &warnings {
                tracing::warn!("{}: {w}", file.display());
            }
            message = Some(format!(
                "loaded {} items from {}{}",
                layout.items().len(),
                file.display(),
                if warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {} left out (see the log)", warnings.len())
                }
            ));
        }
        // A screenshot shows the plan, so it is made before the window opens.
        None if args.screenshot.is_some() => {
            let p = plan::plan(&event, &opts).context("planning the event")?;
            layout = Layout::from_plan(event.clone(), opts, &p);
        }
        None => plan_at_start = true,
    }
    let save_to = args
        .save
        .clone()
        .or_else(|| args.plan_file.clone())
        .unwrap_or_else(|| PathBuf::from("plan.geojson"));
    let scene = Arc::new(vigie_viewer::plan::scene_of(&event));
    open(
        args,
        scene,
        Source::Still { sent: false },
        layers,
        Some(vigie_viewer::plan::PlanMode {
            layout,
            save_to,
            plan_at_start,
            message,
        }),
    )
}

/// The scene with the base map of `--base` added, if given.
fn with_base(scene: Arc<Scene>, base: Option<&std::path::Path>) -> anyhow::Result<Arc<Scene>> {
    let Some(path) = base else {
        return Ok(scene);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--base: reading {}", path.display()))?;
    let map = vigie_ground::map::base::BaseMap::parse(&text)
        .with_context(|| format!("--base: {} is not a base map", path.display()))?;
    let mut scene = Arc::unwrap_or_clone(scene);
    scene.add_base(&map);
    Ok(Arc::new(scene))
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?}: write the size as WIDTHxHEIGHT, e.g. 320x180");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    );
    if !(16..=8192).contains(&w) || !(16..=8192).contains(&h) {
        return Err(format!(
            "{text:?}: width and height must be between 16 and 8192 pixels"
        ));
    }
    Ok((w, h))
}

fn parse_origin(text: &str) -> Result<(f64, f64), String> {
    let bad = || format!("{text:?}: write the origin as LAT,LON in degrees, e.g. 48.9245,2.3602");
    let (lat, lon) = text.split_once(',').ok_or_else(bad)?;
    let (lat, lon): (f64, f64) = (
        lat.trim().parse().map_err(|_| bad())?,
        lon.trim().parse().map_err(|_| bad())?,
    );
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(bad());
    }
    Ok((lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_origins_parse_or_say_why_not() {
        assert_eq!(parse_size("320x180"), Ok((320, 180)));
        assert!(parse_size("320").is_err());
        assert!(parse_size("0x10").is_err());
        assert_eq!(parse_origin("48.9,2.36"), Ok((48.9, 2.36)));
        assert!(parse_origin("100,2").is_err());
    }
}

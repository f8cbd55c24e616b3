//! `vigie plan`: offline coverage planning for an event, and street camera
//! siting.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use vigie_ground::plan::cameras::{self, SitingOptions};
use vigie_ground::plan::event::Event;
use vigie_ground::plan::{self, Options, report};

/// Plan drones and patrols for an event, or fixed cameras for streets.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PlanArgs {
    #[command(subcommand)]
    command: Option<PlanCommand>,
    /// The event file (TOML with GeoJSON shapes; see
    /// simulations/events/ for examples).
    #[arg(required = true)]
    event: Option<PathBuf>,
    /// Directory for plan.geojson, summary.csv, summary.md, report.md and
    /// the PNG maps (created if missing).
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Seed for candidate grids and tie-breaking: the same seed gives the
    /// same plan.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Sample cell side, metres (default 10, larger for very large events).
    #[arg(long)]
    cell_m: Option<f64>,
    /// Spacing of candidate drone stations, metres.
    #[arg(long, default_value_t = 60.0)]
    station_spacing_m: f64,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// `vigie plan` subcommands.
#[derive(Subcommand, Debug)]
enum PlanCommand {
    /// New fixed cameras to watch a share of street length.
    ///
    /// Streets: GeoJSON LineStrings. Existing cameras (optional): GeoJSON
    /// Points or CSV with lat/lon; each watches a 360° disc of the radius,
    /// or its own sector when the file gives heading_deg and hfov_deg below
    /// 360 (and range_m). Writes new-cameras.geojson and summary.md.
    ///
    /// Example: `vigie plan cameras --streets streets.geojson --radius 200 --target 0.95 --cameras cams.csv --out siting`
    Cameras(CamerasArgs),
}

#[derive(Args, Debug)]
struct CamerasArgs {
    /// Streets, GeoJSON LineStrings.
    #[arg(long)]
    streets: PathBuf,
    /// Radius a camera watches, metres.
    #[arg(long, default_value_t = 200.0)]
    radius: f64,
    /// Share of street length to watch, 0..1.
    #[arg(long, default_value_t = 0.95)]
    target: f64,
    /// Existing cameras: GeoJSON Points or CSV (.csv) with lat, lon.
    #[arg(long)]
    cameras: Option<PathBuf>,
    /// Street sample spacing, metres.
    #[arg(long, default_value_t = 10.0)]
    sample_m: f64,
    /// Candidate site spacing along streets, metres.
    #[arg(long, default_value_t = 25.0)]
    site_spacing_m: f64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `vigie plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<()> {
    if let Some(PlanCommand::Cameras(c)) = args.command {
        return run_cameras(c);
    }
    let (Some(event_path), Some(out)) = (args.event, args.out) else {
        anyhow::bail!("give an event file and --out DIR (see `vigie plan --help`)");
    };
    let event = Event::load(&event_path)?;
    for w in &event.warnings {
        tracing::warn!("{w}");
    }
    let opts = Options {
        seed: args.seed,
        cell_m: args.cell_m,
        station_spacing_m: args.station_spacing_m,
        ..Options::default()
    };
    let started = Instant::now();
    let mut bar = Progress::new(!args.quiet);
    let plan = plan::plan_with_progress(&event, &opts, &mut |stage, done, total| {
        bar.show(stage, done, total)
    })
    .with_context(|| format!("planning {}", event_path.display()))?;
    bar.finish();
    let written = report::write_all(&event, &plan, &out)?;
    let mut stdout = std::io::stdout().lock();
    // Writes to a closed pipe (`| head`) are not errors of the plan.
    let _ = writeln!(
        stdout,
        "{}: coverage {}; at least {} of optimal; {:.1} s",
        plan.event,
        report::headline(&plan),
        report::pct(plan.quality.ratio_lower_bound),
        started.elapsed().as_secs_f64()
    );
    for p in written {
        let _ = writeln!(stdout, "wrote {}", p.display());
    }
    Ok(())
}

fn run_cameras(c: CamerasArgs) -> anyhow::Result<()> {
    if !(c.radius > 0.0 && c.radius <= 5000.0) {
        anyhow::bail!("--radius {} must be above 0 and at most 5000 m", c.radius);
    }
    if !(0.0..=1.0).contains(&c.target) {
        anyhow::bail!(
            "--target {} must be a share within 0..1 (0.95 for 95 %)",
            c.target
        );
    }
    let text = std::fs::read_to_string(&c.streets)
        .with_context(|| format!("cannot read {}", c.streets.display()))?;
    let (frame, streets) =
        cameras::parse_streets(&text, None).with_context(|| format!("{}", c.streets.display()))?;
    let mut existing = Vec::new();
    if let Some(p) = &c.cameras {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        let csv = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let (list, rejected) = cameras::parse_existing(&text, csv, &frame)
            .with_context(|| format!("{}", p.display()))?;
        for r in rejected {
            tracing::warn!("{}: {r}", p.display());
        }
        existing = list;
    }
    let opts = SitingOptions {
        radius_m: c.radius,
        target: c.target,
        sample_m: c.sample_m,
        site_spacing_m: c.site_spacing_m,
        ..SitingOptions::default()
    };
    let started = Instant::now();
    let siting = cameras::site(&streets, &existing, &opts)?;
    std::fs::create_dir_all(&c.out)
        .with_context(|| format!("cannot create {}", c.out.display()))?;
    let gj = c.out.join("new-cameras.geojson");
    std::fs::write(
        &gj,
        serde_json::to_string_pretty(&cameras::geojson(&siting, &frame, c.radius))?,
    )
    .with_context(|| format!("cannot write {}", gj.display()))?;
    let md = c.out.join("summary.md");
    std::fs::write(&md, cameras::summary_md(&siting, &opts))
        .with_context(|| format!("cannot write {}", md.display()))?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{} streets ({:.1} km), {} existing cameras: {} watched; {} new cameras -> {}{}; {:.2} s",
        streets.len(),
        siting.street_m / 1000.0,
        siting.existing,
        report::pct(siting.before),
        siting.new.len(),
        report::pct(siting.after),
        if siting.reached {
            ""
        } else {
            " (target not reachable from street sites)"
        },
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(stdout, "wrote {}\nwrote {}", gj.display(), md.display());
    Ok(())
}

/// A progress bar on stderr when it is a terminal; stage names otherwise.
struct Progress {
    on: bool,
    tty: bool,
    stage: String,
    last: Option<Instant>,
}

impl Progress {
    fn new(on: bool) -> Progress {
        Progress {
            on,
            tty: std::io::stderr().is_terminal(),
            stage: String::new(),
            last: None,
        }
    }

    fn show(&mut self, stage: &str, done: usize, total: usize) {
        if !self.on {
            return;
        }
        let mut err = std::io::stderr();
        if stage != self.stage {
            if self.tty && !self.stage.is_empty() {
                let _ = writeln!(err);
            }
            if !self.tty {
                let _ = writeln!(err, "plan: {stage}");
            }
            self.stage = stage.to_string();
            self.last = None;
        }
        if !self.tty {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now - t < Duration::from_millis(100))
            && done < total
        {
            return;
        }
        self.last = Some(now);
        let frac = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let filled = (frac * 30.0).round() as usize;
        let _ = write!(
            err,
            "\r{stage:>10} [{}{}] {:>3.0} %",
            "#".repeat(filled),
            ".".repeat(30 - filled.min(30)),
            100.0 * frac
        );
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.on && self.tty && !self.stage.is_empty() {
            let _ = writeln!(std::io::stderr());
        }
    }
}

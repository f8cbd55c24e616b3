//! `vigie notice`: the public information notice from the authorisations in
//! force, as Markdown and HTML (offline on the data directory).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use vigie_ground::config::Config;
use vigie_ground::guardrails::{authorisation, notice};
use vigie_ground::store::Store;

/// Options of `vigie notice`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vigie notice                     # Markdown on stdout\n  vigie notice --out public/       # notice.md and notice.html\n  vigie notice --config /etc/vigie.toml --data-dir /var/lib/vigie --out /srv/www/drones"
)]
pub struct NoticeArgs {
    /// Data directory holding the database (needs file access to it).
    #[arg(long, default_value = "./vigie-data")]
    pub data_dir: PathBuf,
    /// TOML configuration (site name, retention); defaults without it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write `notice.md` and `notice.html` into this directory instead of
    /// printing Markdown.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `vigie notice`.
pub fn run(args: NoticeArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let store = Store::open_existing(&args.data_dir)?;
    authorisation::migrate(&store)?;
    let auths = store.list_authorisations()?;
    vigie_ground::coverage::history::migrate(&store)?;
    let mut by_network = std::collections::BTreeMap::<String, usize>::new();
    for (camera, _) in vigie_ground::coverage::history::load_inventory(&store)? {
        *by_network
            .entry(camera.network.as_str().to_string())
            .or_default() += 1;
    }
    let fixed_cameras: Vec<(String, usize)> = by_network.into_iter().collect();
    let input = notice::NoticeInput {
        site: &config.site.name,
        now_ms: vigie_ground::time::unix_ms(),
        authorisations: &auths,
        retention: &config.retention,
        time_zone: &config.site.time_zone,
        controller: &config.notice,
        fixed_cameras: &fixed_cameras,
    };
    match args.out {
        None => print!("{}", notice::markdown(&input)),
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, text) in [
                ("notice.md", notice::markdown(&input)),
                ("notice.html", notice::html(&input)),
            ] {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}

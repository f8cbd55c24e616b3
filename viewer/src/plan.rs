//! Plan mode: an event file in 3D, with drone stations, patrol posts and
//! added cameras to place, drag and remove by hand, the planner to run in
//! the background, and the coverage figure kept up to date as things move.
//!
//! The plan itself is the ground crate's [`Layout`]: the same cells, the
//! same rules for what an asset sees and the same constraints as the
//! planner, so what this view shows is what `vigie plan` reports. This
//! module only turns the event into a [`Scene`], draws the layout, reads
//! the planner's keys and mouse, and runs [`plan_with_progress`] on a
//! thread.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bevy::input::mouse::MouseButton;
use bevy::prelude::*;
use vigie_ground::coverage::Network;
use vigie_ground::coverage::camera::Optics;
use vigie_ground::plan::event::{Event, MAX_CEILING_M, Shape};
use vigie_ground::plan::layout::{Asset, Figure, Kind, Layout};
use vigie_ground::plan::{Plan, PlanError, plan_with_progress};

use crate::controls::{FindPrompt, MouseGrab};
use crate::meshes;
use crate::palette;
use crate::scene::{self, EastNorth, OwnerNetwork, Scene, ZoneKind};
use crate::units::{MarkerAssets, Orbit};
use crate::view::world;

/// Height of drawn footprints and discs above the ground, metres.
const PLAN_UP_M: f64 = 0.45;
/// Largest distance from the cursor at which a press grabs an item, pixels.
const GRAB_RADIUS_PX: f32 = 16.0;
/// A drag applies a move once the cursor has moved this far on the ground,
/// metres.
const DRAG_STEP_M: f64 = 0.5;
/// A station's altitude step with Page Up / Page Down, metres.
const ALTITUDE_STEP_M: f64 = 10.0;
/// Most zones listed in the plan panel.
const PANEL_ZONES: usize = 12;

/// What plan mode starts with.
pub struct PlanMode {
    /// The plan being edited (the event and its cells inside).
    pub layout: Layout,
    /// Where Ctrl+S writes the plan (GeoJSON).
    pub save_to: PathBuf,
    /// Run the planner when the window opens (no plan file was given).
    pub plan_at_start: bool,
    /// A first line for the panel (what was loaded, warnings).
    pub message: Option<String>,
}

/// The planner running on its thread.
pub struct PlannerJob {
    /// Stage, done, total, as the planner reports them.
    progress: Arc<Mutex<(String, usize, usize)>>,
    /// The plan, once made.
    result: Arc<Mutex<Option<Result<Plan, PlanError>>>>,
    /// When it started.
    started: Instant,
}

/// A drag in progress.
#[derive(Debug, Clone)]
struct Drag {
    /// Item dragged.
    id: String,
    /// Ground point of the last applied move, local frame.
    last: EastNorth,
    /// Whether a move was applied already (later ones merge into it for undo).
    moved: bool,
}

/// Plan mode's state.
#[derive(Resource)]
pub struct PlanState {
    /// The plan.
    pub layout: Layout,
    /// Selected item id.
    pub selected: Option<String>,
    /// Last message and whether it is a refusal.
    pub message: Option<(String, bool)>,
    /// Where Ctrl+S writes.
    pub save_to: PathBuf,
    /// Bumped at every change of the layout.
    pub revision: u64,
    /// The figure at `revision`.
    pub figure: Figure,
    /// The planner, while it runs.
    pub job: Option<PlannerJob>,
    /// Revision the plan mesh shows.
    drawn: Option<u64>,
    /// Drag in progress.
    drag: Option<Drag>,
}

impl PlanState {
    /// The state for a plan mode.
    pub fn new(mode: PlanMode) -> PlanState {
        let figure = mode.layout.figure();
        let mut s = PlanState {
            layout: mode.layout,
            selected: None,
            message: mode.message.map(|m| (m, false)),
            save_to: mode.save_to,
            revision: 0,
            figure,
            job: None,
            drawn: None,
            drag: None,
        };
        if mode.plan_at_start {
            s.start_planner();
        }
        s
    }

    /// Records a change of the layout.
    fn changed(&mut self) {
        self.revision += 1;
        self.figure = self.layout.figure();
    }

    fn say(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), false));
    }

    fn refuse(&mut self, text: impl std::fmt::Display) {
        self.message = Some((format!("refused: {text}"), true));
    }

    /// Starts the planner on a thread with the budgets the locked items
    /// leave.
    pub fn start_planner(&mut self) {
        if self.job.is_some() {
            self.say("the planner is already running");
            return;
        }
        let mut event = Event::clone(self.layout.event());
        for i in self.layout.items().iter().filter(|i| i.locked) {
            match &i.asset {
                Asset::Station(s) => {
                    event.drones.count = event.drones.count.saturating_sub(s.rotation.airframes)
                }
                Asset::Post(p) => event.patrols.count = event.patrols.count.saturating_sub(p.teams),
                Asset::Camera(_) => {}
            }
        }
        let opts = self.layout.options().clone();
        let progress = Arc::new(Mutex::new(("start".to_owned(), 0, 1)));
        let result = Arc::new(Mutex::new(None));
        let (p, r) = (progress.clone(), result.clone());
        std::thread::spawn(move || {
            let out = plan_with_progress(&event, &opts, &mut |stage, done, total| {
                if let Ok(mut g) = p.lock() {
                    *g = (stage.to_owned(), done, total);
                }
            });
            if let Ok(mut g) = r.lock() {
                *g = Some(out);
            }
        });
        self.job = Some(PlannerJob {
            progress,
            result,
            started: Instant::now(),
        });
        self.say("planner running...");
    }

    /// Takes the planner's plan if it is ready.
    pub fn poll_planner(&mut self) {
        let Some(job) = &self.job else { return };
        let Some(out) = job.result.lock().ok().and_then(|mut g| g.take()) else {
            return;
        };
        let secs = job.started.elapsed().as_secs_f64();
        self.job = None;
        match out {
            Ok(plan) => {
                let dropped = self.layout.apply_plan(&plan);
                self.changed();
                self.selected = None;
                let mut m = format!(
                    "planned in {secs:.1} s: {} stations, {} posts, coverage {:.1} % (Ctrl+Z undoes)",
                    plan.stations.len(),
                    plan.posts.len(),
                    self.figure.after * 100.0
                );
                if dropped > 0 {
                    m.push_str(&format!("; {dropped} left out over budget"));
                }
                self.say(m);
            }
            Err(e) => self.refuse(format!("the planner failed: {e}")),
        }
    }

    /// One line on the planner's progress, while it runs.
    pub fn progress_line(&self) -> Option<String> {
        let job = self.job.as_ref()?;
        let (stage, done, total) = job.progress.lock().ok()?.clone();
        Some(format!(
            "planner: {stage} {:.0} % ({:.1} s)",
            100.0 * done as f64 / total.max(1) as f64,
            job.started.elapsed().as_secs_f64()
        ))
    }

    /// Adds an asset at a ground point.
    pub fn add(&mut self, kind: Kind, at: EastNorth) {
        match self.layout.add_at(kind, at) {
            Ok(id) => {
                self.changed();
                self.say(format!("added {id}"));
                self.selected = Some(id);
            }
            Err(e) => self.refuse(e),
        }
    }

    /// Saves the plan as GeoJSON.
    pub fn save(&mut self) {
        let text = match serde_json::to_string_pretty(&self.layout.geojson()) {
            Ok(t) => t,
            Err(e) => return self.refuse(format!("cannot encode the plan: {e}")),
        };
        match std::fs::write(&self.save_to, text) {
            Ok(()) => self.say(format!("saved to {}", self.save_to.display())),
            Err(e) => self.refuse(format!(
                "cannot write {}: {e} (is the directory writable?)",
                self.save_to.display()
            )),
        }
    }
}

/// The plan panel (bottom right).
#[derive(Component)]
pub struct PlanPanel;

/// The batched mesh of footprints, discs and coverages.
#[derive(Component)]
pub struct PlanMesh;

/// Adds plan mode to an app.
pub fn install(app: &mut App, mode: PlanMode) {
    app.insert_resource(PlanState::new(mode))
        .add_systems(Startup, setup)
        .add_systems(
            Update,
            (
                input.before(crate::controls::mouse),
                keys.after(crate::controls::keyboard),
                poll,
                draw_mesh,
                draw_lines,
                panel,
            )
                .chain()
                .after(crate::units::poll_source),
        );
}

/// The event as a scene: buildings, zones (with their weight), routes as
/// corridors, no-fly zones and the authorisation as volumes, privacy masks,
/// fixed cameras with their coverage.
pub fn scene_of(event: &Event) -> Scene {
    let frame = event.frame;
    let open = |ring: &[EastNorth]| scene::open(ring.to_vec());
    let mut s = Scene::empty(&event.name, 0.0, 0.0, 300.0);
    s.frame = frame;
    let mut far: f64 = 200.0;
    let mut reach = |r: &[EastNorth]| {
        for p in r {
            far = far.max(p[0].abs()).max(p[1].abs());
        }
    };
    for z in &event.zones {
        let ring = match &z.shape {
            Shape::Polygon(r) => open(r),
            Shape::Corridor { line, half_width_m } => corridor(line, *half_width_m),
        };
        reach(&ring);
        s.zones.push(scene::Zone {
            name: format!("{} (weight {})", z.name, z.weight),
            kind: ZoneKind::Event,
            ring,
            floor_m: 0.0,
            // Taller for heavier zones, so weight shows in 3D too.
            ceiling_m: 4.0 * z.weight.clamp(0.25, 10.0),
        });
    }
    for n in &event.no_fly {
        reach(&n.ring);
        s.zones.push(scene::Zone {
            name: n.name.clone(),
            kind: ZoneKind::NoFly,
            ring: open(&n.ring),
            floor_m: 0.0,
            ceiling_m: MAX_CEILING_M,
        });
    }
    for r in &event.authorisation {
        reach(r);
        s.zones.push(scene::Zone {
            name: "drone flight authorisation".into(),
            kind: ZoneKind::DronePerimeter,
            ring: open(r),
            floor_m: 0.0,
            ceiling_m: event.drones.ceiling_m,
        });
    }
    for m in &event.masks {
        s.privacy_masks.push(scene::PrivacyMask {
            name: "privacy mask".into(),
            ring: open(m),
        });
    }
    for b in &event.buildings {
        s.buildings.push(scene::Building {
            name: String::new(),
            footprint: open(&b.ring),
            height_m: b.height_m,
        });
    }
    let idx = vigie_ground::coverage::buildings::Buildings::new(event.buildings.clone());
    let optics = Optics::default();
    for c in &event.cameras {
        let b = (!event.buildings.is_empty()).then_some(&idx);
        s.cameras.push(scene::FixedCamera {
            id: c.id.clone(),
            name: c.name.clone().unwrap_or_default(),
            position: c.local(&frame),
            height_m: c.mount_height_m,
            heading_deg: c.heading_deg,
            tilt_deg: -c.tilt_deg,
            hfov_deg: c.hfov_deg,
            range_m: c.useful_range_m(),
            owner: match c.network {
                Network::Transit => OwnerNetwork::Transit,
                Network::Parking => OwnerNetwork::Parking,
                Network::Housing => OwnerNetwork::Housing,
                _ => OwnerNetwork::City,
            },
            coverage: c
                .coverage(&frame, b, &optics)
                .map(|r| open(&r))
                .unwrap_or_default(),
        });
    }
    s.extent_m = (far * 1.1).ceil();
    s.add_base(&event.base);
    s
}

/// A corridor's outline: the centre line offset by the half width on each
/// side (mitred joints, bounded at sharp turns), as one ring.
pub fn corridor(line: &[EastNorth], half_width_m: f64) -> Vec<EastNorth> {
    let n = line.len();
    if n < 2 {
        return Vec::new();
    }
    let normal = |a: EastNorth, b: EastNorth| {
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let l = f64::hypot(dx, dy).max(1e-9);
        [-dy / l, dx / l]
    };
    let mut left = Vec::with_capacity(n);
    let mut right = Vec::with_capacity(n);
    for k in 0..n {
        let n0 = normal(
            line[k.saturating_sub(1).min(n - 2)],
            line[k.max(1).min(n - 1)],
        );
        let n1 = normal(line[k.min(n - 2)], line[(k + 1).min(n - 1)]);
        let m = [n0[0] + n1[0], n0[1] + n1[1]];
        let ml = f64::hypot(m[0], m[1]).max(1e-9);
        let m = [m[0] / ml, m[1] / ml];
        // Mitre length, bounded at twice the half width.
        let cos = (m[0] * n1[0] + m[1] * n1[1]).max(0.5);
        let d = half_width_m / cos;
        left.push([line[k][0] + m[0] * d, line[k][1] + m[1] * d]);
        right.push([line[k][0] - m[0] * d, line[k][1] - m[1] * d]);
    }
    right.reverse();
    left.extend(right);
    left
}

/// Colours of the plan's layers.
pub mod colours {
    use bevy::color::Srgba;

    /// Drone station footprints.
    pub const STATION: Srgba = Srgba::new(0.15, 0.95, 0.45, 0.45);
    /// Patrol post discs.
    pub const POST: Srgba = Srgba::new(0.75, 0.35, 1.0, 0.35);
    /// Added cameras' coverage.
    pub const CAMERA: Srgba = Srgba::new(0.2, 0.55, 1.0, 0.45);
    /// Locked items' markers.
    pub const LOCKED: Srgba = Srgba::rgb(1.0, 0.6, 0.1);
}

fn setup(mut commands: Commands) {
    commands.spawn((
        PlanPanel,
        crate::labels::KeepClear,
        Node {
            position_type: PositionType::Absolute,
            // Above the base map's attribution line.
            bottom: px(20),
            right: px(6),
            max_width: px(460),
            padding: UiRect::all(px(6)),
            ..default()
        },
        BackgroundColor(Color::srgba(0.05, 0.06, 0.08, 0.78)),
        Text::new(""),
        TextFont::from_font_size(13.0),
        TextColor(Color::WHITE),
    ));
}

/// The ground point under the cursor, local frame.
fn ground_under(window: &Window, camera: &Camera, eye: &GlobalTransform) -> Option<EastNorth> {
    let cursor = window.cursor_position()?;
    let ray = camera.viewport_to_world(eye, cursor).ok()?;
    let dy = ray.direction.y;
    if dy >= -1e-6 {
        return None;
    }
    let t = -ray.origin.y / dy;
    let p = ray.origin + ray.direction * t;
    Some([f64::from(p.x), f64::from(-p.z)])
}

/// Where an item's marker is drawn: stations at altitude.
fn marker(asset: &Asset) -> Vec3 {
    match asset {
        Asset::Station(s) => world(s.pos, s.altitude_m),
        Asset::Post(p) => world(p.pos, 1.0),
        Asset::Camera(c) => world(c.pos, c.height_m),
    }
}

/// Mouse: a press on an item selects it and starts a drag on the ground;
/// moves apply as the cursor goes (refused ones say why and leave the
/// item where it was); a press elsewhere orbits as usual.
fn input(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window>,
    cameras: Query<(&Camera, &GlobalTransform)>,
    mut grab: ResMut<MouseGrab>,
    mut state: ResMut<PlanState>,
) {
    let (Some(window), Some((camera, eye))) = (windows.iter().next(), cameras.iter().next()) else {
        return;
    };
    if buttons.just_pressed(MouseButton::Left) {
        let cursor = window.cursor_position();
        let hit = cursor.and_then(|at| {
            state
                .layout
                .items()
                .iter()
                .filter_map(|i| {
                    let top = camera.world_to_viewport(eye, marker(&i.asset)).ok()?;
                    let foot = camera
                        .world_to_viewport(eye, world(i.asset.pos(), 0.0))
                        .ok()?;
                    Some((i.id.clone(), top.distance(at).min(foot.distance(at))))
                })
                .filter(|(_, d)| *d <= GRAB_RADIUS_PX)
                .min_by(|a, b| a.1.total_cmp(&b.1))
        });
        match hit {
            Some((id, _)) => {
                let last = state
                    .layout
                    .item(&id)
                    .map(|i| i.asset.pos())
                    .unwrap_or_default();
                state.selected = Some(id.clone());
                state.drag = Some(Drag {
                    id,
                    last,
                    moved: false,
                });
                grab.0 = true;
            }
            None => state.selected = None,
        }
    }
    if buttons.pressed(MouseButton::Left)
        && let Some(mut drag) = state.drag.clone()
        && let Some(p) = ground_under(window, camera, eye)
        && f64::hypot(p[0] - drag.last[0], p[1] - drag.last[1]) >= DRAG_STEP_M
    {
        match state.layout.move_to(&drag.id, p) {
            Ok(()) => {
                if drag.moved {
                    state.layout.merge_last_undo();
                }
                drag.moved = true;
                drag.last = p;
                state.changed();
                if state.message.as_ref().is_some_and(|m| m.1) {
                    state.message = None;
                }
            }
            Err(e) => state.refuse(e),
        }
        state.drag = Some(drag);
    }
    if !buttons.pressed(MouseButton::Left) && state.drag.is_some() {
        state.drag = None;
        grab.0 = false;
    }
}

/// Plan keys: add at the cursor, remove, undo, altitude, lock, plan, save.
#[allow(clippy::too_many_arguments)]
fn keys(
    keys: Res<ButtonInput<KeyCode>>,
    prompt: Res<FindPrompt>,
    windows: Query<&Window>,
    cameras: Query<(&Camera, &GlobalTransform)>,
    mut state: ResMut<PlanState>,
) {
    if prompt.open {
        return;
    }
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let cursor = match (windows.iter().next(), cameras.iter().next()) {
        (Some(w), Some((c, e))) => ground_under(w, c, e),
        _ => None,
    };
    for (key, kind) in [
        (KeyCode::KeyN, Kind::Station),
        (KeyCode::KeyP, Kind::Post),
        (KeyCode::KeyK, Kind::Camera),
    ] {
        if keys.just_pressed(key) && !ctrl {
            match cursor {
                Some(at) => state.add(kind, at),
                None => state.refuse("point at the ground to add there"),
            }
        }
    }
    if keys.any_just_pressed([KeyCode::Delete, KeyCode::Backspace, KeyCode::KeyX])
        && let Some(id) = state.selected.clone()
    {
        match state.layout.remove(&id) {
            Ok(()) => {
                state.selected = None;
                state.changed();
                state.say(format!("removed {id} (Ctrl+Z undoes)"));
            }
            Err(e) => state.refuse(e),
        }
    }
    if (ctrl && keys.just_pressed(KeyCode::KeyZ)) || keys.just_pressed(KeyCode::KeyU) {
        if state.layout.undo() {
            state.changed();
            state.say("undone");
        } else {
            state.say("nothing to undo");
        }
    }
    for (key, dir) in [(KeyCode::PageUp, 1.0), (KeyCode::PageDown, -1.0)] {
        if keys.just_pressed(key)
            && let Some(id) = state.selected.clone()
        {
            match state.layout.raise(&id, dir * ALTITUDE_STEP_M) {
                Ok(()) => state.changed(),
                Err(e) => state.refuse(e),
            }
        }
    }
    if keys.just_pressed(KeyCode::KeyL)
        && let Some(id) = state.selected.clone()
    {
        let locked = state.layout.item(&id).is_some_and(|i| i.locked);
        if state.layout.set_locked(&id, !locked).is_ok() {
            state.changed();
            state.say(format!(
                "{id} {}",
                if locked {
                    "unlocked"
                } else {
                    "locked: the planner keeps it"
                }
            ));
        }
    }
    if keys.just_pressed(KeyCode::KeyG) && !ctrl {
        state.start_planner();
    }
    if ctrl && keys.just_pressed(KeyCode::KeyS) {
        state.save();
    }
    if keys.just_pressed(KeyCode::Escape) {
        state.selected = None;
    }
}

fn poll(mut state: ResMut<PlanState>) {
    if state.job.is_some() {
        state.poll_planner();
    }
}

/// Rebuilds the footprints' mesh when the layout changed.
fn draw_mesh(
    mut commands: Commands,
    mut state: ResMut<PlanState>,
    assets: Option<Res<MarkerAssets>>,
    mut meshes: ResMut<Assets<Mesh>>,
    old: Query<Entity, With<PlanMesh>>,
) {
    let Some(assets) = assets else { return };
    if state.drawn == Some(state.revision) {
        return;
    }
    state.drawn = Some(state.revision);
    for e in &old {
        commands.entity(e).despawn();
    }
    let mut b = meshes::Batch::default();
    for i in state.layout.items() {
        match &i.asset {
            Asset::Station(_) => {
                b.flat_polygon(&i.ring, PLAN_UP_M, palette::linear(colours::STATION))
            }
            Asset::Camera(_) => {
                b.flat_polygon(&i.ring, PLAN_UP_M - 0.05, palette::linear(colours::CAMERA))
            }
            Asset::Post(p) => b.flat_polygon(
                &disc(p.pos, p.radius_m),
                PLAN_UP_M - 0.1,
                palette::linear(colours::POST),
            ),
        }
    }
    if let Some(mesh) = b.into_mesh() {
        commands.spawn((
            PlanMesh,
            Mesh3d(meshes.add(mesh)),
            MeshMaterial3d(assets.overlay.clone()),
        ));
    }
}

/// A disc as a 32-gon.
fn disc(c: EastNorth, r: f64) -> Vec<EastNorth> {
    (0..32)
        .map(|k| {
            let a = k as f64 * std::f64::consts::TAU / 32.0;
            [c[0] + r * a.cos(), c[1] + r * a.sin()]
        })
        .collect()
}

/// Markers as lines: stations with their altitude line and frustum edges,
/// posts with their radius, cameras with their mast; the selection in
/// yellow, locked items in orange.
fn draw_lines(mut gizmos: Gizmos, state: Res<PlanState>, orbit: Res<Orbit>) {
    let size = orbit.0.distance_m * 0.012;
    for i in state.layout.items() {
        let selected = state.selected.as_deref() == Some(i.id.as_str());
        let base = match &i.asset {
            Asset::Station(_) => colours::STATION,
            Asset::Post(_) => colours::POST,
            Asset::Camera(_) => colours::CAMERA,
        }
        .with_alpha(1.0);
        let colour = Color::from(if selected {
            palette::SELECTION
        } else if i.locked {
            colours::LOCKED
        } else {
            base
        });
        let top = marker(&i.asset);
        let foot = world(i.asset.pos(), 0.0);
        gizmos.line(foot, top, colour);
        gizmos.sphere(Isometry3d::from_translation(top), size, colour);
        match &i.asset {
            Asset::Station(_) => {
                let n = i.ring.len();
                for k in [0, n / 4, n / 2, 3 * n / 4] {
                    if let Some(p) = i.ring.get(k) {
                        gizmos.line(top, world(*p, PLAN_UP_M), colour);
                    }
                }
            }
            Asset::Post(p) => {
                gizmos.circle(
                    Isometry3d::new(
                        world(p.pos, PLAN_UP_M),
                        Quat::from_rotation_x(std::f32::consts::FRAC_PI_2),
                    ),
                    p.radius_m as f32,
                    colour,
                );
            }
            Asset::Camera(_) => {}
        }
    }
}

/// Refreshes the plan panel (shown with the HUD layer).
fn panel(
    state: Res<PlanState>,
    layers: Res<crate::layers::Layers>,
    mut q: Query<(&mut Text, &mut Visibility), With<PlanPanel>>,
) {
    use std::fmt::Write as _;
    let hud = layers.shown(crate::layers::Layer::Hud);
    for (_, mut v) in &mut q {
        let want = if hud {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if *v != want {
            *v = want;
        }
    }
    if !hud {
        return;
    }
    let f = &state.figure;
    let items = state.layout.items();
    let count = |k: Kind| items.iter().filter(|i| Kind::of(&i.asset) == k).count();
    let mut s = format!(
        "PLAN  coverage {:.1} %  (fixed cameras alone {:.1} %)\nairframes {}/{}  teams {}/{}  | {} stations, {} posts, {} added cameras\n",
        f.after * 100.0,
        f.before * 100.0,
        f.airframes_used,
        f.airframes,
        f.teams_used,
        f.teams,
        count(Kind::Station),
        count(Kind::Post),
        count(Kind::Camera),
    );
    for z in f.zones.iter().take(PANEL_ZONES) {
        let _ = writeln!(
            s,
            "  {} (x{}): {:.0} % -> {:.0} %",
            z.name,
            z.weight,
            z.before * 100.0,
            z.after * 100.0
        );
    }
    if f.zones.len() > PANEL_ZONES {
        let _ = writeln!(s, "  ... {} more zones", f.zones.len() - PANEL_ZONES);
    }
    if let Some(i) = state
        .selected
        .as_deref()
        .and_then(|id| state.layout.item(id))
    {
        let lock = if i.locked { ", locked" } else { "" };
        let _ = match &i.asset {
            Asset::Station(st) => writeln!(
                s,
                "{}: drone station at {:.0} m, gimbal {:.0} deg / {:.0} deg, {} airframes, {} sorties{lock}",
                i.id,
                st.altitude_m,
                st.pitch_deg,
                st.yaw_deg,
                st.rotation.airframes,
                st.rotation.sorties
            ),
            Asset::Post(p) => writeln!(
                s,
                "{}: patrol post, radius {:.0} m, {} teams{lock}",
                i.id, p.radius_m, p.teams
            ),
            Asset::Camera(c) => writeln!(
                s,
                "{}: added camera, mast {:.0} m, range {:.0} m{lock}",
                i.id, c.height_m, c.range_m
            ),
        };
    }
    if let Some(line) = state.progress_line() {
        let _ = writeln!(s, "{line}");
    }
    if let Some((m, refused)) = &state.message {
        let _ = writeln!(s, "{}{m}", if *refused { "! " } else { "" });
    }
    s.push_str("N station  P post  K camera  drag to move  Del remove\nCtrl+Z undo  PgUp/PgDn altitude  L lock  G plan  Ctrl+S save");
    for (mut text, _) in &mut q {
        if text.0 != s {
            text.0 = s.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meshes::signed_area; // twice the area

    #[test]
    fn a_corridor_outline_has_the_corridor_area() {
        // A straight 100 m line, 10 m each side: 2000 m².
        let ring = corridor(&[[0.0, 0.0], [50.0, 0.0], [100.0, 0.0]], 10.0);
        assert_eq!(ring.len(), 6);
        assert!((signed_area(&ring).abs() / 2.0 - 2000.0).abs() < 1e-6);
        // A right-angle bend keeps every point within reach of the line.
        let line = [[0.0, 0.0], [100.0, 0.0], [100.0, 100.0]];
        let ring = corridor(&line, 10.0);
        for p in &ring {
            let d = vigie_ground::plan::event::polyline_distance_m(&line, *p);
            assert!(d <= 10.0 * 1.5 + 1e-6, "{p:?} at {d}");
        }
    }

    #[test]
    fn the_event_scene_has_every_layer_and_holds_the_event() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../simulations/events/concorde.toml");
        let event = Event::load(&path).expect("example event loads");
        let s = scene_of(&event);
        let kinds = |k: ZoneKind| s.zones.iter().filter(|z| z.kind == k).count();
        assert_eq!(kinds(ZoneKind::Event), event.zones.len());
        assert_eq!(kinds(ZoneKind::NoFly), event.no_fly.len());
        assert_eq!(kinds(ZoneKind::DronePerimeter), event.authorisation.len());
        assert_eq!(s.cameras.len(), event.cameras.len());
        for z in &s.zones {
            for p in &z.ring {
                assert!(p[0].abs() <= s.extent_m && p[1].abs() <= s.extent_m);
            }
        }
    }
}

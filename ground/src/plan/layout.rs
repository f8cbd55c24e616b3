//! A plan being edited by hand: drone stations, patrol posts and added
//! cameras placed anywhere, and the coverage figure kept up to date as they
//! move.
//!
//! The figure uses the planner's own cell model ([`candidates::cells`]) and
//! the planner's rules for what an asset sees: a station counts the cells
//! of its footprint that fixed cameras miss and whose zones are watched
//! while drones may fly; a post the cells within its radius that fixed
//! cameras miss; an added camera the cells of its ground coverage (clipped
//! by buildings) that fixed cameras miss. So a layout made from a plan
//! gives the plan's figure, and the viewer's plan mode and the CLI agree.
//!
//! Edits are incremental: moving an asset removes its old cells and adds
//! its new ones (a per-cell count of who sees it), and the figure is summed
//! over the few distinct zone sets, not over cells. Every cell of one zone
//! set has the same value, so the sums are exact integer counts times a
//! value: the same layout always gives the same figure, whatever the order
//! of the edits.
//!
//! Moves that break a constraint the planner keeps (a station in a no-fly
//! zone, outside the flight authorisation, above the ceiling, out of reach
//! of every launch site; more airframes or teams than there are; a post
//! inside a building) are refused with the reason, and the layout is left
//! as it was.

use std::sync::Arc;

use serde_json::{Value, json};

use super::candidates::{self, Cells, NONE, Post, Station};
use super::event::{Event, Window};
use super::objective::Instance;
use super::report;
use super::rotation;
use super::{Cover, Options, Plan, PlanError, PlannedPost, PlannedStation, Quality, Totals};
use crate::coverage::Network;
use crate::coverage::buildings::Buildings;
use crate::coverage::camera::{FixedCamera, Optics, Tier};
use crate::coverage::footprint::{gimbal_pose, ground_footprint};
use crate::coverage::polygon::Pt;

/// A camera the planner adds to the site (not in the inventory).
#[derive(Debug, Clone, PartialEq)]
pub struct AddedCamera {
    /// Mount position, local frame.
    pub pos: Pt,
    /// Mount height above the ground, metres.
    pub height_m: f64,
    /// Optical axis heading, degrees clockwise from north.
    pub heading_deg: f64,
    /// Optical axis tilt, degrees: 0 = horizon, negative looks down.
    pub tilt_deg: f64,
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
    /// Useful range, slant metres.
    pub range_m: f64,
}

impl AddedCamera {
    /// A 360° street camera on a 6 m mast seeing 60 m, the kind a city adds
    /// ("one camera per street"), at `pos`.
    pub fn street(pos: Pt) -> AddedCamera {
        AddedCamera {
            pos,
            height_m: 6.0,
            heading_deg: 0.0,
            tilt_deg: -15.0,
            hfov_deg: 120.0,
            range_m: 60.0,
        }
    }

    /// As an inventory camera, for the coverage model.
    fn as_fixed(&self, event: &Event, id: &str) -> FixedCamera {
        let (lat, lon) = event.frame.to_wgs84(self.pos[0], self.pos[1]);
        FixedCamera {
            id: id.to_owned(),
            network: Network::City,
            lat_deg: lat,
            lon_deg: lon,
            mount_height_m: self.height_m,
            heading_deg: self.heading_deg,
            tilt_deg: self.tilt_deg,
            hfov_deg: self.hfov_deg,
            range_m: Some(self.range_m),
            resolution_px: None,
            range_tier: Tier::Detection,
            ptz: false,
            name: None,
        }
    }
}

/// What an item of the layout is.
#[derive(Debug, Clone, PartialEq)]
pub enum Asset {
    /// A drone station (position, altitude, gimbal, rotation).
    Station(Station),
    /// A patrol post.
    Post(Post),
    /// An added fixed camera.
    Camera(AddedCamera),
}

impl Asset {
    /// Position, local frame.
    pub fn pos(&self) -> Pt {
        match self {
            Asset::Station(s) => s.pos,
            Asset::Post(p) => p.pos,
            Asset::Camera(c) => c.pos,
        }
    }

    /// The kind, in words, for messages.
    pub fn noun(&self) -> &'static str {
        match self {
            Asset::Station(_) => "drone station",
            Asset::Post(_) => "patrol post",
            Asset::Camera(_) => "camera",
        }
    }
}

/// One placed asset.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Stable id in the layout (`S01`, `P001`, `C01`).
    pub id: String,
    /// What and where.
    pub asset: Asset,
    /// Ground the asset sees (a station's footprint, a camera's coverage;
    /// empty for a post, which sees a disc), closed local ring.
    pub ring: Vec<Pt>,
    /// Locked items are kept when the planner runs again.
    pub locked: bool,
    /// Cells it counts, ascending.
    cells: Vec<u32>,
}

/// Why an edit was refused; the message says what to do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The edit breaks a constraint of the event.
    #[error("{0}")]
    Constraint(String),
    /// No item has this id.
    #[error("no item {0} in the plan")]
    Unknown(String),
}

/// Coverage of one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneFigure {
    /// Zone name.
    pub name: String,
    /// Weight.
    pub weight: f64,
    /// Fraction of its open area fixed cameras see.
    pub before: f64,
    /// Fraction seen with the layout.
    pub after: f64,
}

/// The coverage figure of a layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Weighted fraction of the zones fixed cameras alone see.
    pub before: f64,
    /// Weighted fraction seen with the layout.
    pub after: f64,
    /// Per zone, in event order.
    pub zones: Vec<ZoneFigure>,
    /// Airframes the stations take.
    pub airframes_used: u32,
    /// Airframes available.
    pub airframes: u32,
    /// Teams the posts take.
    pub teams_used: u32,
    /// Teams available.
    pub teams: u32,
}

/// An edit, kept to undo it.
#[derive(Debug, Clone)]
enum Undo {
    /// An item was added: remove it.
    Remove(String),
    /// An item was removed from this index: put it back.
    Insert(usize, Item),
    /// An item changed: restore its previous state.
    Restore(Item),
    /// The whole list was replaced (the planner ran): put the old one back.
    Replace(Vec<Item>),
}

/// Most edits kept for undo; the oldest is forgotten first.
pub const UNDO_DEPTH: usize = 200;

/// A plan being edited, with its coverage figure.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The event.
    event: Arc<Event>,
    /// Options the cells were made with (and the planner runs with).
    opts: Options,
    /// The planner's sample cells.
    cells: Cells,
    /// Buildings, for cameras' line of sight and posts' ground.
    buildings: Buildings,
    /// Value of one cell of each zone set, weighted square metres.
    set_value: Vec<f64>,
    /// Cells of each zone set.
    set_cells: Vec<u32>,
    /// Cells of each zone set fixed cameras see.
    set_fixed: Vec<u32>,
    /// Cells of each zone set seen by fixed cameras or an item.
    set_covered: Vec<u32>,
    /// Items seeing each cell (only cells fixed cameras miss are counted).
    count: Vec<u32>,
    /// The items, stations first then posts then cameras as added.
    items: Vec<Item>,
    /// Edits to undo, newest last.
    undo: Vec<Undo>,
    /// Scratch for ring filling.
    xs: Vec<f64>,
}

impl Layout {
    /// An empty layout on an event, with the planner's cells for `opts`.
    pub fn new(event: Arc<Event>, opts: Options) -> Result<Layout, PlanError> {
        let cells = candidates::cells(&event, &opts)?;
        Ok(Layout::with_cells(event, opts, cells))
    }

    /// An empty layout on cells already made (a plan's).
    pub fn with_cells(event: Arc<Event>, opts: Options, cells: Cells) -> Layout {
        let n = cells.zone_sets.len();
        let mut set_value = vec![0.0; n];
        let mut set_cells = vec![0u32; n];
        let mut set_fixed = vec![0u32; n];
        for c in 0..cells.len() {
            let s = cells.zone_set[c] as usize;
            set_value[s] = cells.value[c];
            set_cells[s] += 1;
            set_fixed[s] += u32::from(cells.fixed[c]);
        }
        let buildings = Buildings::new(event.buildings.clone());
        Layout {
            count: vec![0; cells.len()],
            set_covered: set_fixed.clone(),
            event,
            opts,
            cells,
            buildings,
            set_value,
            set_cells,
            set_fixed,
            items: Vec::new(),
            undo: Vec::new(),
            xs: Vec::new(),
        }
    }

    /// A layout holding a plan's stations and posts, unlocked.
    pub fn from_plan(event: Arc<Event>, opts: Options, plan: &Plan) -> Layout {
        let mut l = Layout::with_cells(event, opts, plan.cells.clone());
        l.put_plan(plan);
        l
    }

    /// The event.
    pub fn event(&self) -> &Arc<Event> {
        &self.event
    }

    /// The planner options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The sample cells.
    pub fn cells(&self) -> &Cells {
        &self.cells
    }

    /// The items.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The item with this id.
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    /// Whether cell `c` is seen by a fixed camera or an item.
    pub fn covered(&self, c: usize) -> bool {
        self.cells.fixed[c] || self.count[c] > 0
    }

    /// The coverage figure.
    pub fn figure(&self) -> Figure {
        let (mut all, mut before, mut after) = (0.0, 0.0, 0.0);
        for s in 0..self.set_value.len() {
            let v = self.set_value[s];
            all += v * f64::from(self.set_cells[s]);
            before += v * f64::from(self.set_fixed[s]);
            after += v * f64::from(self.set_covered[s]);
        }
        let share = |x: f64, of: f64| if of > 0.0 { x / of } else { 0.0 };
        let nz = self.event.zones.len();
        let (mut area, mut fixed, mut cov) = (vec![0u32; nz], vec![0u32; nz], vec![0u32; nz]);
        for (s, set) in self.cells.zone_sets.iter().enumerate() {
            for &z in set {
                let z = z as usize;
                area[z] += self.set_cells[s];
                fixed[z] += self.set_fixed[s];
                cov[z] += self.set_covered[s];
            }
        }
        let zones = self
            .event
            .zones
            .iter()
            .enumerate()
            .map(|(z, zone)| ZoneFigure {
                name: zone.name.clone(),
                weight: zone.weight,
                before: share(f64::from(fixed[z]), f64::from(area[z])),
                after: share(f64::from(cov[z]), f64::from(area[z])),
            })
            .collect();
        let (airframes_used, teams_used) = self.used(None);
        Figure {
            before: share(before, all),
            after: share(after, all),
            zones,
            airframes_used,
            airframes: self.event.drones.count,
            teams_used,
            teams: self.event.patrols.count,
        }
    }

    /// Airframes and teams the items take, leaving out item `skip`.
    fn used(&self, skip: Option<&str>) -> (u32, u32) {
        let (mut a, mut t) = (0, 0);
        for i in &self.items {
            if Some(i.id.as_str()) == skip {
                continue;
            }
            match &i.asset {
                Asset::Station(s) => a += s.rotation.airframes,
                Asset::Post(p) => t += p.teams,
                Asset::Camera(_) => {}
            }
        }
        (a, t)
    }

    /// A drone station at `pos`, checked against the event's constraints,
    /// with its window and rotation as the planner would give them.
    pub fn station_at(
        &mut self,
        pos: Pt,
        altitude_m: f64,
        pitch_deg: f64,
        yaw_deg: f64,
    ) -> Result<Station, Refusal> {
        let ev = &self.event;
        let d = &ev.drones;
        let no = |m: String| Err(Refusal::Constraint(m));
        if altitude_m.is_nan() || altitude_m <= 0.0 || altitude_m > d.ceiling_m {
            return no(format!(
                "{altitude_m:.0} m is above the {:.0} m ceiling: fly lower",
                d.ceiling_m
            ));
        }
        if !ev.authorised(pos) {
            return no(
                "outside the flight authorisation: place the station inside its perimeter".into(),
            );
        }
        if let Some(z) = ev
            .no_fly
            .iter()
            .find(|z| crate::coverage::polygon::point_in_ring(&z.ring, pos))
        {
            return no(format!("inside the no-fly zone {:?}", z.name));
        }
        let Some((launch, dist)) = d
            .launch_sites
            .iter()
            .enumerate()
            .map(|(i, l)| (i, f64::hypot(l[0] - pos[0], l[1] - pos[1])))
            .reduce(|a, b| if b.1 < a.1 { b } else { a })
        else {
            return no("the event has no drone launch site".into());
        };
        let mut st = Station {
            pos,
            altitude_m,
            pitch_deg,
            yaw_deg,
            launch,
            window: ev.flight_window,
            rotation: rotation::Rotation {
                transit_s: 0.0,
                on_station_s: 0.0,
                cycle_s: 0.0,
                sorties: 0,
                airframes: 0,
            },
        };
        let (_, cells) = self.station_cells(&st);
        let mut seen = vec![false; self.cells.zone_sets.len()];
        st.window = candidates::hull(&self.event, &self.cells, &cells, &mut seen)
            .and_then(|w| w.intersect(&self.event.flight_window))
            .unwrap_or(self.event.flight_window);
        let d = &self.event.drones;
        let transit = rotation::transit_s(d, dist, altitude_m);
        let Some(rot) = rotation::rotation(d, transit, st.window.len_s() as f64) else {
            return no(format!(
                "{:.0} m from the nearest launch site: a drone would have less than a minute on station",
                dist
            ));
        };
        st.rotation = rot;
        Ok(st)
    }

    /// A patrol post at `pos` with the event's radius, or refused.
    pub fn post_at(&mut self, pos: Pt) -> Result<Post, Refusal> {
        if !self.buildings.is_empty() && self.buildings.contains(pos) {
            return Err(Refusal::Constraint(
                "inside a building: place the post on open ground".into(),
            ));
        }
        let r = self.event.patrols.post_radius_m;
        let mut post = Post {
            pos,
            radius_m: r,
            window: Window {
                start_s: 0,
                end_s: 1,
            },
            teams: 1,
        };
        let cells = self.post_cells(&post);
        let mut seen = vec![false; self.cells.zone_sets.len()];
        post.window = candidates::hull(&self.event, &self.cells, &cells, &mut seen)
            .or_else(|| self.event.span())
            .unwrap_or(self.event.flight_window);
        post.teams = rotation::teams(self.event.patrols.shift_s, post.window.len_s() as f64);
        Ok(post)
    }

    /// Cells a station counts and its footprint.
    fn station_cells(&mut self, s: &Station) -> (Vec<Pt>, Vec<u32>) {
        let d = &self.event.drones;
        let pose = gimbal_pose(
            s.pos[0],
            s.pos[1],
            s.altitude_m,
            0.0,
            s.pitch_deg,
            s.yaw_deg,
            (d.hfov_deg, d.vfov_deg),
            d.range_m,
        );
        let Some(ring) = ground_footprint(&pose) else {
            return (Vec::new(), Vec::new());
        };
        let ring: Vec<Pt> = ring.into_iter().map(|(e, n)| [e, n]).collect();
        let cells = &self.cells;
        let mut set = Vec::new();
        cells.grid.fill(&ring, &mut self.xs, |g| {
            let c = cells.lookup[g];
            if c != NONE && candidates::drone_counts(cells, c as usize) {
                set.push(c);
            }
        });
        set.sort_unstable();
        (ring, set)
    }

    /// Cells a post counts.
    fn post_cells(&self, p: &Post) -> Vec<u32> {
        let cells = &self.cells;
        let mut set = Vec::new();
        cells.grid.disc(p.pos, p.radius_m, |g| {
            let c = cells.lookup[g];
            if c != NONE && !cells.fixed[c as usize] {
                set.push(c);
            }
        });
        set.sort_unstable();
        set
    }

    /// Cells an added camera counts and its coverage ring.
    fn camera_cells(&mut self, cam: &AddedCamera) -> (Vec<Pt>, Vec<u32>) {
        let fixed = cam.as_fixed(&self.event, "added");
        let b = (!self.buildings.is_empty()).then_some(&self.buildings);
        let Some(ring) = fixed.coverage(&self.event.frame, b, &Optics::default()) else {
            return (Vec::new(), Vec::new());
        };
        let cells = &self.cells;
        let mut set = Vec::new();
        cells.grid.fill(&ring, &mut self.xs, |g| {
            let c = cells.lookup[g];
            if c != NONE && !cells.fixed[c as usize] {
                set.push(c);
            }
        });
        set.sort_unstable();
        (ring, set)
    }

    /// What an asset sees: its ring and counted cells.
    fn sees(&mut self, asset: &Asset) -> (Vec<Pt>, Vec<u32>) {
        match asset {
            Asset::Station(s) => self.station_cells(s),
            Asset::Post(p) => (Vec::new(), self.post_cells(p)),
            Asset::Camera(c) => self.camera_cells(c),
        }
    }

    /// Checks the budget with `asset` in place of item `replacing`.
    fn check_budget(&self, asset: &Asset, replacing: Option<&str>) -> Result<(), Refusal> {
        let (a, t) = self.used(replacing);
        match asset {
            Asset::Station(s) if a + s.rotation.airframes > self.event.drones.count => {
                Err(Refusal::Constraint(format!(
                    "this station needs {} airframes and {} of {} are already used: remove a station first",
                    s.rotation.airframes, a, self.event.drones.count
                )))
            }
            Asset::Post(p) if t + p.teams > self.event.patrols.count => {
                Err(Refusal::Constraint(format!(
                    "this post needs {} teams and {} of {} are already used: remove a post first",
                    p.teams, t, self.event.patrols.count
                )))
            }
            _ => Ok(()),
        }
    }

    fn count_cells(&mut self, cells: &[u32], add: bool) {
        for &c in cells {
            let c = c as usize;
            let s = self.cells.zone_set[c] as usize;
            if add {
                self.count[c] += 1;
                if self.count[c] == 1 {
                    self.set_covered[s] += 1;
                }
            } else {
                self.count[c] -= 1;
                if self.count[c] == 0 {
                    self.set_covered[s] -= 1;
                }
            }
        }
    }

    fn next_id(&self, asset: &Asset) -> String {
        let (prefix, width) = match asset {
            Asset::Station(_) => ("S", 2),
            Asset::Post(_) => ("P", 3),
            Asset::Camera(_) => ("C", 2),
        };
        (1..)
            .map(|k| format!("{prefix}{k:0width$}"))
            .find(|id| self.item(id).is_none())
            .unwrap_or_default()
    }

    fn push_undo(&mut self, u: Undo) {
        if self.undo.len() >= UNDO_DEPTH {
            self.undo.remove(0);
        }
        self.undo.push(u);
    }

    /// Adds an already-checked asset; returns its id.
    fn insert(
        &mut self,
        asset: Asset,
        locked: bool,
        at: Option<usize>,
        id: Option<String>,
    ) -> String {
        let (ring, cells) = self.sees(&asset);
        self.count_cells(&cells, true);
        let id = id.unwrap_or_else(|| self.next_id(&asset));
        let item = Item {
            id: id.clone(),
            asset,
            ring,
            locked,
            cells,
        };
        match at {
            Some(k) if k <= self.items.len() => self.items.insert(k, item),
            _ => self.items.push(item),
        }
        id
    }

    /// Adds an asset after checking the budget; returns its id.
    pub fn add(&mut self, asset: Asset) -> Result<String, Refusal> {
        self.check_budget(&asset, None)?;
        let id = self.insert(asset, false, None, None);
        self.push_undo(Undo::Remove(id.clone()));
        Ok(id)
    }

    /// Adds a drone station, patrol post or camera at `pos` with default
    /// settings (a station at the highest candidate altitude looking down).
    pub fn add_at(&mut self, kind: Kind, pos: Pt) -> Result<String, Refusal> {
        let asset = self.asset_at(kind, pos, None)?;
        self.add(asset)
    }

    /// An asset of `kind` at `pos`, keeping `like`'s settings if given.
    fn asset_at(&mut self, kind: Kind, pos: Pt, like: Option<&Asset>) -> Result<Asset, Refusal> {
        Ok(match (kind, like) {
            (Kind::Station, Some(Asset::Station(s))) => {
                let (a, p, y) = (s.altitude_m, s.pitch_deg, s.yaw_deg);
                Asset::Station(self.station_at(pos, a, p, y)?)
            }
            (Kind::Station, _) => {
                let alt = self
                    .opts
                    .altitudes_m
                    .iter()
                    .copied()
                    .filter(|a| *a > 0.0 && *a <= self.event.drones.ceiling_m)
                    .fold(f64::NAN, f64::max);
                let alt = if alt.is_nan() {
                    self.event.drones.ceiling_m
                } else {
                    alt
                };
                Asset::Station(self.station_at(pos, alt, -90.0, 0.0)?)
            }
            (Kind::Post, _) => Asset::Post(self.post_at(pos)?),
            (Kind::Camera, Some(Asset::Camera(c))) => {
                Asset::Camera(AddedCamera { pos, ..c.clone() })
            }
            (Kind::Camera, _) => Asset::Camera(AddedCamera::street(pos)),
        })
    }

    /// Replaces item `id`'s asset after checking the budget.
    pub fn replace(&mut self, id: &str, asset: Asset) -> Result<(), Refusal> {
        let k = self
            .items
            .iter()
            .position(|i| i.id == id)
            .ok_or_else(|| Refusal::Unknown(id.to_owned()))?;
        self.check_budget(&asset, Some(id))?;
        let old = self.items[k].clone();
        self.count_cells(&old.cells, false);
        let (ring, cells) = self.sees(&asset);
        self.count_cells(&cells, true);
        let item = &mut self.items[k];
        item.asset = asset;
        item.ring = ring;
        item.cells = cells;
        self.push_undo(Undo::Restore(old));
        Ok(())
    }

    /// Moves item `id` to `pos`, keeping its settings; refused moves leave
    /// the layout unchanged.
    pub fn move_to(&mut self, id: &str, pos: Pt) -> Result<(), Refusal> {
        let item = self
            .item(id)
            .ok_or_else(|| Refusal::Unknown(id.to_owned()))?;
        let like = item.asset.clone();
        let asset = self.asset_at(Kind::of(&like), pos, Some(&like))?;
        self.replace(id, asset)
    }

    /// Raises (or lowers, negative) a station by `delta_m`; refused above
    /// the ceiling.
    pub fn raise(&mut self, id: &str, delta_m: f64) -> Result<(), Refusal> {
        let item = self
            .item(id)
            .ok_or_else(|| Refusal::Unknown(id.to_owned()))?;
        let Asset::Station(s) = &item.asset else {
            return Err(Refusal::Constraint(format!(
                "{id} is a {}: only drone stations change altitude",
                item.asset.noun()
            )));
        };
        let (pos, alt, p, y) = (s.pos, s.altitude_m + delta_m, s.pitch_deg, s.yaw_deg);
        let st = self.station_at(pos, alt, p, y)?;
        self.replace(id, Asset::Station(st))
    }

    /// Removes item `id`.
    pub fn remove(&mut self, id: &str) -> Result<(), Refusal> {
        let k = self
            .items
            .iter()
            .position(|i| i.id == id)
            .ok_or_else(|| Refusal::Unknown(id.to_owned()))?;
        let item = self.items.remove(k);
        self.count_cells(&item.cells, false);
        self.push_undo(Undo::Insert(k, item));
        Ok(())
    }

    /// Locks or unlocks item `id` (locked items survive a planner run).
    pub fn set_locked(&mut self, id: &str, locked: bool) -> Result<(), Refusal> {
        let item = self
            .items
            .iter_mut()
            .find(|i| i.id == id)
            .ok_or_else(|| Refusal::Unknown(id.to_owned()))?;
        item.locked = locked;
        Ok(())
    }

    /// Folds the last edit into the one before when both changed the same
    /// item (a drag is one edit: undo puts the item back where the drag
    /// began).
    pub fn merge_last_undo(&mut self) {
        let n = self.undo.len();
        if n >= 2
            && let (Undo::Restore(a), Undo::Restore(b)) = (&self.undo[n - 2], &self.undo[n - 1])
            && a.id == b.id
        {
            self.undo.pop();
        }
    }

    /// Undoes the last edit; `false` when there is none.
    pub fn undo(&mut self) -> bool {
        let Some(u) = self.undo.pop() else {
            return false;
        };
        match u {
            Undo::Remove(id) => {
                if let Some(k) = self.items.iter().position(|i| i.id == id) {
                    let item = self.items.remove(k);
                    self.count_cells(&item.cells, false);
                }
            }
            Undo::Insert(k, item) => {
                self.count_cells(&item.cells, true);
                self.items.insert(k.min(self.items.len()), item);
            }
            Undo::Restore(old) => {
                if let Some(k) = self.items.iter().position(|i| i.id == old.id) {
                    let cur = std::mem::replace(&mut self.items[k], old);
                    self.count_cells(&cur.cells, false);
                    let cells = self.items[k].cells.clone();
                    self.count_cells(&cells, true);
                }
            }
            Undo::Replace(items) => self.set_items(items),
        }
        true
    }

    /// Replaces every item, recounting cells.
    fn set_items(&mut self, items: Vec<Item>) {
        self.count.iter_mut().for_each(|c| *c = 0);
        self.set_covered.clone_from(&self.set_fixed);
        self.items = items;
        let all: Vec<u32> = self.items.iter().flat_map(|i| i.cells.clone()).collect();
        self.count_cells(&all, true);
    }

    /// Replaces the unlocked items by a plan's stations and posts (locked
    /// items and added cameras stay); one undo step. Planned items that
    /// would exceed the budget next to locked ones are left out; returns
    /// how many were.
    pub fn apply_plan(&mut self, plan: &Plan) -> usize {
        let before = self.items.clone();
        self.items
            .retain(|i| i.locked || matches!(i.asset, Asset::Camera(_)));
        let keep = std::mem::take(&mut self.items);
        self.set_items(keep);
        let dropped = self.put_plan(plan);
        self.push_undo(Undo::Replace(before));
        dropped
    }

    fn put_plan(&mut self, plan: &Plan) -> usize {
        let mut dropped = 0;
        let assets = plan
            .stations
            .iter()
            .map(|s| Asset::Station(s.station.clone()))
            .chain(plan.posts.iter().map(|p| Asset::Post(p.post.clone())));
        for asset in assets {
            if self.check_budget(&asset, None).is_err() {
                dropped += 1;
                continue;
            }
            self.insert(asset, false, None, None);
        }
        dropped
    }

    /// The layout as a [`Plan`] (for [`report`]): its stations and posts
    /// with what each adds, the cover of every cell, zones, gaps and the
    /// coverage over time.
    pub fn to_plan(&self) -> Plan {
        let ev = &self.event;
        let mut stations = Vec::new();
        let mut posts = Vec::new();
        let own = |i: &Item| -> f64 {
            i.cells
                .iter()
                .filter(|&&c| self.count[c as usize] == 1)
                .map(|&c| self.cells.value[c as usize])
                .sum()
        };
        let mut cover: Vec<Cover> = self
            .cells
            .fixed
            .iter()
            .map(|&f| if f { Cover::Fixed } else { Cover::Gap })
            .collect();
        for i in &self.items {
            let mark = match &i.asset {
                Asset::Station(_) => Cover::Drone,
                Asset::Post(_) => Cover::Patrol,
                Asset::Camera(_) => Cover::Camera,
            };
            for &c in &i.cells {
                let c = c as usize;
                // Drones first in the legend when several see a cell, as
                // the planner does.
                if cover[c] == Cover::Gap || mark == Cover::Drone {
                    cover[c] = mark;
                }
            }
            match &i.asset {
                Asset::Station(s) => stations.push(PlannedStation {
                    id: i.id.clone(),
                    station: s.clone(),
                    footprint: i.ring.clone(),
                    schedule: rotation::schedule(&s.rotation, s.window),
                    value: own(i),
                }),
                Asset::Post(p) => posts.push(PlannedPost {
                    id: i.id.clone(),
                    post: p.clone(),
                    value: own(i),
                }),
                Asset::Camera(_) => {}
            }
        }
        let f = self.figure();
        let total: f64 = self.cells.value.iter().sum();
        let frac = |m: Cover| -> f64 {
            if total <= 0.0 {
                return 0.0;
            }
            (0..self.cells.len())
                .filter(|&c| cover[c] == m)
                .map(|c| self.cells.value[c])
                .sum::<f64>()
                / total
        };
        let cell_area = self.cells.grid.cell_m * self.cells.grid.cell_m;
        let worth: f64 = (0..self.cells.len())
            .filter(|&c| !self.cells.fixed[c] && self.count[c] > 0)
            .map(|c| self.cells.value[c])
            .sum();
        let totals = Totals {
            area_m2: self.cells.len() as f64 * cell_area,
            before: f.before,
            after: f.after,
            by_drones: frac(Cover::Drone),
            by_patrols: frac(Cover::Patrol),
            masked_m2: self.cells.masked_m2,
            airframes_used: f.airframes_used,
            airframes: f.airframes,
            teams_used: f.teams_used,
            teams: f.teams,
        };
        let quality = Quality {
            station_candidates: 0,
            post_candidates: 0,
            in_no_fly: 0,
            unreachable: 0,
            over_assets: 0,
            greedy_value: worth,
            value: worth,
            swaps: 0,
            upper_bound: worth,
            ratio_lower_bound: 1.0,
        };
        let zones = super::zone_summaries(ev, &self.cells, &cover);
        let (gap_count, gaps) = super::gaps(&self.cells, &cover, self.opts.max_gaps);
        // The timeline wants an instance and candidates: the items are both.
        let cols = self.cells.grid.cols;
        let list: Vec<candidates::Candidate> = self
            .items
            .iter()
            .map(|i| candidates::Candidate {
                site: match &i.asset {
                    Asset::Station(s) => candidates::Site::Station(s.clone()),
                    Asset::Post(p) => candidates::Site::Post(p.clone()),
                    // A camera watches all the time.
                    Asset::Camera(_) => candidates::Site::Post(Post {
                        pos: i.asset.pos(),
                        radius_m: 0.0,
                        window: ev.span().unwrap_or(ev.flight_window),
                        teams: 0,
                    }),
                },
                pool: 0,
                cost: 0,
                cells: Vec::new(),
            })
            .collect();
        let inst = Instance::new(
            self.cells.value.clone(),
            self.items.iter().map(|i| i.cells.clone()).collect(),
            vec![0; self.items.len()],
            vec![0; self.items.len()],
            vec![0],
            |c| {
                let g = self.cells.at[c as usize] as usize;
                ((g % cols) as u32, (g / cols) as u32)
            },
        );
        let chosen: Vec<usize> = (0..self.items.len()).collect();
        let timeline = super::timeline(ev, &self.cells, &inst, &chosen, &list);
        Plan {
            event: ev.name.clone(),
            seed: self.opts.seed,
            utc_offset_s: ev.utc_offset_s,
            cells: self.cells.clone(),
            cover,
            stations,
            posts,
            zones,
            totals,
            quality,
            gaps,
            gap_count,
            timeline,
        }
    }

    /// The layout as GeoJSON: what `vigie plan --out` writes in
    /// `plan.geojson` ([`report::geojson`]), plus the added cameras
    /// (`kind: "camera"`).
    pub fn geojson(&self) -> Value {
        let mut v = report::geojson(&self.event, &self.to_plan());
        if let Some(features) = v.get_mut("features").and_then(Value::as_array_mut) {
            for i in &self.items {
                let Asset::Camera(c) = &i.asset else { continue };
                let (lat, lon) = self.event.frame.to_wgs84(c.pos[0], c.pos[1]);
                features.push(json!({
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {
                        "kind": "camera",
                        "id": i.id,
                        "local_m": c.pos,
                        "height_m": c.height_m,
                        "heading_deg": c.heading_deg,
                        "tilt_deg": c.tilt_deg,
                        "hfov_deg": c.hfov_deg,
                        "range_m": c.range_m,
                    }
                }));
            }
        }
        v
    }

    /// Loads a plan file's stations, posts and cameras (as
    /// [`Layout::geojson`] or `vigie plan --out` write them) in place of the
    /// current items. Items the event's constraints refuse are left out
    /// and named in the returned warnings.
    pub fn load_geojson(&mut self, v: &Value) -> Result<Vec<String>, LoadError> {
        let features = v
            .get("features")
            .and_then(Value::as_array)
            .ok_or(LoadError(
                "no \"features\" array: is this a plan GeoJSON file?".into(),
            ))?;
        let before = std::mem::take(&mut self.items);
        self.set_items(Vec::new());
        let mut warnings = Vec::new();
        for (k, f) in features.iter().enumerate() {
            let props = f.get("properties").unwrap_or(&Value::Null);
            let kind = props.get("kind").and_then(Value::as_str).unwrap_or("");
            if !matches!(kind, "drone_station" | "patrol_post" | "camera") {
                continue;
            }
            let id = props
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("feature {k}"));
            let num = |key: &str| props.get(key).and_then(Value::as_f64);
            let Some(pos) = self.position(f, props) else {
                warnings.push(format!("{id}: no usable position, left out"));
                continue;
            };
            let asset = match kind {
                "drone_station" => self
                    .station_at(
                        pos,
                        num("altitude_m").unwrap_or(self.event.drones.ceiling_m),
                        num("gimbal_pitch_deg").unwrap_or(-90.0),
                        num("gimbal_yaw_deg").unwrap_or(0.0),
                    )
                    .map(Asset::Station),
                "patrol_post" => self.post_at(pos).map(Asset::Post),
                _ => {
                    let d = AddedCamera::street(pos);
                    Ok(Asset::Camera(AddedCamera {
                        pos,
                        height_m: num("height_m").unwrap_or(d.height_m),
                        heading_deg: num("heading_deg").unwrap_or(d.heading_deg),
                        tilt_deg: num("tilt_deg").unwrap_or(d.tilt_deg),
                        hfov_deg: num("hfov_deg").unwrap_or(d.hfov_deg),
                        range_m: num("range_m").unwrap_or(d.range_m),
                    }))
                }
            };
            let asset = match asset.and_then(|a| self.check_budget(&a, None).map(|()| a)) {
                Ok(a) => a,
                Err(e) => {
                    warnings.push(format!("{id}: {e}; left out"));
                    continue;
                }
            };
            let id = (self.item(&id).is_none()).then_some(id);
            self.insert(asset, false, None, id);
        }
        self.push_undo(Undo::Replace(before));
        Ok(warnings)
    }

    /// A feature's position: its exact local coordinates when written by
    /// Vigie, else its longitude and latitude.
    fn position(&self, f: &Value, props: &Value) -> Option<Pt> {
        let pair = |v: Option<&Value>| -> Option<Pt> {
            let a = v?.as_array()?;
            Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?])
        };
        if let Some(p) = pair(props.get("local_m")) {
            return Some(p);
        }
        let [lon, lat] = pair(f.get("geometry").and_then(|g| g.get("coordinates")))?;
        let (e, n) = self.event.frame.to_local(lat, lon);
        (e.is_finite() && n.is_finite()).then_some([e, n])
    }
}

/// What to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A drone station.
    Station,
    /// A patrol post.
    Post,
    /// An added camera.
    Camera,
}

impl Kind {
    /// The kind of an asset.
    pub fn of(a: &Asset) -> Kind {
        match a {
            Asset::Station(_) => Kind::Station,
            Asset::Post(_) => Kind::Post,
            Asset::Camera(_) => Kind::Camera,
        }
    }
}

/// Why a plan file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

#[cfg(test)]
mod tests;

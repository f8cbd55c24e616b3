//! The fleet picture: one entry per unit, whatever link it comes from.
//!
//! Links (MAVLink, QUIC, the camera inventory) write into the picture; the HTTP
//! API, metrics, the terminal demo and subscribers read it. Each write bumps a
//! version and is announced on a bounded broadcast channel: a subscriber that
//! falls behind gets `Lagged` and must take a new snapshot (latest wins; a
//! slow viewer never holds the links back).
//!
//! A unit's `coverage` ring is WGS84 because the picture goes to operators;
//! a link that computed it in the site's local frame (a drone's camera
//! footprint, a tablet's view sector) hands that ring over too, as a
//! [`LocalRing`], and the coverage index takes it as is: the footprint is
//! converted once, for the wire, and never back.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;
use vigie_protocols::api::{Unit, UnitKind, UnitStatus};

/// How many changes a subscriber may fall behind before it must resync.
pub const CHANGE_BUFFER: usize = 4096;

/// A unit's coverage ring in the site's local frame (`[east, north]`
/// metres, closed), as its link computed it: the same ring as the unit's
/// WGS84 `coverage`.
pub type LocalRing = Arc<[[f64; 2]]>;

/// A change to the picture.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A unit appeared or changed, with its coverage ring in the local
    /// frame when its link computed one.
    Upsert(Box<Unit>, Option<LocalRing>),
    /// A unit left the picture.
    Remove(String),
}

/// The picture itself, without locking.
#[derive(Debug, Default)]
pub struct Fleet {
    /// Units by id, each with its local-frame coverage ring where the link
    /// gave one; a B-tree so listings come out sorted.
    units: BTreeMap<String, (Unit, Option<LocalRing>)>,
    /// Bumped on every change, so readers can tell whether anything moved.
    version: u64,
}

impl Fleet {
    /// Inserts or replaces a unit.
    pub fn upsert(&mut self, unit: Unit) {
        self.upsert_seen(unit, None);
    }

    /// Inserts or replaces a unit with its local-frame coverage ring.
    pub fn upsert_seen(&mut self, unit: Unit, ring: Option<LocalRing>) {
        self.version += 1;
        self.units.insert(unit.id.clone(), (unit, ring));
    }

    /// Removes a unit; returns it if it was there.
    pub fn remove(&mut self, id: &str) -> Option<Unit> {
        let removed = self.units.remove(id).map(|(u, _)| u);
        if removed.is_some() {
            self.version += 1;
        }
        removed
    }

    /// One unit by id.
    pub fn get(&self, id: &str) -> Option<&Unit> {
        self.units.get(id).map(|(u, _)| u)
    }

    /// Every unit, sorted by id.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values().map(|(u, _)| u)
    }

    /// Number of units.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// Whether the picture is empty.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Change counter.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Unit counts by kind and status, every pair present (zeros included).
    pub fn counts(&self) -> BTreeMap<(UnitKind, UnitStatus), usize> {
        let mut counts = BTreeMap::new();
        for kind in UnitKind::ALL {
            for status in UnitStatus::ALL {
                counts.insert((kind, status), 0);
            }
        }
        for unit in self.units() {
            *counts.entry((unit.kind, unit.status)).or_insert(0) += 1;
        }
        counts
    }
}

/// A shared handle on the picture: cheap to clone, safe across tasks.
#[derive(Debug, Clone)]
pub struct FleetHandle {
    /// The picture; writes are short (one unit), reads copy what they need.
    inner: Arc<RwLock<Fleet>>,
    /// Change notifications, bounded (see [`CHANGE_BUFFER`]).
    changes: broadcast::Sender<Change>,
}

impl Default for FleetHandle {
    fn default() -> Self {
        FleetHandle::new()
    }
}

impl FleetHandle {
    /// An empty picture.
    pub fn new() -> FleetHandle {
        FleetHandle {
            inner: Arc::default(),
            changes: broadcast::channel(CHANGE_BUFFER).0,
        }
    }

    /// Inserts or replaces a unit and announces it.
    pub fn upsert(&self, unit: Unit) {
        self.upsert_seen(unit, None);
    }

    /// Inserts or replaces a unit with its local-frame coverage ring (see
    /// [`LocalRing`]) and announces both.
    pub fn upsert_seen(&self, unit: Unit, ring: Option<LocalRing>) {
        let change = Change::Upsert(Box::new(unit.clone()), ring.clone());
        self.write(|f| f.upsert_seen(unit, ring));
        // No subscriber is not an error.
        let _ = self.changes.send(change);
    }

    /// Removes a unit and announces it.
    pub fn remove(&self, id: &str) {
        if self.write(|f| f.remove(id)).is_some() {
            let _ = self.changes.send(Change::Remove(id.to_string()));
        }
    }

    /// Runs `f` with read access to the picture.
    pub fn read<R>(&self, f: impl FnOnce(&Fleet) -> R) -> R {
        // A writer that panicked leaves whole units behind (each write is one
        // insert), so a poisoned lock still holds a consistent picture.
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    fn write<R>(&self, f: impl FnOnce(&mut Fleet) -> R) -> R {
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// A copy of every unit, sorted by id.
    pub fn snapshot(&self) -> Vec<Unit> {
        self.read(|f| f.units().cloned().collect())
    }

    /// A copy of every unit with its local-frame ring, sorted by id.
    pub fn snapshot_seen(&self) -> Vec<(Unit, Option<LocalRing>)> {
        self.read(|f| f.units.values().cloned().collect())
    }

    /// Subscribes to changes made from now on; take a snapshot after
    /// subscribing so that nothing falls between the two.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

/// What one follower of the picture was last given, to send it only what
/// changed: the live picture stream and the timeline recorder both use it.
#[derive(Debug, Default)]
pub struct PictureDiff {
    /// Units as last given, by id.
    given: std::collections::HashMap<String, Unit>,
}

impl PictureDiff {
    /// A follower that was given nothing yet.
    pub fn new() -> PictureDiff {
        PictureDiff::default()
    }

    /// What changed between what was last given and `units`: the units that
    /// appeared or changed (in `units` order) and the ids that left (sorted).
    /// Remembers `units` as given.
    pub fn diff<'a>(&mut self, units: &'a [Unit]) -> (Vec<&'a Unit>, Vec<String>) {
        let mut changed = Vec::new();
        let mut present = std::collections::HashSet::with_capacity(units.len());
        for u in units {
            present.insert(u.id.as_str());
            if self.given.get(&u.id) != Some(u) {
                changed.push(u);
            }
        }
        let mut removed: Vec<String> = self
            .given
            .keys()
            .filter(|id| !present.contains(id.as_str()))
            .cloned()
            .collect();
        removed.sort_unstable();
        for id in &removed {
            self.given.remove(id);
        }
        for u in &changed {
            self.given.insert(u.id.clone(), (*u).clone());
        }
        (changed, removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_names_changes_arrivals_and_departures_once() {
        let a = unit("a", UnitKind::Patrol, UnitStatus::Available);
        let b = unit("b", UnitKind::Drone, UnitStatus::Available);
        let mut d = PictureDiff::new();
        let first = [a.clone(), b.clone()];
        let (changed, removed) = d.diff(&first);
        assert_eq!((changed.len(), removed.len()), (2, 0));
        let (changed, removed) = d.diff(&first);
        assert!(changed.is_empty() && removed.is_empty());
        let moved = unit("a", UnitKind::Patrol, UnitStatus::OnScene);
        let c = unit("c", UnitKind::Patrol, UnitStatus::Available);
        let both = [moved.clone(), c.clone()];
        let (changed, removed) = d.diff(&both);
        assert_eq!(changed, vec![&moved, &c]);
        assert_eq!(removed, vec!["b".to_string()]);
        let (changed, removed) = d.diff(&[]);
        assert!(changed.is_empty());
        assert_eq!(removed, vec!["a".to_string(), "c".to_string()]);
    }

    fn unit(id: &str, kind: UnitKind, status: UnitStatus) -> Unit {
        Unit::new(id, kind, status, "test")
    }

    #[test]
    fn counts_cover_every_pair_and_follow_changes() {
        let fleet = FleetHandle::new();
        let mut rx = fleet.subscribe();
        fleet.upsert(unit("b", UnitKind::Drone, UnitStatus::Available));
        fleet.upsert(unit("a", UnitKind::Patrol, UnitStatus::EnRoute));
        fleet.upsert(unit("b", UnitKind::Drone, UnitStatus::LinkLost));
        let counts = fleet.read(|f| f.counts());
        assert_eq!(counts.len(), UnitKind::ALL.len() * UnitStatus::ALL.len());
        assert_eq!(counts[&(UnitKind::Drone, UnitStatus::LinkLost)], 1);
        assert_eq!(counts[&(UnitKind::Drone, UnitStatus::Available)], 0);
        let ids: Vec<_> = fleet.snapshot().into_iter().map(|u| u.id).collect();
        assert_eq!(ids, ["a", "b"]);
        fleet.remove("a");
        fleet.remove("a");
        let mut seen = Vec::new();
        while let Ok(c) = rx.try_recv() {
            seen.push(c);
        }
        assert_eq!(seen.len(), 4, "three upserts and one effective removal");
        assert_eq!(seen[3], Change::Remove("a".into()));
    }
}

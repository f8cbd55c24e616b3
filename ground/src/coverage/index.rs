//! The spatial index over every coverage polygon.
//!
//! Two parts behind one interface:
//!
//! - a **static packed part** for fixed cameras, built once: polygons sorted
//!   along a Hilbert curve (a polygon's slot is its place on the curve),
//!   their vertices stored flat in that order. Point queries read a uniform
//!   grid of cell lists (`grid.rs`): whole-cell covers and inline
//!   half-planes answer most hits without touching the vertices. Box
//!   queries (zones) walk a tree of boxes with 16 children per node laid
//!   out level by level, with no pointers (a node's children are found by
//!   arithmetic).
//! - a **dynamic R-tree** ([`rstar`]) for sources that move (drone
//!   footprints, tablet sectors): a move is one removal and one insertion.
//!
//! Sources live in slots; a slot's [`SourceInfo`] says what is needed to rank
//! a sighting (position, height, optics) without touching the polygon again.
//! Privacy masks are applied by the queries ([`super::query`]), never here.

use std::collections::HashMap;
use std::sync::Arc;

use rstar::{AABB, RTree, RTreeObject};
use serde::{Deserialize, Serialize};

use super::buildings::Buildings;
use super::grid::Grid;
use super::mask::Masks;
use super::polygon::{Bbox, Pt, hilbert_key, point_in_ring};
use super::{Network, SourceKind};

/// Children per node of the packed tree.
const NODE_SIZE: usize = 16;

/// What the index keeps about a source besides its polygon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Stable id: the inventory id or the fleet unit id.
    pub id: String,
    /// Kind of source.
    pub kind: SourceKind,
    /// Owner network.
    pub network: Network,
    /// Camera position in the local frame, `[east_m, north_m]`.
    pub eye: Pt,
    /// Camera height above the ground, metres.
    pub height_m: f64,
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
    /// Horizontal resolution, pixels (for pixel density).
    pub horizontal_px: f64,
    /// Optical axis heading, degrees clockwise from north.
    pub heading_deg: f64,
    /// Useful slant range, metres.
    pub range_m: f64,
    /// Whether an operator can turn it (pan-tilt-zoom).
    pub ptz: bool,
    /// How fast the source can move to look elsewhere, metres per second
    /// (0 for fixed cameras).
    pub speed_m_s: f64,
}

/// The static part: fixed cameras, packed once. A polygon's position in
/// the packed arrays is its source slot.
#[derive(Debug, Clone, Default)]
struct Packed {
    /// Box levels: `levels[0]` has one box per polygon (Hilbert order),
    /// each next level one box per group of [`NODE_SIZE`] boxes below; for
    /// box queries.
    levels: Vec<Vec<Bbox>>,
    /// Cell lists, for point queries.
    grid: Grid,
    /// Start of each polygon's vertices in `verts`; one more than polygons.
    offsets: Vec<u32>,
    /// Every polygon's vertices, flat, closed rings.
    verts: Vec<Pt>,
}

impl Packed {
    /// Packs rings already in Hilbert order (ring `i` is slot `i`).
    fn build(rings: Vec<Vec<Pt>>) -> Packed {
        let mut packed = Packed::default();
        let mut leaf = Vec::with_capacity(rings.len());
        packed.offsets.push(0);
        for ring in rings {
            leaf.push(Bbox::of(&ring));
            packed.verts.extend_from_slice(&ring);
            packed.offsets.push(packed.verts.len() as u32);
        }
        packed.grid = Grid::build(&packed.verts, &packed.offsets, &leaf);
        packed.levels.push(leaf);
        while packed.levels.last().is_some_and(|l| l.len() > 1) {
            let below = packed.levels.last().map(Vec::as_slice).unwrap_or_default();
            let level: Vec<Bbox> = below
                .chunks(NODE_SIZE)
                .map(|c| {
                    let mut b = Bbox::EMPTY;
                    c.iter().for_each(|x| b.union(x));
                    b
                })
                .collect();
            packed.levels.push(level);
        }
        packed
    }

    #[inline]
    fn ring(&self, i: usize) -> &[Pt] {
        &self.verts[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Calls `f(slot)` for each polygon containing `p`.
    #[inline]
    fn at_point(&self, p: Pt, f: &mut impl FnMut(u32)) {
        self.grid.at_point(&self.verts, &self.offsets, p, f);
    }

    /// Calls `f(slot, ring)` for each polygon whose box meets `q`.
    fn in_box(&self, q: &Bbox, f: &mut impl FnMut(u32, &[Pt])) {
        if let Some(top) = self.levels.len().checked_sub(1) {
            self.visit_box(top, 0, self.levels[top].len(), q, f);
        }
    }

    fn visit_box(
        &self,
        level: usize,
        start: usize,
        end: usize,
        q: &Bbox,
        f: &mut impl FnMut(u32, &[Pt]),
    ) {
        let boxes = &self.levels[level];
        for (k, b) in boxes[start..end].iter().enumerate() {
            if !b.intersects(q) {
                continue;
            }
            let k = start + k;
            if level == 0 {
                f(k as u32, self.ring(k));
            } else {
                let below = self.levels[level - 1].len();
                let s = k * NODE_SIZE;
                self.visit_box(level - 1, s, (s + NODE_SIZE).min(below), q, f);
            }
        }
    }
}

/// An entry of the dynamic R-tree.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DynEntry {
    /// The polygon's box.
    aabb: AABB<[f64; 2]>,
    /// Its source slot.
    slot: u32,
}

impl RTreeObject for DynEntry {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.aabb
    }
}

fn rank_data(s: &SourceInfo) -> [f64; 4] {
    [
        s.eye[0],
        s.eye[1],
        s.height_m * s.height_m,
        super::camera::pixel_density(s.horizontal_px, s.hfov_deg, 1.0),
    ]
}

fn aabb(b: &Bbox) -> AABB<[f64; 2]> {
    AABB::from_corners([b.min_e, b.min_n], [b.max_e, b.max_n])
}

/// Why a source was not added.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndexError {
    /// The id belongs to a fixed camera of the static part.
    #[error(
        "source {0:?} is a fixed camera of the inventory: re-import the inventory to change it"
    )]
    Static(String),
    /// The polygon has fewer than three points or non-finite coordinates.
    #[error("source {0:?}: coverage polygon is degenerate (fewer than 3 points or not finite)")]
    Degenerate(String),
}

/// Every coverage polygon, static and dynamic, with what ranks a sighting.
#[derive(Debug, Clone, Default)]
pub struct CoverageIndex {
    /// Fixed cameras.
    packed: Packed,
    /// Moving sources.
    dynamic: RTree<DynEntry>,
    /// Rings of the moving sources by slot, with their boxes.
    dyn_rings: Vec<Option<(Vec<Pt>, Bbox)>>,
    /// Source description by slot; `None` for a free slot.
    sources: Vec<Option<SourceInfo>>,
    /// What ranking needs, by slot, packed apart from the descriptions so
    /// the hot path touches 32 bytes per hit: `[east_m, north_m, height²,
    /// pixels per metre at 1 m]`.
    rank: Vec<[f64; 4]>,
    /// Slot by source id.
    by_id: HashMap<String, u32>,
    /// Free dynamic slots, reused first.
    free: Vec<u32>,
    /// How many slots belong to the static part (slots `0..statics`).
    statics: u32,
    /// Privacy masks, applied by every query.
    masks: Masks,
    /// Buildings, for line of sight in estimates; shared, read-only.
    buildings: Option<Arc<Buildings>>,
}

impl CoverageIndex {
    /// Builds an index over fixed sources (polygons as closed local rings).
    /// Sources with degenerate rings are skipped; a repeated id keeps its
    /// first occurrence.
    pub fn new(
        statics: Vec<(SourceInfo, Vec<Pt>)>,
        masks: Masks,
        buildings: Option<Arc<Buildings>>,
    ) -> CoverageIndex {
        let mut index = CoverageIndex {
            masks,
            buildings,
            ..CoverageIndex::default()
        };
        // Slots follow a Hilbert curve over the polygons' box centres, so
        // that neighbours on the ground are neighbours in memory (rings,
        // ranking data) and a batch of nearby points stays in cache.
        let mut kept = Vec::with_capacity(statics.len());
        let mut seen = std::collections::HashSet::with_capacity(statics.len());
        for (info, ring) in statics {
            if ring.len() >= 4 && seen.insert(info.id.clone()) {
                kept.push((Bbox::of(&ring).centre(), info, ring));
            }
        }
        let mut extent = Bbox::EMPTY;
        kept.iter().for_each(|(c, _, _)| extent.add(*c));
        kept.sort_by_cached_key(|(c, _, _)| hilbert_key(*c, &extent));
        let mut items = Vec::with_capacity(kept.len());
        for (_, info, ring) in kept {
            let slot = index.sources.len() as u32;
            index.by_id.insert(info.id.clone(), slot);
            index.rank.push(rank_data(&info));
            index.sources.push(Some(info));
            index.dyn_rings.push(None);
            items.push(ring);
        }
        index.statics = index.sources.len() as u32;
        index.packed = Packed::build(items);
        index
    }

    /// Adds or moves a dynamic source.
    pub fn upsert(&mut self, info: SourceInfo, ring: Vec<Pt>) -> Result<(), IndexError> {
        if ring.len() < 4 || ring.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
            return Err(IndexError::Degenerate(info.id));
        }
        let bbox = Bbox::of(&ring);
        let slot = match self.by_id.get(&info.id) {
            Some(&slot) if slot < self.statics => return Err(IndexError::Static(info.id)),
            Some(&slot) => {
                if let Some((_, old)) = &self.dyn_rings[slot as usize] {
                    self.dynamic.remove(&DynEntry {
                        aabb: aabb(old),
                        slot,
                    });
                }
                slot
            }
            None => {
                let slot = match self.free.pop() {
                    Some(s) => s,
                    None => {
                        self.sources.push(None);
                        self.rank.push([0.0; 4]);
                        self.dyn_rings.push(None);
                        (self.sources.len() - 1) as u32
                    }
                };
                self.by_id.insert(info.id.clone(), slot);
                slot
            }
        };
        self.dynamic.insert(DynEntry {
            aabb: aabb(&bbox),
            slot,
        });
        self.dyn_rings[slot as usize] = Some((ring, bbox));
        self.rank[slot as usize] = rank_data(&info);
        self.sources[slot as usize] = Some(info);
        Ok(())
    }

    /// Removes a dynamic source; `false` if it was not there (or is static).
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(&slot) = self.by_id.get(id) else {
            return false;
        };
        if slot < self.statics {
            return false;
        }
        self.by_id.remove(id);
        if let Some((_, old)) = self.dyn_rings[slot as usize].take() {
            self.dynamic.remove(&DynEntry {
                aabb: aabb(&old),
                slot,
            });
        }
        self.sources[slot as usize] = None;
        self.free.push(slot);
        true
    }

    /// Ids of the dynamic sources.
    pub fn dynamic_ids(&self) -> Vec<String> {
        self.by_id
            .iter()
            .filter(|(_, s)| **s >= self.statics)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The source in `slot`.
    ///
    /// # Panics
    /// If the slot is free: slots come from this index's own answers.
    pub fn source(&self, slot: u32) -> &SourceInfo {
        self.sources[slot as usize]
            .as_ref()
            .expect("slot handed out by this index is live")
    }

    /// Ranking data of a slot: `[east_m, north_m, height_m², px_per_m at a
    /// slant distance of 1 m]`.
    #[inline]
    pub fn rank_data(&self, slot: u32) -> [f64; 4] {
        self.rank[slot as usize]
    }

    /// Every live source with its slot.
    pub fn sources(&self) -> impl Iterator<Item = (u32, &SourceInfo)> {
        self.sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s)))
    }

    /// Slot of a source by id.
    pub fn slot(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The coverage ring of a source.
    pub fn ring(&self, slot: u32) -> &[Pt] {
        if slot < self.statics {
            self.packed.ring(slot as usize)
        } else {
            self.dyn_rings[slot as usize]
                .as_ref()
                .map_or(&[], |(r, _)| r.as_slice())
        }
    }

    /// Number of live sources.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the index holds no source.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Number of fixed (static) sources.
    pub fn static_len(&self) -> usize {
        self.statics as usize
    }

    /// The privacy masks.
    pub fn masks(&self) -> &Masks {
        &self.masks
    }

    /// The buildings, when known.
    pub fn buildings(&self) -> Option<&Buildings> {
        self.buildings.as_deref()
    }

    /// Calls `f(slot)` for every source whose polygon contains `p`, masks
    /// not applied.
    #[inline]
    pub fn covering(&self, p: Pt, mut f: impl FnMut(u32)) {
        self.packed.at_point(p, &mut f);
        if self.dynamic.size() > 0 {
            for e in self
                .dynamic
                .locate_in_envelope_intersecting(&AABB::from_point(p))
            {
                if let Some((ring, _)) = &self.dyn_rings[e.slot as usize]
                    && point_in_ring(ring, p)
                {
                    f(e.slot);
                }
            }
        }
    }

    /// Calls `f(slot, ring)` for every source whose polygon's box meets `q`.
    pub fn in_box(&self, q: &Bbox, mut f: impl FnMut(u32, &[Pt])) {
        self.packed.in_box(q, &mut f);
        for e in self.dynamic.locate_in_envelope_intersecting(&aabb(q)) {
            if let Some((ring, _)) = &self.dyn_rings[e.slot as usize] {
                f(e.slot, ring);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    pub(crate) fn info(id: &str, kind: SourceKind, eye: Pt) -> SourceInfo {
        SourceInfo {
            id: id.into(),
            kind,
            network: Network::City,
            eye,
            height_m: 6.0,
            hfov_deg: 60.0,
            horizontal_px: 1920.0,
            heading_deg: 0.0,
            range_m: 50.0,
            ptz: false,
            speed_m_s: 0.0,
        }
    }

    fn square(c: Pt, r: f64) -> Vec<Pt> {
        vec![
            [c[0] - r, c[1] - r],
            [c[0] + r, c[1] - r],
            [c[0] + r, c[1] + r],
            [c[0] - r, c[1] + r],
            [c[0] - r, c[1] - r],
        ]
    }

    #[test]
    fn moves_and_removals_follow() {
        let mut idx = CoverageIndex::new(
            vec![(
                info("cam", SourceKind::FixedCamera, [0.0, 0.0]),
                square([0.0, 0.0], 5.0),
            )],
            Masks::default(),
            None,
        );
        idx.upsert(
            info("d1", SourceKind::Drone, [50.0, 0.0]),
            square([50.0, 0.0], 5.0),
        )
        .unwrap();
        let hits = |idx: &CoverageIndex, p| {
            let mut v = Vec::new();
            idx.covering(p, |s| v.push(idx.source(s).id.clone()));
            v
        };
        assert_eq!(hits(&idx, [50.0, 0.0]), ["d1"]);
        idx.upsert(
            info("d1", SourceKind::Drone, [0.0, 0.0]),
            square([1.0, 0.0], 5.0),
        )
        .unwrap();
        assert!(hits(&idx, [50.0, 0.0]).is_empty());
        let mut both = hits(&idx, [0.5, 0.5]);
        both.sort();
        assert_eq!(both, ["cam", "d1"]);
        assert!(idx.remove("d1"));
        assert!(!idx.remove("cam"), "static sources stay");
        assert_eq!(
            idx.upsert(
                info("cam", SourceKind::Drone, [0.0, 0.0]),
                square([0.0, 0.0], 1.0)
            ),
            Err(IndexError::Static("cam".into()))
        );
        assert_eq!(hits(&idx, [0.5, 0.5]), ["cam"]);
    }

    fn poly() -> impl Strategy<Value = Vec<Pt>> {
        (
            -500.0..500.0f64,
            -500.0..500.0f64,
            3usize..9,
            5.0..80.0f64,
            proptest::collection::vec(0.3..1.0f64, 9),
        )
            .prop_map(|(e, n, k, r, radii)| {
                let mut ring: Vec<Pt> = (0..k)
                    .map(|i| {
                        let a = i as f64 / k as f64 * std::f64::consts::TAU;
                        [e + r * radii[i] * a.cos(), n + r * radii[i] * a.sin()]
                    })
                    .collect();
                ring.push(ring[0]);
                ring
            })
    }

    proptest! {
        #![proptest_config(Config { cases: 64, rng_seed: RngSeed::Fixed(0xC0FFEE), ..Config::default() })]

        /// Point-in-polygon over all sources: the index answers exactly what
        /// testing every polygon would.
        #[test]
        fn index_matches_brute_force(
            fixed in proptest::collection::vec(poly(), 0..120),
            moving in proptest::collection::vec(poly(), 0..30),
            moved in proptest::collection::vec(poly(), 0..30),
            points in proptest::collection::vec((-600.0..600.0f64, -600.0..600.0f64), 200),
        ) {
            let statics: Vec<_> = fixed.iter().enumerate()
                .map(|(i, r)| (info(&format!("f{i}"), SourceKind::FixedCamera, r[0]), r.clone()))
                .collect();
            let mut idx = CoverageIndex::new(statics, Masks::default(), None);
            let mut truth: Vec<(String, Vec<Pt>)> = fixed.iter().enumerate().map(|(i, r)| (format!("f{i}"), r.clone())).collect();
            for (i, r) in moving.iter().enumerate() {
                idx.upsert(info(&format!("d{i}"), SourceKind::Drone, r[0]), r.clone()).unwrap();
            }
            // Move some, remove the others.
            for (i, r) in moving.iter().enumerate() {
                match moved.get(i) {
                    Some(m) => {
                        idx.upsert(info(&format!("d{i}"), SourceKind::Drone, m[0]), m.clone()).unwrap();
                        truth.push((format!("d{i}"), m.clone()));
                    }
                    None => {
                        let id = format!("d{i}");
                        prop_assert!(idx.remove(&id), "{} was indexed", id);
                        let _ = r;
                    }
                }
            }
            for (e, n) in points {
                let p = [e, n];
                let mut got: Vec<String> = Vec::new();
                idx.covering(p, |s| got.push(idx.source(s).id.clone()));
                got.sort();
                let mut want: Vec<String> = truth.iter().filter(|(_, r)| point_in_ring(r, p)).map(|(id, _)| id.clone()).collect();
                want.sort();
                prop_assert_eq!(got, want);
            }
        }
    }
}

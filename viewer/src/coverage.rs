//! What the cameras see, as the viewer draws it: a fixed camera's ground
//! coverage, and the coverage heat map (how many sources see each cell) with
//! its gaps inside event zones.
//!
//! Everything here is computed on the CPU, simply: the heat map tests each
//! cell centre against each footprint's ring. The ground's coverage index
//! answers the same questions faster and with line of sight; the viewer will
//! take its polygons from there once it lands, by swapping
//! [`fixed_camera_coverage`] alone.

use crate::scene::{Building, EastNorth, FixedCamera, Scene, ZoneKind};

/// Degrees between two samples of a sector's arcs.
const ARC_STEP_DEG: f64 = 5.0;

/// Aspect ratio assumed for a fixed camera's sensor (16:9) to derive its
/// vertical field of view from the horizontal one.
const SENSOR_ASPECT: f64 = 16.0 / 9.0;

/// Ground coverage of a fixed camera as a local ring (not closed): the view
/// sector between the nearest and farthest ground the lens sees, cut at the
/// camera's useful range.
///
/// Buildings are not yet used (no line-of-sight clipping): this is the one
/// function to replace with the coverage index's clipped polygons.
pub fn fixed_camera_coverage(camera: &FixedCamera, _buildings: &[Building]) -> Vec<EastNorth> {
    let h = camera.height_m.max(0.1);
    let hfov = camera.hfov_deg.clamp(1.0, 179.0);
    let vfov = (2.0 * ((hfov.to_radians() / 2.0).tan() / SENSOR_ASPECT).atan()).to_degrees();
    let tilt = camera.tilt_deg.clamp(-89.0, 90.0);
    // Depression angles of the image's bottom and top edges.
    let bottom = tilt + vfov / 2.0;
    let top = tilt - vfov / 2.0;
    let near_m = if bottom >= 90.0 {
        0.0
    } else if bottom > 0.0 {
        h / bottom.to_radians().tan()
    } else {
        camera.range_m
    };
    let far_m = if top > 0.0 {
        (h / top.to_radians().tan()).min(camera.range_m)
    } else {
        camera.range_m
    };
    let near_m = near_m.min(far_m);
    sector(
        camera.position,
        camera.heading_deg,
        hfov,
        near_m,
        far_m.max(near_m),
    )
}

/// An annular sector around `centre` (near edge first, then the far arc
/// backwards), local frame; a plain sector when `near_m` is zero.
pub fn sector(
    centre: EastNorth,
    heading_deg: f64,
    width_deg: f64,
    near_m: f64,
    far_m: f64,
) -> Vec<EastNorth> {
    let steps = ((width_deg / ARC_STEP_DEG).ceil() as usize).max(1);
    let at = |bearing_deg: f64, r: f64| {
        let b = bearing_deg.to_radians();
        [centre[0] + r * b.sin(), centre[1] + r * b.cos()]
    };
    let start = heading_deg - width_deg / 2.0;
    let mut ring = Vec::with_capacity(2 * steps + 2);
    if near_m > 0.0 {
        for i in 0..=steps {
            ring.push(at(start + width_deg * i as f64 / steps as f64, near_m));
        }
    } else {
        ring.push(centre);
    }
    for i in (0..=steps).rev() {
        ring.push(at(start + width_deg * i as f64 / steps as f64, far_m));
    }
    ring
}

/// Whether `p` is inside the ring (crossing number; boundary points may fall
/// either way).
pub fn contains(ring: &[EastNorth], p: EastNorth) -> bool {
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (ring[i], ring[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Axis-aligned bounds of a ring: `(min, max)`.
pub fn bounds(ring: &[EastNorth]) -> ([f64; 2], [f64; 2]) {
    let mut min = [f64::INFINITY; 2];
    let mut max = [f64::NEG_INFINITY; 2];
    for p in ring {
        for k in 0..2 {
            min[k] = min[k].min(p[k]);
            max[k] = max[k].max(p[k]);
        }
    }
    (min, max)
}

/// What one heat-map cell is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Seen by this many sources (0 = unseen, outside any event zone).
    Seen(u16),
    /// Unseen and inside an event zone: a gap to fill.
    Gap,
    /// Inside a privacy mask: never counted, never shown.
    Masked,
    /// Inside a building: the ground there cannot be seen from outside.
    Building,
}

/// The coverage heat map: a square grid of cells over the site.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageGrid {
    /// South-west corner of the grid, local frame.
    pub origin: EastNorth,
    /// Side of a cell, metres.
    pub cell_m: f64,
    /// Cells per row (east) and per column (north).
    pub size: usize,
    /// Cells, row by row from the south, west to east.
    pub cells: Vec<Cell>,
}

/// Coverage of the event zones by the heat map.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CoverageSummary {
    /// Cells inside event zones that can be seen at all (not masked, not
    /// inside a building).
    pub event_cells: usize,
    /// Of those, cells seen by at least one source.
    pub covered_cells: usize,
}

impl CoverageSummary {
    /// Covered fraction of the event zones, 0..=1 (1 when there is nothing to
    /// cover).
    pub fn fraction(&self) -> f64 {
        if self.event_cells == 0 {
            1.0
        } else {
            self.covered_cells as f64 / self.event_cells as f64
        }
    }
}

impl CoverageGrid {
    /// Builds the heat map of the scene from every footprint (fixed cameras'
    /// coverage and the units' live footprints).
    pub fn compute<'a>(
        scene: &Scene,
        footprints: impl IntoIterator<Item = &'a [EastNorth]>,
        cell_m: f64,
    ) -> CoverageGrid {
        let cell_m = cell_m.max(0.5);
        let size = ((2.0 * scene.extent_m / cell_m).ceil() as usize).max(1);
        let origin = [-scene.extent_m, -scene.extent_m];
        let mut counts = vec![0u16; size * size];
        let centre = |col: usize, row: usize| {
            [
                origin[0] + (col as f64 + 0.5) * cell_m,
                origin[1] + (row as f64 + 0.5) * cell_m,
            ]
        };
        // Visit only the cells whose centre lies in the ring's bounds.
        let cells_of = |ring: &[EastNorth], f: &mut dyn FnMut(usize)| {
            let (min, max) = bounds(ring);
            let lo = |v: f64, o: f64| (((v - o) / cell_m - 0.5).ceil().max(0.0)) as usize;
            let hi = |v: f64, o: f64| {
                let x = ((v - o) / cell_m - 0.5).floor();
                if x < 0.0 {
                    None
                } else {
                    Some((x as usize).min(size - 1))
                }
            };
            let (Some(c1), Some(r1)) = (hi(max[0], origin[0]), hi(max[1], origin[1])) else {
                return;
            };
            for row in lo(min[1], origin[1])..=r1 {
                for col in lo(min[0], origin[0])..=c1 {
                    if contains(ring, centre(col, row)) {
                        f(row * size + col);
                    }
                }
            }
        };
        for ring in footprints {
            cells_of(ring, &mut |i| counts[i] = counts[i].saturating_add(1));
        }
        let mut cells: Vec<Cell> = counts.into_iter().map(Cell::Seen).collect();
        for zone in scene.zones.iter().filter(|z| z.kind == ZoneKind::Event) {
            cells_of(&zone.ring, &mut |i| {
                if cells[i] == Cell::Seen(0) {
                    cells[i] = Cell::Gap;
                }
            });
        }
        for building in &scene.buildings {
            cells_of(&building.footprint, &mut |i| cells[i] = Cell::Building);
        }
        for mask in &scene.privacy_masks {
            cells_of(&mask.ring, &mut |i| cells[i] = Cell::Masked);
        }
        CoverageGrid {
            origin,
            cell_m,
            size,
            cells,
        }
    }

    /// Centre of cell `i`, local frame.
    pub fn centre(&self, i: usize) -> EastNorth {
        let (row, col) = (i / self.size, i % self.size);
        [
            self.origin[0] + (col as f64 + 0.5) * self.cell_m,
            self.origin[1] + (row as f64 + 0.5) * self.cell_m,
        ]
    }

    /// The cell containing `p`, if it is on the grid.
    pub fn cell_at(&self, p: EastNorth) -> Option<Cell> {
        let col = ((p[0] - self.origin[0]) / self.cell_m).floor();
        let row = ((p[1] - self.origin[1]) / self.cell_m).floor();
        if col < 0.0 || row < 0.0 || col >= self.size as f64 || row >= self.size as f64 {
            return None;
        }
        self.cells
            .get(row as usize * self.size + col as usize)
            .copied()
    }

    /// Coverage of the event zones.
    pub fn summary(&self, scene: &Scene) -> CoverageSummary {
        let mut s = CoverageSummary::default();
        let events: Vec<_> = scene
            .zones
            .iter()
            .filter(|z| z.kind == ZoneKind::Event)
            .collect();
        for (i, cell) in self.cells.iter().enumerate() {
            let counted = match cell {
                Cell::Gap => Some(false),
                Cell::Seen(n) if *n > 0 => Some(true),
                _ => None,
            };
            if let Some(covered) = counted {
                let c = self.centre(i);
                if events.iter().any(|z| contains(&z.ring, c)) {
                    s.event_cells += 1;
                    s.covered_cells += usize::from(covered);
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{OwnerNetwork, PrivacyMask, Zone};

    fn camera(heading_deg: f64, tilt_deg: f64) -> FixedCamera {
        FixedCamera {
            id: "c".into(),
            name: "c".into(),
            position: [0.0, 0.0],
            height_m: 6.0,
            heading_deg,
            tilt_deg,
            hfov_deg: 60.0,
            range_m: 80.0,
            owner: OwnerNetwork::City,
            coverage: Vec::new(),
        }
    }

    #[test]
    fn square_contains_its_inside_only() {
        let sq = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        assert!(contains(&sq, [5.0, 5.0]));
        assert!(!contains(&sq, [15.0, 5.0]));
        assert!(!contains(&sq, [-0.1, 5.0]));
        assert!(!contains(&sq[..2], [5.0, 0.0]));
    }

    #[test]
    fn sector_points_where_the_camera_looks() {
        // Looking east, tilted 10 degrees: near edge a few tens of metres out.
        let ring = fixed_camera_coverage(&camera(90.0, 10.0), &[]);
        assert!(contains(&ring, [50.0, 0.0]), "ahead is covered");
        assert!(!contains(&ring, [-50.0, 0.0]), "behind is not");
        assert!(!contains(&ring, [0.0, 50.0]), "90 degrees off axis is not");
        assert!(!contains(&ring, [95.0, 0.0]), "beyond range is not");
        assert!(
            !contains(&ring, [3.0, 0.0]),
            "under the lens is not seen at this tilt"
        );
    }

    #[test]
    fn steep_camera_sees_under_itself_and_not_far() {
        let ring = fixed_camera_coverage(&camera(0.0, 80.0), &[]);
        let (_, max) = bounds(&ring);
        assert!(
            max[1] < 20.0,
            "a camera looking down does not reach its range"
        );
        assert!(contains(&ring, [0.0, 0.5]));
    }

    #[test]
    fn heat_map_counts_overlaps_gaps_and_masks() {
        let mut scene = Scene::empty("t", 48.9, 2.36, 50.0);
        scene.zones.push(Zone {
            name: "event".into(),
            kind: ZoneKind::Event,
            ring: vec![[-40.0, -40.0], [40.0, -40.0], [40.0, 40.0], [-40.0, 40.0]],
            floor_m: 0.0,
            ceiling_m: 10.0,
        });
        scene.privacy_masks.push(PrivacyMask {
            name: "m".into(),
            ring: vec![[20.0, 20.0], [30.0, 20.0], [30.0, 30.0], [20.0, 30.0]],
        });
        let a = vec![[-30.0, -30.0], [10.0, -30.0], [10.0, 10.0], [-30.0, 10.0]];
        let b = vec![[0.0, 0.0], [35.0, 0.0], [35.0, 35.0], [0.0, 35.0]];
        let grid = CoverageGrid::compute(&scene, [a.as_slice(), b.as_slice()], 2.0);
        assert_eq!(grid.size, 50);
        assert_eq!(grid.cell_at([-20.0, -20.0]), Some(Cell::Seen(1)));
        assert_eq!(grid.cell_at([5.0, 5.0]), Some(Cell::Seen(2)));
        assert_eq!(grid.cell_at([-35.0, 35.0]), Some(Cell::Gap));
        assert_eq!(grid.cell_at([45.0, -45.0]), Some(Cell::Seen(0)));
        assert_eq!(grid.cell_at([25.0, 25.0]), Some(Cell::Masked));
        assert_eq!(grid.cell_at([60.0, 0.0]), None);
        // Brute-force oracle for the summary.
        let s = grid.summary(&scene);
        let (mut ev, mut cov) = (0, 0);
        for i in 0..grid.cells.len() {
            let c = grid.centre(i);
            let in_event = contains(&scene.zones[0].ring, c);
            let masked = contains(&scene.privacy_masks[0].ring, c);
            if in_event && !masked {
                ev += 1;
                cov += usize::from(contains(&a, c) || contains(&b, c));
            }
        }
        assert_eq!((s.event_cells, s.covered_cells), (ev, cov));
        assert!(s.fraction() > 0.3 && s.fraction() < 0.9);
    }
}

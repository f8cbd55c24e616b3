//! Batched meshes: each layer is one mesh with per-vertex colours, however
//! many features it holds, so that 100,000 camera footprints are one draw
//! call, not 100,000. Pure functions from scene data to [`Mesh`], so they
//! are benchmarked and tested without a renderer.

use bevy::asset::RenderAssetUsages;
use bevy::color::Srgba;
use bevy::mesh::{Indices, Mesh, PrimitiveTopology};
use geo::TriangulateEarcut;

use crate::coverage::CoverageGrid;
use crate::palette;
use crate::scene::{Building, EastNorth, Street, Zone, ZoneKind};
use crate::view::world;

/// Accumulates triangles with normals and colours; becomes one [`Mesh`].
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Vertex positions, world coordinates.
    pub positions: Vec<[f32; 3]>,
    /// Vertex normals.
    pub normals: Vec<[f32; 3]>,
    /// Vertex colours, linear RGBA.
    pub colors: Vec<[f32; 4]>,
    /// Triangle list indices.
    pub indices: Vec<u32>,
}

impl Batch {
    /// Number of triangles so far.
    pub fn triangles(&self) -> usize {
        self.indices.len() / 3
    }

    fn vertex(&mut self, p: [f32; 3], n: [f32; 3], c: [f32; 4]) -> u32 {
        let i = self.positions.len() as u32;
        self.positions.push(p);
        self.normals.push(n);
        self.colors.push(c);
        i
    }

    /// A flat polygon (any simple ring, triangulated by ear clipping) at
    /// height `up_m`, facing up.
    pub fn flat_polygon(&mut self, ring: &[EastNorth], up_m: f64, color: [f32; 4]) {
        if ring.len() < 3 {
            return;
        }
        let first_index = self.indices.len();
        if ring.len() <= 4 || is_convex(ring) {
            // Fan: exact for convex rings, and far cheaper than ear clipping.
            let base = self.positions.len() as u32;
            for p in ring {
                self.vertex(world(*p, up_m).into(), [0.0, 1.0, 0.0], color);
            }
            for k in 1..ring.len() as u32 - 1 {
                self.indices.extend([base, base + k, base + k + 1]);
            }
            self.face_up(first_index);
            return;
        }
        let poly = geo::Polygon::new(
            geo::LineString::from(ring.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>()),
            Vec::new(),
        );
        for t in poly.earcut_triangles() {
            let base = self.positions.len() as u32;
            for c in [t.v1(), t.v2(), t.v3()] {
                self.vertex(world([c.x, c.y], up_m).into(), [0.0, 1.0, 0.0], color);
            }
            self.indices.extend([base, base + 1, base + 2]);
        }
        self.face_up(first_index);
    }

    /// Makes the triangles from index `first_index` on wind counter-clockwise
    /// seen from above (front faces point up).
    fn face_up(&mut self, first_index: usize) {
        for tri in self.indices[first_index..].chunks_exact_mut(3) {
            let [a, b, c] = [tri[0], tri[1], tri[2]].map(|i| self.positions[i as usize]);
            // Normal's Y of (b - a) x (c - a); Z points south in world space.
            let ny = (b[2] - a[2]) * (c[0] - a[0]) - (b[0] - a[0]) * (c[2] - a[2]);
            if ny < 0.0 {
                tri.swap(1, 2);
            }
        }
    }

    /// Vertical walls along a ring, from `floor_m` to `top_m`, facing out.
    pub fn walls(&mut self, ring: &[EastNorth], floor_m: f64, top_m: f64, color: [f32; 4]) {
        let ccw = signed_area(ring) > 0.0;
        for i in 0..ring.len() {
            let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
            let (a, b) = if ccw { (a, b) } else { (b, a) };
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len = f64::hypot(dx, dy);
            if len < 1e-6 {
                continue;
            }
            // Outward normal of a counter-clockwise ring: (dy, -dx), in world.
            let n = world([dy / len, -dx / len], 0.0).into();
            let v = [
                self.vertex(world(a, floor_m).into(), n, color),
                self.vertex(world(b, floor_m).into(), n, color),
                self.vertex(world(b, top_m).into(), n, color),
                self.vertex(world(a, top_m).into(), n, color),
            ];
            self.indices.extend([v[0], v[1], v[2], v[0], v[2], v[3]]);
        }
    }

    /// A flat ribbon of width `width_m` along a line, at height `up_m`.
    pub fn ribbon(&mut self, line: &[EastNorth], width_m: f64, up_m: f64, color: [f32; 4]) {
        for w in line.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len = f64::hypot(dx, dy);
            if len < 1e-6 {
                continue;
            }
            let (ox, oy) = (-dy / len * width_m / 2.0, dx / len * width_m / 2.0);
            let quad = [
                [a[0] - ox, a[1] - oy],
                [b[0] - ox, b[1] - oy],
                [b[0] + ox, b[1] + oy],
                [a[0] + ox, a[1] + oy],
            ];
            self.flat_polygon(&quad, up_m, color);
        }
    }

    /// The mesh, ready for `Assets<Mesh>`; `None` when empty.
    pub fn into_mesh(self) -> Option<Mesh> {
        if self.indices.is_empty() {
            return None;
        }
        Some(
            Mesh::new(
                PrimitiveTopology::TriangleList,
                RenderAssetUsages::RENDER_WORLD,
            )
            .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, self.positions)
            .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, self.normals)
            .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, self.colors)
            .with_inserted_indices(Indices::U32(self.indices)),
        )
    }
}

/// Twice the signed area of a ring; positive when counter-clockwise
/// (east/north axes).
pub fn signed_area(ring: &[EastNorth]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum()
}

/// Whether a ring is convex (all turns the same way).
fn is_convex(ring: &[EastNorth]) -> bool {
    let n = ring.len();
    let mut sign = 0.0f64;
    for i in 0..n {
        let (a, b, c) = (ring[i], ring[(i + 1) % n], ring[(i + 2) % n]);
        let cross = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]);
        if cross.abs() < 1e-12 {
            continue;
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
    }
    true
}

/// Buildings: walls and flat roofs, one batch.
pub fn buildings(buildings: &[Building]) -> Batch {
    let color = palette::linear(palette::BUILDING);
    let mut b = Batch::default();
    for building in buildings {
        b.walls(&building.footprint, 0.0, building.height_m, color);
        b.flat_polygon(&building.footprint, building.height_m, color);
    }
    b
}

/// Streets as ribbons, one batch.
pub fn streets(streets: &[Street], up_m: f64) -> Batch {
    let color = palette::linear(palette::STREET);
    let mut b = Batch::default();
    for s in streets {
        b.ribbon(&s.line, s.width_m, up_m, color);
    }
    b
}

/// Zones as translucent volumes, one batch: walls, and a ceiling for
/// no-fly and event zones (a drone perimeter's ceiling would tint the whole
/// site; its walls say enough).
pub fn zones(zones: &[Zone]) -> Batch {
    let mut b = Batch::default();
    for z in zones {
        let color = palette::linear(palette::zone(z.kind));
        b.walls(&z.ring, z.floor_m, z.ceiling_m, color);
        if z.kind != ZoneKind::DronePerimeter {
            b.flat_polygon(&z.ring, z.ceiling_m, color);
        }
    }
    b
}

/// Flat coloured rings at one height (coverage, footprints, masks), one batch.
pub fn flat_rings<'a>(
    rings: impl IntoIterator<Item = (&'a [EastNorth], Srgba)>,
    up_m: f64,
) -> Batch {
    let mut b = Batch::default();
    for (ring, color) in rings {
        b.flat_polygon(ring, up_m, palette::linear(color));
    }
    b
}

/// The heat map: one quad per drawn cell, one batch.
pub fn heat_map(grid: &CoverageGrid, up_m: f64) -> Batch {
    let mut b = Batch::default();
    let h = grid.cell_m / 2.0;
    for (i, cell) in grid.cells.iter().enumerate() {
        if let Some(color) = palette::heat(*cell) {
            let c = grid.centre(i);
            let quad = [
                [c[0] - h, c[1] - h],
                [c[0] + h, c[1] - h],
                [c[0] + h, c[1] + h],
                [c[0] - h, c[1] + h],
            ];
            b.flat_polygon(&quad, up_m, palette::linear(color));
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up_facing(b: &Batch) -> bool {
        b.indices.chunks_exact(3).all(|t| {
            let [a, p, q] =
                [t[0], t[1], t[2]].map(|i| bevy::math::Vec3::from(b.positions[i as usize]));
            (p - a).cross(q - a).y > 0.0
        })
    }

    #[test]
    fn concave_polygon_is_triangulated_to_its_area_facing_up() {
        // An L shape, clockwise: area 300 m².
        let l = [
            [0.0, 0.0],
            [0.0, 20.0],
            [10.0, 20.0],
            [10.0, 10.0],
            [20.0, 10.0],
            [20.0, 0.0],
        ];
        let mut b = Batch::default();
        b.flat_polygon(&l, 0.0, [1.0; 4]);
        assert_eq!(b.triangles(), 4);
        let area: f32 = b
            .indices
            .chunks_exact(3)
            .map(|t| {
                let [a, p, q] =
                    [t[0], t[1], t[2]].map(|i| bevy::math::Vec3::from(b.positions[i as usize]));
                (p - a).cross(q - a).length() / 2.0
            })
            .sum();
        assert!((area - 300.0).abs() < 1e-3, "{area}");
        assert!(up_facing(&b));
    }

    #[test]
    fn convex_rings_either_way_face_up() {
        let sq = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        let mut rev = sq;
        rev.reverse();
        let mut b = Batch::default();
        b.flat_polygon(&sq, 1.0, [1.0; 4]);
        b.flat_polygon(&rev, 1.0, [1.0; 4]);
        assert_eq!(b.triangles(), 4);
        assert!(up_facing(&b));
    }

    #[test]
    fn walls_face_outwards_for_both_orientations() {
        for ring in [
            vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]],
            vec![[0.0, 10.0], [10.0, 10.0], [10.0, 0.0], [0.0, 0.0]],
        ] {
            let mut b = Batch::default();
            b.walls(&ring, 0.0, 5.0, [1.0; 4]);
            assert_eq!(b.triangles(), 8);
            let centre = bevy::math::Vec3::new(5.0, 0.0, -5.0);
            for (p, n) in b.positions.iter().zip(&b.normals) {
                let out = bevy::math::Vec3::from(*p) - centre;
                assert!(out.x * n[0] + out.z * n[2] > 0.0);
            }
            assert!(b.indices.chunks_exact(3).all(|t| {
                let [a, p, q] =
                    [t[0], t[1], t[2]].map(|i| bevy::math::Vec3::from(b.positions[i as usize]));
                let n = bevy::math::Vec3::from(b.normals[t[0] as usize]);
                (p - a).cross(q - a).dot(n) > 0.0
            }));
        }
    }
}

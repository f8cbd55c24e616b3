//! Label placement: which names a map can show without overlap, and where.
//!
//! Greedy by rank, as map renderers do (Imhof's rules, in the small): the
//! most important labels are placed first and keep their place. A point's
//! label tries right of its marker, then left, above and below; an area's
//! or a place's name stands centred on it, then just above or below. A
//! label that finds no free place is left out (a closer view has room for
//! it). Pixels, origin top left, y down.

/// A box on the map, pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Top-left corner.
    pub min: [f32; 2],
    /// Bottom-right corner.
    pub max: [f32; 2],
}

impl Rect {
    /// The box at `at` (top left) of `size`.
    pub fn at(at: [f32; 2], size: [f32; 2]) -> Rect {
        Rect {
            min: at,
            max: [at[0] + size[0], at[1] + size[1]],
        }
    }

    /// Whether the two boxes share some area (touching edges do not).
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.min[0] < o.max[0]
            && o.min[0] < self.max[0]
            && self.min[1] < o.max[1]
            && o.min[1] < self.max[1]
    }

    /// Whether the box lies within `0..size`.
    pub fn within(&self, size: [f32; 2]) -> bool {
        self.min[0] >= 0.0 && self.min[1] >= 0.0 && self.max[0] <= size[0] && self.max[1] <= size[1]
    }
}

/// How a label stands to what it names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Anchor {
    /// Beside a point marker of this radius, pixels.
    Beside(f32),
    /// Centred on an area or a place.
    Centred,
}

/// One label to place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The point it names, pixels.
    pub at: [f32; 2],
    /// Width and height of the label, pixels.
    pub size: [f32; 2],
    /// Rank: lower is placed first.
    pub rank: u8,
    /// Beside a marker or centred.
    pub anchor: Anchor,
}

/// Space between a marker's edge and its label, pixels.
pub const GAP_PX: f32 = 3.0;

/// The top-left corner of each candidate's label (in the order given), or
/// `None` where none fits. No two placed labels overlap, none overlaps
/// `keep_out` (panels, a legend), all lie within `screen`; candidates are
/// taken by rank, ties in the order given.
pub fn place(
    candidates: &[Candidate],
    screen: [f32; 2],
    keep_out: &[Rect],
) -> Vec<Option<[f32; 2]>> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| candidates[i].rank);
    let mut taken: Vec<Rect> = Vec::with_capacity(candidates.len());
    let mut out = vec![None; candidates.len()];
    for i in order {
        let c = &candidates[i];
        if !(c.at[0].is_finite() && c.at[1].is_finite()) {
            continue;
        }
        let ([x, y], [w, h]) = (c.at, c.size);
        let tries: Vec<[f32; 2]> = match c.anchor {
            Anchor::Beside(marker) => {
                let r = marker + GAP_PX;
                vec![
                    [x + r, y - h / 2.0],
                    [x - r - w, y - h / 2.0],
                    [x - w / 2.0, y - r - h],
                    [x - w / 2.0, y + r],
                ]
            }
            Anchor::Centred => vec![
                [x - w / 2.0, y - h / 2.0],
                [x - w / 2.0, y - h * 1.5],
                [x - w / 2.0, y + h / 2.0],
            ],
        };
        let fit = tries.into_iter().find(|p| {
            let r = Rect::at(*p, c.size);
            r.within(screen)
                && !taken.iter().any(|t| t.overlaps(&r))
                && !keep_out.iter().any(|k| k.overlaps(&r))
        });
        if let Some(p) = fit {
            taken.push(Rect::at(p, c.size));
            out[i] = Some(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt as _, SeedableRng as _};

    #[test]
    fn placed_labels_never_overlap_nor_cover_panels_nor_leave_the_screen() {
        let screen = [800.0, 600.0];
        let panel = Rect::at([0.0, 0.0], [300.0, 30.0]);
        for seed in 0..60u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let cands: Vec<Candidate> = (0..rng.random_range(1..150))
                .map(|_| Candidate {
                    at: [
                        rng.random_range(-50.0..850.0),
                        rng.random_range(-50.0..650.0),
                    ],
                    size: [rng.random_range(20.0..160.0), 18.0],
                    rank: rng.random_range(0..4),
                    anchor: if rng.random_bool(0.5) {
                        Anchor::Beside(5.0)
                    } else {
                        Anchor::Centred
                    },
                })
                .collect();
            let out = place(&cands, screen, &[panel]);
            let rects: Vec<Rect> = out
                .iter()
                .zip(&cands)
                .filter_map(|(p, c)| p.map(|p| Rect::at(p, c.size)))
                .collect();
            for (i, a) in rects.iter().enumerate() {
                assert!(a.within(screen), "seed {seed}: {a:?} off screen");
                assert!(!a.overlaps(&panel), "seed {seed}: covers the panel");
                for b in &rects[i + 1..] {
                    assert!(!a.overlaps(b), "seed {seed}: {a:?} overlaps {b:?}");
                }
            }
            // Greedy: a label left out had every one of its places taken,
            // covered or off screen; it was not dropped for nothing.
            for (c, p) in cands.iter().zip(&out) {
                if p.is_some() {
                    continue;
                }
                let alone = place(&[*c], screen, &[panel]);
                let blocked_by_others = alone[0].is_some_and(|q| {
                    let r = Rect::at(q, c.size);
                    rects.iter().any(|t| t.overlaps(&r))
                });
                assert!(
                    alone[0].is_none() || blocked_by_others,
                    "seed {seed}: {c:?}"
                );
            }
        }
    }

    #[test]
    fn rank_not_order_decides_who_keeps_a_crowded_place() {
        let c = |rank| Candidate {
            at: [200.0, 150.0],
            size: [390.0, 16.0],
            rank,
            anchor: Anchor::Centred,
        };
        // Three wide labels on one point of a 400 px map: three places
        // (centred, above, below), the lowest rank gets the first.
        let out = place(&[c(3), c(1), c(0)], [400.0, 300.0], &[]);
        assert_eq!(out[2], Some([5.0, 142.0]), "rank 0 centred");
        assert_eq!(out[1], Some([5.0, 126.0]), "rank 1 above");
        assert_eq!(out[0], Some([5.0, 158.0]), "rank 3 below");
        let four = place(&[c(3), c(1), c(0), c(2)], [400.0, 300.0], &[]);
        assert_eq!(four[0], None, "the least important gives way");
    }

    #[test]
    fn a_point_label_stands_beside_its_marker_and_flips_at_the_edge() {
        let size = [60.0, 16.0];
        let unit = |x| Candidate {
            at: [x, 100.0],
            size,
            rank: 0,
            anchor: Anchor::Beside(5.0),
        };
        assert_eq!(
            place(&[unit(100.0)], [400.0, 300.0], &[])[0],
            Some([108.0, 92.0])
        );
        assert_eq!(
            place(&[unit(390.0)], [400.0, 300.0], &[])[0],
            Some([322.0, 92.0])
        );
        let nan = Candidate {
            at: [f32::NAN, 0.0],
            ..unit(0.0)
        };
        assert_eq!(place(&[nan], [400.0, 300.0], &[])[0], None);
    }
}

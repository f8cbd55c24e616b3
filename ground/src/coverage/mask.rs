//! Privacy masks: areas (private windows, school yards, places of worship)
//! that no answer may report as covered.
//!
//! A point inside a mask is never reported as seen by anyone, now or in
//! history; a zone's masked area is reported apart and counts neither as
//! covered nor as a gap.

use super::polygon::{Bbox, Pt, point_in_ring};

/// Every privacy mask of the site.
#[derive(Debug, Clone, Default)]
pub struct Masks {
    /// Mask rings in the local frame.
    rings: Vec<Vec<Pt>>,
    /// Their boxes, same order.
    boxes: Vec<Bbox>,
    /// Box of all masks, for a quick "nowhere near" answer.
    all: Bbox,
}

impl Masks {
    /// Masks from closed rings in the local frame.
    pub fn new(rings: Vec<Vec<Pt>>) -> Masks {
        let boxes: Vec<Bbox> = rings.iter().map(|r| Bbox::of(r)).collect();
        let mut all = Bbox::EMPTY;
        for b in &boxes {
            all.union(b);
        }
        Masks { rings, boxes, all }
    }

    /// The mask rings.
    pub fn rings(&self) -> &[Vec<Pt>] {
        &self.rings
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// Whether `p` lies inside a mask. Masks are few (tens), so a linear
    /// scan behind one box test costs less than a tree.
    #[inline]
    pub fn masks(&self, p: Pt) -> bool {
        if self.rings.is_empty() || !self.all.contains(p) {
            return false;
        }
        self.rings
            .iter()
            .zip(&self.boxes)
            .any(|(r, b)| b.contains(p) && point_in_ring(r, p))
    }

    /// Whether the whole polyline is masked (no part of it may be answered).
    pub fn masks_all(&self, path: &[Pt]) -> bool {
        !path.is_empty() && path.iter().all(|&p| self.masks(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_a_mask_is_masked() {
        let m = Masks::new(vec![vec![
            [0.0, 0.0],
            [4.0, 0.0],
            [4.0, 4.0],
            [0.0, 4.0],
            [0.0, 0.0],
        ]]);
        assert!(m.masks([1.0, 1.0]));
        assert!(!m.masks([5.0, 1.0]));
        assert!(!Masks::default().masks([1.0, 1.0]));
    }
}

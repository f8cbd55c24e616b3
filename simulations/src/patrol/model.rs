//! A patrol unit's movement as pure `step(dt)` logic: on foot (~1.4 m/s) or
//! in a vehicle (~8 m/s), along a street network, in the site's local metric
//! frame (east/north metres). Without an order it patrols between random
//! street corners; with one it takes the shortest street route to the
//! destination and reports arrival within [`ARRIVAL_RADIUS_M`].

use std::collections::{BinaryHeap, HashMap};

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

/// Distance to the destination under which the unit has arrived, metres.
pub const ARRIVAL_RADIUS_M: f64 = 5.0;

/// Walking speed of a foot patrol, m/s.
pub const FOOT_SPEED_M_S: f64 = 1.4;

/// Average urban speed of a patrol vehicle, m/s.
pub const VEHICLE_SPEED_M_S: f64 = 8.0;

/// How a unit moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mobility {
    /// On foot.
    Foot,
    /// In a car or on a motorbike.
    Vehicle,
}

impl Mobility {
    /// Travel speed, m/s.
    pub fn speed_m_s(self) -> f64 {
        match self {
            Mobility::Foot => FOOT_SPEED_M_S,
            Mobility::Vehicle => VEHICLE_SPEED_M_S,
        }
    }
}

/// Why a street network could not be read (the ground's reader is used, so
/// the simulator and dispatch routing read the same files the same way).
pub use vigie_ground::dispatch::routing::StreetError;

/// A street graph: corners (nodes) in local metres and streets between them.
#[derive(Debug, Clone)]
pub struct Streets {
    /// Node positions, east/north metres.
    nodes: Vec<(f64, f64)>,
    /// Neighbours of each node with the street length, metres.
    edges: Vec<Vec<(usize, f64)>>,
}

impl Streets {
    /// A square grid of `blocks` × `blocks` blocks of `block_m` metres,
    /// centred on the origin.
    pub fn grid(blocks: usize, block_m: f64) -> Streets {
        let n = blocks + 1;
        let half = blocks as f64 * block_m / 2.0;
        let mut s = Streets {
            nodes: Vec::with_capacity(n * n),
            edges: vec![Vec::new(); n * n],
        };
        for j in 0..n {
            for i in 0..n {
                s.nodes
                    .push((i as f64 * block_m - half, j as f64 * block_m - half));
            }
        }
        for j in 0..n {
            for i in 0..n {
                let a = j * n + i;
                if i + 1 < n {
                    s.link(a, a + 1);
                }
                if j + 1 < n {
                    s.link(a, a + n);
                }
            }
        }
        s
    }

    /// Streets from GeoJSON LineStrings (WGS84), projected with `to_local`
    /// (`(lat, lon) -> (east, north)`). Points closer than 1 m are merged.
    pub fn from_geojson(
        text: &str,
        to_local: impl Fn(f64, f64) -> (f64, f64),
    ) -> Result<Streets, StreetError> {
        let lines: Vec<Vec<(f64, f64)>> =
            vigie_ground::dispatch::routing::read_lines(text, to_local)?
                .into_iter()
                .map(|l| l.points)
                .collect();
        let mut s = Streets {
            nodes: Vec::new(),
            edges: Vec::new(),
        };
        let mut index: HashMap<(i64, i64), usize> = HashMap::new();
        for line in lines.iter().filter(|l| l.len() >= 2) {
            let mut prev: Option<usize> = None;
            for &(x, y) in line {
                let key = (x.round() as i64, y.round() as i64);
                let id = *index.entry(key).or_insert_with(|| {
                    s.nodes.push((x, y));
                    s.edges.push(Vec::new());
                    s.nodes.len() - 1
                });
                if let Some(p) = prev.filter(|&p| p != id) {
                    s.link(p, id);
                }
                prev = Some(id);
            }
        }
        if s.nodes.len() < 2 {
            return Err(StreetError::Empty);
        }
        Ok(s)
    }

    fn link(&mut self, a: usize, b: usize) {
        let d = dist(self.nodes[a], self.nodes[b]);
        self.edges[a].push((b, d));
        self.edges[b].push((a, d));
    }

    /// Number of corners.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the network is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Position of a corner, east/north metres.
    pub fn node(&self, i: usize) -> (f64, f64) {
        self.nodes[i]
    }

    /// The corner nearest to a point.
    pub fn nearest(&self, p: (f64, f64)) -> usize {
        (0..self.nodes.len())
            .min_by(|&a, &b| dist(self.nodes[a], p).total_cmp(&dist(self.nodes[b], p)))
            .unwrap_or(0)
    }

    /// Shortest street route from corner `from` to corner `to` (Dijkstra),
    /// as the corners to pass, `from` excluded; empty when unreachable or
    /// already there.
    pub fn route(&self, from: usize, to: usize) -> Vec<usize> {
        #[derive(PartialEq)]
        struct Item(f64, usize);
        impl Eq for Item {}
        impl PartialOrd for Item {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for Item {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                o.0.total_cmp(&self.0)
            }
        }
        let mut best = vec![f64::INFINITY; self.nodes.len()];
        let mut prev = vec![usize::MAX; self.nodes.len()];
        let mut heap = BinaryHeap::new();
        best[from] = 0.0;
        heap.push(Item(0.0, from));
        while let Some(Item(d, n)) = heap.pop() {
            if n == to {
                break;
            }
            if d > best[n] {
                continue;
            }
            for &(m, w) in &self.edges[n] {
                if d + w < best[m] {
                    best[m] = d + w;
                    prev[m] = n;
                    heap.push(Item(d + w, m));
                }
            }
        }
        let mut path = Vec::new();
        let mut n = to;
        while n != from {
            if prev[n] == usize::MAX {
                return Vec::new();
            }
            path.push(n);
            n = prev[n];
        }
        path.reverse();
        path
    }
}

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// What a step produced.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitEvent {
    /// The unit reached the destination of this order.
    Arrived(String),
}

/// A simulated patrol unit.
#[derive(Debug, Clone)]
pub struct PatrolUnit {
    /// How it moves.
    pub mobility: Mobility,
    /// Position, east/north metres.
    pub pos: (f64, f64),
    /// Heading, degrees clockwise from north.
    pub heading_deg: f64,
    /// Current speed, m/s.
    pub speed_m_s: f64,
    /// Points still to pass, the last being the target.
    waypoints: Vec<(f64, f64)>,
    /// The order being carried out, if any.
    order: Option<String>,
    /// Seeded randomness for patrol targets.
    rng: ChaCha8Rng,
}

impl PatrolUnit {
    /// A unit at a random corner of `streets`, seeded.
    pub fn new(streets: &Streets, mobility: Mobility, seed: u64) -> PatrolUnit {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let start = rng.random_range(0..streets.len().max(1));
        PatrolUnit {
            mobility,
            pos: streets.node(start),
            heading_deg: 0.0,
            speed_m_s: 0.0,
            waypoints: Vec::new(),
            order: None,
            rng,
        }
    }

    /// The order being carried out.
    pub fn order(&self) -> Option<&str> {
        self.order.as_deref()
    }

    /// Starts an order: route along the streets, then straight to the point.
    pub fn go_to(&mut self, streets: &Streets, order_id: String, dest: (f64, f64)) {
        self.waypoints = streets
            .route(streets.nearest(self.pos), streets.nearest(dest))
            .into_iter()
            .map(|n| streets.node(n))
            .collect();
        self.waypoints.push(dest);
        self.order = Some(order_id);
    }

    /// Drops the current order (refused or closed).
    pub fn clear_order(&mut self) {
        self.order = None;
        self.waypoints.clear();
    }

    /// Advances `dt_s` seconds.
    pub fn step(&mut self, streets: &Streets, dt_s: f64) -> Option<UnitEvent> {
        if self.waypoints.is_empty() {
            if let Some(order) = &self.order {
                // At the scene: wait there until the order is closed.
                let _ = order;
                self.speed_m_s = 0.0;
                return None;
            }
            // Patrol: walk to a random corner.
            let target = self.rng.random_range(0..streets.len().max(1));
            let from = streets.nearest(self.pos);
            self.waypoints = streets
                .route(from, target)
                .into_iter()
                .map(|n| streets.node(n))
                .collect();
            if self.waypoints.is_empty() {
                self.speed_m_s = 0.0;
                return None;
            }
        }
        let mut budget = self.mobility.speed_m_s() * dt_s;
        self.speed_m_s = self.mobility.speed_m_s();
        while budget > 0.0 {
            let Some(&next) = self.waypoints.first() else {
                break;
            };
            let d = dist(self.pos, next);
            if d > 1e-9 {
                self.heading_deg = (next.0 - self.pos.0)
                    .atan2(next.1 - self.pos.1)
                    .to_degrees()
                    .rem_euclid(360.0);
            }
            if d <= budget {
                self.pos = next;
                budget -= d;
                self.waypoints.remove(0);
            } else {
                self.pos.0 += (next.0 - self.pos.0) * budget / d;
                self.pos.1 += (next.1 - self.pos.1) * budget / d;
                budget = 0.0;
            }
        }
        if self.waypoints.is_empty() {
            self.speed_m_s = 0.0;
            if let Some(order) = &self.order {
                return Some(UnitEvent::Arrived(order.clone()));
            }
        } else if let (Some(order), Some(last)) = (&self.order, self.waypoints.last())
            && dist(self.pos, *last) <= ARRIVAL_RADIUS_M
        {
            self.waypoints.clear();
            self.speed_m_s = 0.0;
            return Some(UnitEvent::Arrived(order.clone()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_routes_follow_streets() {
        let s = Streets::grid(4, 100.0);
        assert_eq!(s.len(), 25);
        let r = s.route(0, 24);
        assert_eq!(r.len(), 8, "manhattan path of 8 blocks");
        assert_eq!(*r.last().unwrap(), 24);
        assert!(s.route(3, 3).is_empty());
    }

    #[test]
    fn a_unit_reaches_its_destination_at_its_speed_and_reports_once() {
        let s = Streets::grid(4, 100.0);
        let mut u = PatrolUnit::new(&s, Mobility::Foot, 7);
        u.pos = s.node(0);
        u.go_to(&s, "o1".into(), s.node(24));
        let mut t = 0.0;
        let mut arrived = None;
        while t < 2000.0 {
            t += 1.0;
            if let Some(e) = u.step(&s, 1.0) {
                arrived = Some((t, e));
                break;
            }
        }
        let (t, e) = arrived.expect("arrives");
        assert_eq!(e, UnitEvent::Arrived("o1".into()));
        // 800 m at 1.4 m/s is 571 s, minus the final 5 m.
        assert!((565.0..=575.0).contains(&t), "took {t} s");
        // Stays on scene until the order is cleared.
        assert_eq!(u.step(&s, 1.0), None);
        assert_eq!(u.speed_m_s, 0.0);
        u.clear_order();
        u.step(&s, 1.0);
    }

    #[test]
    fn geojson_streets_are_merged_at_shared_points() {
        let text = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[0,1],[0,2]]}},
          {"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,1],[1,1]]}}]}"#;
        let s = Streets::from_geojson(text, |lat, lon| (lon * 100.0, lat * 100.0)).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s.route(0, 3).len(), 2);
        assert!(Streets::from_geojson("{}", |a, b| (a, b)).is_err());
    }
}

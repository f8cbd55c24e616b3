//! Travel times on the street network, when one is loaded.
//!
//! The network is read from GeoJSON `LineString`/`MultiLineString` features
//! (WGS84), the same files `vigie sim patrols --streets` reads
//! ([`read_lines`], which the simulator uses too). Optional properties:
//! `oneway` (`"yes"`, `"true"`, `"1"`, `true`: along the drawing direction;
//! `"-1"` or `"reverse"`: against it) and `maxspeed` or `speed_kmh`
//! (km/h, a number or a string such as `"50"` or `"30 mph"`). On foot, every
//! street is walked both ways at the walking speed; a vehicle keeps to
//! one-way streets and drives at the street's speed when given, else at the
//! configured driving speed.
//!
//! A unit and the incident are placed on their nearest street segment (an
//! R-tree of segments), up to [`MAX_SNAP_M`] away; the leg between a point
//! and its street is covered in a straight line at the mode's speed. One
//! Dijkstra from the incident over the reversed graph gives every unit's
//! time at once; it stops as soon as the next corner is farther than the
//! k-th best unit already found, since no unit beyond it can do better, and
//! it takes a unit in only once it has reached the unit's lower bound
//! (straight-line distance at the fastest speed), so that far units are
//! never even placed on the network.
//! A unit that cannot be placed, or whose street is not connected to the
//! incident's, gets no route: the caller falls back to the straight line
//! and says why ([`RouteTime::NoRoute`]).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use rstar::RTree;
use rstar::primitives::{GeomWithData, Line};

/// Farthest a unit or an incident may be from a street to be placed on it,
/// metres.
pub const MAX_SNAP_M: f64 = 250.0;

/// Points of a street closer than this are one corner, metres.
const MERGE_M: f64 = 1.0;

/// Why a street network could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StreetError {
    /// Not JSON, or not GeoJSON.
    #[error("street network is not GeoJSON: {0}")]
    Json(#[from] serde_json::Error),
    /// No usable LineString in the file.
    #[error(
        "the street network has no LineString or MultiLineString features with two or more points"
    )]
    Empty,
}

/// Which way a street may be driven, relative to its drawing direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneWay {
    /// Both ways.
    Both,
    /// Only along the drawing direction.
    Forward,
    /// Only against it.
    Backward,
}

/// One street line as read from the file, in local metres.
#[derive(Debug, Clone, PartialEq)]
pub struct StreetLine {
    /// Points, east/north metres, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Driving direction.
    pub oneway: OneWay,
    /// Speed of a vehicle on it, metres per second, when the file gives one.
    pub speed_m_s: Option<f64>,
}

/// Reads street lines from GeoJSON (a FeatureCollection, a Feature or a bare
/// geometry), projected with `to_local` (`(lat, lon) -> (east, north)`).
/// Lines with fewer than two points are skipped.
pub fn read_lines(
    text: &str,
    to_local: impl Fn(f64, f64) -> (f64, f64),
) -> Result<Vec<StreetLine>, StreetError> {
    let doc: serde_json::Value = serde_json::from_str(text)?;
    let mut lines = Vec::new();
    for (props, geom) in crate::geojson::features(&doc) {
        let oneway = match &props["oneway"] {
            serde_json::Value::Bool(true) => OneWay::Forward,
            serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "yes" | "true" | "1" => OneWay::Forward,
                "-1" | "reverse" => OneWay::Backward,
                _ => OneWay::Both,
            },
            serde_json::Value::Number(n) if n.as_i64() == Some(1) => OneWay::Forward,
            serde_json::Value::Number(n) if n.as_i64() == Some(-1) => OneWay::Backward,
            _ => OneWay::Both,
        };
        let speed_m_s = speed_kmh(&props["maxspeed"])
            .or_else(|| speed_kmh(&props["speed_kmh"]))
            .map(|kmh| kmh / 3.6);
        for line in crate::geojson::lines(geom) {
            let points: Vec<(f64, f64)> = line
                .into_iter()
                .filter(|p| crate::geojson::is_lon_lat(*p))
                .map(|p| to_local(p[1], p[0]))
                .collect();
            if points.len() >= 2 {
                lines.push(StreetLine {
                    points,
                    oneway,
                    speed_m_s,
                });
            }
        }
    }
    if lines.is_empty() {
        return Err(StreetError::Empty);
    }
    Ok(lines)
}

/// A speed property in km/h: a number, or a string starting with one
/// (`"30 mph"` is converted).
fn speed_kmh(v: &serde_json::Value) -> Option<f64> {
    let kmh = match v {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => {
            let s = s.trim();
            let digits: String = s
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let n: f64 = digits.parse().ok()?;
            if s.ends_with("mph") { n * 1.609_344 } else { n }
        }
        _ => return None,
    };
    (kmh.is_finite() && kmh > 0.0).then_some(kmh)
}

/// How a unit moves on the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mode {
    /// Speed off the streets, and on streets without a speed, m/s.
    pub speed_m_s: f64,
    /// Whether one-way streets and street speeds apply (vehicles).
    pub drives: bool,
}

/// One street segment between two corners.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Edge {
    /// Corner at the start of the drawing direction.
    a: usize,
    /// Corner at its end.
    b: usize,
    /// Length, metres.
    len_m: f64,
    /// Driving direction.
    oneway: OneWay,
    /// Vehicle speed, m/s, when given.
    speed_m_s: Option<f64>,
}

impl Edge {
    /// Whether `mode` may go from `a` to `b` (`forward`) or back.
    fn allows(&self, mode: Mode, forward: bool) -> bool {
        !mode.drives
            || match self.oneway {
                OneWay::Both => true,
                OneWay::Forward => forward,
                OneWay::Backward => !forward,
            }
    }

    /// Seconds to cover `fraction` of the segment.
    fn time_s(&self, mode: Mode, fraction: f64) -> f64 {
        let speed = if mode.drives {
            self.speed_m_s.unwrap_or(mode.speed_m_s)
        } else {
            mode.speed_m_s
        };
        self.len_m * fraction / speed
    }
}

/// A point placed on its nearest street segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snap {
    /// The segment.
    edge: usize,
    /// Position along it from `a` (0) to `b` (1).
    t: f64,
    /// Distance from the point to the segment, metres.
    pub off_m: f64,
}

/// A unit's travel time to the incident.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteTime {
    /// By the streets, seconds.
    Route(f64),
    /// Slower than the k best found: not among the fastest.
    Beyond,
    /// No street route: why (the caller falls back to the straight line).
    NoRoute(String),
}

/// The street graph: corners, segments, an R-tree of segments and the
/// connected component of each segment.
#[derive(Debug)]
pub struct StreetGraph {
    /// Corner positions, east/north metres.
    nodes: Vec<(f64, f64)>,
    /// Segments.
    edges: Vec<Edge>,
    /// Segments touching each corner.
    at_node: Vec<Vec<usize>>,
    /// Connected component of each corner (ignoring directions).
    component: Vec<usize>,
    /// Segments for nearest-segment queries; data is the segment index.
    tree: RTree<GeomWithData<Line<[f64; 2]>, usize>>,
    /// Fastest street speed given in the file, m/s (0 when none is).
    max_speed_m_s: f64,
}

/// A min-heap item: (seconds, corner).
#[derive(PartialEq)]
struct Item(f64, usize);
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then(o.1.cmp(&self.1))
    }
}

impl StreetGraph {
    /// The graph of `lines`; points within 1 m are one corner, so streets
    /// drawn through a shared point meet there.
    pub fn new(lines: &[StreetLine]) -> StreetGraph {
        let mut nodes: Vec<(f64, f64)> = Vec::new();
        let mut index: HashMap<(i64, i64), usize> = HashMap::new();
        let mut edges = Vec::new();
        for line in lines {
            let mut prev: Option<usize> = None;
            for &(x, y) in &line.points {
                let key = ((x / MERGE_M).round() as i64, (y / MERGE_M).round() as i64);
                let id = *index.entry(key).or_insert_with(|| {
                    nodes.push((x, y));
                    nodes.len() - 1
                });
                if let Some(p) = prev.filter(|&p| p != id) {
                    let len_m = dist(nodes[p], nodes[id]);
                    edges.push(Edge {
                        a: p,
                        b: id,
                        len_m,
                        oneway: line.oneway,
                        speed_m_s: line.speed_m_s,
                    });
                }
                prev = Some(id);
            }
        }
        let mut at_node = vec![Vec::new(); nodes.len()];
        let mut parent: Vec<usize> = (0..nodes.len()).collect();
        for (i, e) in edges.iter().enumerate() {
            at_node[e.a].push(i);
            at_node[e.b].push(i);
            let (ra, rb) = (find(&mut parent, e.a), find(&mut parent, e.b));
            parent[ra] = rb;
        }
        let component = (0..nodes.len()).map(|n| find(&mut parent, n)).collect();
        let tree = RTree::bulk_load(
            edges
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let (a, b) = (nodes[e.a], nodes[e.b]);
                    GeomWithData::new(Line::new([a.0, a.1], [b.0, b.1]), i)
                })
                .collect(),
        );
        let max_speed_m_s = edges.iter().filter_map(|e| e.speed_m_s).fold(0.0, f64::max);
        StreetGraph {
            nodes,
            edges,
            at_node,
            component,
            tree,
            max_speed_m_s,
        }
    }

    /// Number of street segments.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Places `p` on its nearest segment, if one is within [`MAX_SNAP_M`].
    pub fn snap(&self, p: (f64, f64)) -> Option<Snap> {
        let hit = self.tree.nearest_neighbor(&[p.0, p.1])?;
        let e = &self.edges[hit.data];
        let (a, b) = (self.nodes[e.a], self.nodes[e.b]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let l2 = dx * dx + dy * dy;
        let t = if l2 > 0.0 {
            (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / l2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let off_m = dist(p, (a.0 + t * dx, a.1 + t * dy));
        (off_m <= MAX_SNAP_M).then_some(Snap {
            edge: hit.data,
            t,
            off_m,
        })
    }

    /// Travel times of `sources` (positions, east/north metres) to `spot`
    /// moving by `mode`: the `k` fastest are exact ([`RouteTime::Route`]),
    /// the others [`RouteTime::Beyond`] or [`RouteTime::NoRoute`].
    ///
    /// Sources are taken into the search in order of their lower bound
    /// (straight-line distance at the fastest speed on the network), only
    /// once the search has reached that time: with 10,000 patrols and a few
    /// wanted, only the few dozen nearest are ever placed on the network.
    pub fn times_to(
        &self,
        spot: (f64, f64),
        mode: Mode,
        sources: &[(f64, f64)],
        k: usize,
    ) -> Vec<RouteTime> {
        let Some(target) = self.snap(spot) else {
            let why = format!("the incident is more than {MAX_SNAP_M:.0} m from any street");
            return vec![RouteTime::NoRoute(why); sources.len()];
        };
        let te = self.edges[target.edge];
        let vmax = if mode.drives {
            mode.speed_m_s.max(self.max_speed_m_s)
        } else {
            mode.speed_m_s
        };
        let mut order: Vec<(f64, usize)> = sources
            .iter()
            .enumerate()
            .map(|(i, p)| (dist(*p, spot) / vmax, i))
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut search = Search {
            graph: self,
            mode,
            target,
            home: self.component[te.a],
            out: vec![RouteTime::Beyond; sources.len()],
            waiting: HashMap::new(),
            found: Vec::with_capacity(k + 1),
            k,
            best: vec![f64::INFINITY; sources.len()],
            label: vec![f64::INFINITY; self.nodes.len()],
            settled: vec![false; self.nodes.len()],
        };
        // Reverse Dijkstra: label = seconds from the corner to the spot.
        let mut heap = BinaryHeap::new();
        let tail = target.off_m / mode.speed_m_s;
        for (n, forward, fraction) in [(te.a, true, target.t), (te.b, false, 1.0 - target.t)] {
            let t = tail + te.time_s(mode, fraction);
            if te.allows(mode, forward) && t < search.label[n] {
                search.label[n] = t;
                heap.push(Item(t, n));
            }
        }
        let mut next = 0;
        loop {
            // Every source that could arrive by the next corner's time is in
            // the search before that corner is settled.
            let d = heap.peek().map_or(f64::INFINITY, |i| i.0);
            while let Some(&(lb, i)) = order.get(next)
                && lb <= d
            {
                search.take(i, sources[i]);
                next += 1;
            }
            if search.found.len() == k && search.found.last().is_some_and(|w| d >= w.0) {
                break;
            }
            let Some(Item(d, n)) = heap.pop() else { break };
            if d > search.label[n] || search.settled[n] {
                continue;
            }
            search.settled[n] = true;
            search.reach(n, d);
            for &ei in &self.at_node[n] {
                let e = &self.edges[ei];
                // Arriving at `n` along `e` from its other end.
                let (m, forward) = if e.b == n { (e.a, true) } else { (e.b, false) };
                if !e.allows(mode, forward) {
                    continue;
                }
                let t = d + e.time_s(mode, 1.0);
                if t < search.label[m] {
                    search.label[m] = t;
                    heap.push(Item(t, m));
                }
            }
        }
        let Search {
            mut out,
            best,
            found,
            ..
        } = search;
        for (i, t) in best.iter().enumerate() {
            if t.is_finite() && matches!(out[i], RouteTime::Beyond) {
                out[i] = RouteTime::Route(*t);
            }
        }
        if k > 0 && found.len() < k {
            // The search ran out of corners, every source taken in: whoever
            // it did not reach has no route in this direction (one-way
            // streets).
            for (i, o) in out.iter_mut().enumerate() {
                if matches!(o, RouteTime::Beyond) && !best[i].is_finite() {
                    *o = RouteTime::NoRoute(
                        "one-way streets leave no route from the unit to the incident".into(),
                    );
                }
            }
        }
        out
    }
}

/// One search of [`StreetGraph::times_to`] under way.
struct Search<'g> {
    /// The network.
    graph: &'g StreetGraph,
    /// How units move.
    mode: Mode,
    /// The incident on its street.
    target: Snap,
    /// The incident's connected component.
    home: usize,
    /// Per source: the answer so far.
    out: Vec<RouteTime>,
    /// Per corner not yet settled: the sources that reach it from their own
    /// segment, with the seconds that takes.
    waiting: HashMap<usize, Vec<(usize, f64)>>,
    /// The `k` best (seconds, source) so far.
    found: Vec<(f64, usize)>,
    /// How many are wanted.
    k: usize,
    /// Per source: best seconds so far.
    best: Vec<f64>,
    /// Per corner: seconds to the spot found so far.
    label: Vec<f64>,
    /// Per corner: label final.
    settled: Vec<bool>,
}

impl Search<'_> {
    /// A source arrives in `t` seconds.
    fn arrive(&mut self, i: usize, t: f64) {
        if t < self.best[i] {
            self.best[i] = t;
            keep(&mut self.found, self.k, i, t);
        }
    }

    /// Places source `i` at `p` on the network and links it to its corners:
    /// a settled corner gives its time at once, the others when settled.
    fn take(&mut self, i: usize, p: (f64, f64)) {
        let g = self.graph;
        let Some(s) = g.snap(p) else {
            self.out[i] = RouteTime::NoRoute(format!(
                "the unit is more than {MAX_SNAP_M:.0} m from any street"
            ));
            return;
        };
        let e = g.edges[s.edge];
        if g.component[e.a] != self.home {
            self.out[i] =
                RouteTime::NoRoute("no street connects the unit's street to the incident's".into());
            return;
        }
        let mode = self.mode;
        let offroad = |m: f64| m / mode.speed_m_s;
        if s.edge == self.target.edge {
            let forward = s.t <= self.target.t;
            if e.allows(mode, forward) {
                let t = offroad(s.off_m)
                    + offroad(self.target.off_m)
                    + e.time_s(mode, (self.target.t - s.t).abs());
                self.arrive(i, t);
            }
        }
        for (corner, forward, fraction) in [(e.a, false, s.t), (e.b, true, 1.0 - s.t)] {
            if !e.allows(mode, forward) {
                continue;
            }
            let extra = offroad(s.off_m) + e.time_s(mode, fraction);
            if self.settled[corner] {
                let t = self.label[corner] + extra;
                self.arrive(i, t);
            } else {
                self.waiting.entry(corner).or_default().push((i, extra));
            }
        }
    }

    /// Corner `n` is settled at `d` seconds: its waiting sources arrive.
    fn reach(&mut self, n: usize, d: f64) {
        for (i, extra) in self.waiting.remove(&n).unwrap_or_default() {
            self.arrive(i, d + extra);
        }
    }
}

/// Keeps `found` as the `k` best (seconds, source), one entry per source.
fn keep(found: &mut Vec<(f64, usize)>, k: usize, i: usize, t: f64) {
    if let Some(at) = found.iter().position(|f| f.1 == i) {
        found.remove(at);
    }
    let at = found.partition_point(|f| f.0 < t || (f.0 == t && f.1 < i));
    found.insert(at, (t, i));
    found.truncate(k);
}

fn find(parent: &mut [usize], mut n: usize) -> usize {
    while parent[n] != n {
        parent[n] = parent[parent[n]];
        n = parent[n];
    }
    n
}

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOOT: Mode = Mode {
        speed_m_s: 1.4,
        drives: false,
    };
    const CAR: Mode = Mode {
        speed_m_s: 8.0,
        drives: true,
    };

    fn line(points: &[(f64, f64)]) -> StreetLine {
        StreetLine {
            points: points.to_vec(),
            oneway: OneWay::Both,
            speed_m_s: None,
        }
    }

    /// Two banks of a river (y = 0) 100 m apart, each with a street along
    /// it, and one bridge at x = 1000.
    fn river() -> StreetGraph {
        StreetGraph::new(&[
            line(&[(0.0, -50.0), (1000.0, -50.0), (2000.0, -50.0)]),
            line(&[(0.0, 50.0), (1000.0, 50.0), (2000.0, 50.0)]),
            line(&[(1000.0, -50.0), (1000.0, 50.0)]),
        ])
    }

    fn route(t: &RouteTime) -> f64 {
        match t {
            RouteTime::Route(s) => *s,
            other => panic!("expected a route, got {other:?}"),
        }
    }

    #[test]
    fn across_a_river_the_straight_line_nearest_is_not_the_fastest() {
        let g = river();
        let spot = (100.0, -50.0);
        // A: 100 m away in a straight line, across the water; B: 400 m
        // along the same bank.
        let units = [(100.0, 50.0), (500.0, -50.0)];
        let t = g.times_to(spot, FOOT, &units, 2);
        let (a, b) = (route(&t[0]), route(&t[1]));
        assert!(b < a, "B {b} s should beat A {a} s");
        assert!((b - 400.0 / 1.4).abs() < 0.01, "{b}");
        // A walks 900 m to the bridge, 100 m over it, 900 m back.
        assert!((a - 1900.0 / 1.4).abs() < 0.01, "{a}");
    }

    #[test]
    fn separate_networks_fall_back_with_a_reason() {
        let g = StreetGraph::new(&[
            line(&[(0.0, 0.0), (500.0, 0.0)]),
            line(&[(0.0, 1000.0), (500.0, 1000.0)]),
        ]);
        let t = g.times_to(
            (100.0, 0.0),
            FOOT,
            &[(400.0, 0.0), (100.0, 1000.0), (100.0, 5000.0)],
            3,
        );
        assert!((route(&t[0]) - 300.0 / 1.4).abs() < 0.01);
        assert!(
            matches!(&t[1], RouteTime::NoRoute(why) if why.contains("no street connects")),
            "{:?}",
            t[1]
        );
        assert!(
            matches!(&t[2], RouteTime::NoRoute(why) if why.contains("from any street")),
            "{:?}",
            t[2]
        );
        let far = g.times_to((100.0, 3000.0), FOOT, &[(400.0, 0.0)], 1);
        assert!(matches!(&far[0], RouteTime::NoRoute(why) if why.contains("the incident")));
    }

    #[test]
    fn vehicles_keep_to_one_way_streets_and_street_speeds() {
        // A one-way street west to east at 50 km/h; a two-way detour north.
        let g = StreetGraph::new(&[
            StreetLine {
                points: vec![(0.0, 0.0), (1000.0, 0.0)],
                oneway: OneWay::Forward,
                speed_m_s: Some(50.0 / 3.6),
            },
            line(&[(1000.0, 0.0), (1000.0, 500.0), (0.0, 500.0), (0.0, 0.0)]),
        ]);
        // East to west: a car must take the 2000 m detour at 8 m/s, a
        // walker goes straight.
        let t = g.times_to((0.0, 0.0), CAR, &[(1000.0, 0.0)], 1);
        assert!((route(&t[0]) - 2000.0 / 8.0).abs() < 0.01, "{:?}", t[0]);
        let t = g.times_to((0.0, 0.0), FOOT, &[(1000.0, 0.0)], 1);
        assert!((route(&t[0]) - 1000.0 / 1.4).abs() < 0.01);
        // West to east, the car uses the one-way street at its speed.
        let t = g.times_to((1000.0, 0.0), CAR, &[(0.0, 0.0)], 1);
        assert!((route(&t[0]) - 1000.0 / (50.0 / 3.6)).abs() < 0.01);
    }

    #[test]
    fn bounded_search_finds_the_same_k_best_as_a_full_one() {
        // A 30 × 30 grid of 100 m blocks, 400 units at seeded positions.
        let mut lines = Vec::new();
        for i in 0..=30 {
            let v = f64::from(i) * 100.0;
            lines.push(line(&[(v, 0.0), (v, 3000.0)]));
            lines.push(line(&[(0.0, v), (3000.0, v)]));
        }
        let g = StreetGraph::new(&lines);
        let mut seed = 0x5eed_u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 11) as f64 / (1u64 << 53) as f64 * 3000.0
        };
        let units: Vec<(f64, f64)> = (0..400).map(|_| (rnd(), rnd())).collect();
        let spot = (1234.0, 987.0);
        let ranked = |k: usize| {
            let t = g.times_to(spot, FOOT, &units, k);
            let mut r: Vec<(f64, usize)> = t
                .iter()
                .enumerate()
                .filter_map(|(i, t)| match t {
                    RouteTime::Route(s) => Some((*s, i)),
                    _ => None,
                })
                .collect();
            r.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            r.truncate(k);
            r
        };
        assert_eq!(ranked(5), ranked(400)[..5].to_vec());
    }

    #[test]
    fn bounded_search_by_car_with_fast_and_one_way_streets_matches_a_full_one() {
        // The same grid, every third avenue fast (70 km/h) and every other
        // street one way, alternating: the lower bound must use the fastest
        // street, and late units must still find settled corners. Streets
        // are drawn through every crossing, so that crossings are corners.
        let stops: Vec<f64> = (0..=30).map(|j| f64::from(j) * 100.0).collect();
        let mut lines = Vec::new();
        for i in 0..=30 {
            let v = f64::from(i) * 100.0;
            let oneway = if i % 2 == 0 {
                OneWay::Forward
            } else {
                OneWay::Backward
            };
            let speed_m_s = (i % 3 == 0).then_some(70.0 / 3.6);
            lines.push(StreetLine {
                points: stops.iter().map(|&w| (v, w)).collect(),
                oneway,
                speed_m_s,
            });
            lines.push(StreetLine {
                points: stops.iter().map(|&w| (w, v)).collect(),
                oneway: OneWay::Both,
                speed_m_s,
            });
        }
        let g = StreetGraph::new(&lines);
        let mut seed = 0xca7_u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 11) as f64 / (1u64 << 53) as f64 * 3000.0
        };
        let units: Vec<(f64, f64)> = (0..600).map(|_| (rnd(), rnd())).collect();
        for spot in [(1234.0, 987.0), (50.0, 2950.0), (2990.0, 10.0)] {
            let ranked = |k: usize| {
                let mut r: Vec<(f64, usize)> = g
                    .times_to(spot, CAR, &units, k)
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| match t {
                        RouteTime::Route(s) => Some((*s, i)),
                        _ => None,
                    })
                    .collect();
                r.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                r.truncate(k);
                r
            };
            let full = ranked(600);
            for k in [1, 3, 8] {
                let best = ranked(k);
                assert_eq!(best.len(), k, "every unit can drive to {spot:?}");
                for (a, b) in best.iter().zip(&full) {
                    assert!(
                        (a.0 - b.0).abs() < 1e-9,
                        "k={k} at {spot:?}: {a:?} vs {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn reads_oneway_and_speed_properties() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"oneway":"yes","maxspeed":"30 mph"},
             "geometry":{"type":"LineString","coordinates":[[2.35,48.85],[2.36,48.85]]}},
            {"type":"Feature","properties":{"oneway":"-1","speed_kmh":36},
             "geometry":{"type":"MultiLineString","coordinates":[[[2.35,48.86],[2.36,48.86]],[[2.35,48.87]]]}},
            {"type":"Feature","properties":null,
             "geometry":{"type":"Point","coordinates":[2.35,48.85]}}]}"#;
        let lines = read_lines(text, |lat, lon| (lon * 1000.0, lat * 1000.0)).unwrap();
        assert_eq!(
            lines.len(),
            2,
            "the one-point line and the point are skipped"
        );
        assert_eq!(lines[0].oneway, OneWay::Forward);
        assert!((lines[0].speed_m_s.unwrap() - 30.0 * 1.609_344 / 3.6).abs() < 1e-9);
        assert_eq!(lines[1].oneway, OneWay::Backward);
        assert!((lines[1].speed_m_s.unwrap() - 10.0).abs() < 1e-9);
        assert!(matches!(
            read_lines("{}", |a, b| (a, b)),
            Err(StreetError::Empty)
        ));
        assert!(matches!(
            read_lines("nope", |a, b| (a, b)),
            Err(StreetError::Json(_))
        ));
    }
}

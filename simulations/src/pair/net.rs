//! A lossy, duplicating, reordering path on virtual time.
//!
//! Every message sent takes the base latency plus a random jitter; with
//! jitter larger than the gap between two sends, they arrive out of order.
//! A message may be lost, or arrive twice. All of it comes from one seeded
//! generator, so a run is repeated exactly from its seed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

/// What a path does to what crosses it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    /// Time every message takes at least.
    pub latency: Duration,
    /// Extra time, uniform in `0..jitter`: reorders messages closer than it.
    pub jitter: Duration,
    /// Chance that a message is lost, 0..1.
    pub loss: f64,
    /// Chance that a message that arrives arrives twice, 0..1.
    pub duplicate: f64,
}

impl Conditions {
    /// A perfect path: 1 ms, nothing lost, duplicated or reordered.
    pub const PERFECT: Conditions = Conditions {
        latency: Duration::from_millis(1),
        jitter: Duration::ZERO,
        loss: 0.0,
        duplicate: 0.0,
    };
}

/// Counters of what the path did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathStats {
    /// Messages handed to the path.
    pub sent: u64,
    /// Of those, lost.
    pub lost: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Messages delivered after one sent later.
    pub reordered: u64,
    /// Messages delivered, copies included.
    pub delivered: u64,
}

/// One direction of a path: messages in flight, by arrival time.
#[derive(Debug)]
pub struct Path<T> {
    /// What the path does.
    conditions: Conditions,
    /// The path's randomness.
    rng: ChaCha8Rng,
    /// In flight, by (arrival, send order).
    flight: BTreeMap<(Instant, u64), T>,
    /// Send counter (ties and reorder detection).
    next: u64,
    /// Send number of the newest message delivered.
    newest_delivered: Option<u64>,
    /// Counters.
    stats: PathStats,
}

impl<T: Clone> Path<T> {
    /// An empty path with `conditions`, its randomness from `seed`.
    pub fn new(conditions: Conditions, seed: u64) -> Path<T> {
        Path {
            conditions,
            rng: ChaCha8Rng::seed_from_u64(seed),
            flight: BTreeMap::new(),
            next: 0,
            newest_delivered: None,
            stats: PathStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> PathStats {
        self.stats
    }

    /// Changes what the path does from now on (messages in flight keep
    /// their arrival time).
    pub fn set_conditions(&mut self, conditions: Conditions) {
        self.conditions = conditions;
    }

    /// Sends `item` at `now`.
    pub fn send(&mut self, now: Instant, item: T) {
        self.stats.sent += 1;
        let c = self.conditions;
        if c.loss > 0.0 && self.rng.random::<f64>() < c.loss {
            self.stats.lost += 1;
            return;
        }
        let copies = if c.duplicate > 0.0 && self.rng.random::<f64>() < c.duplicate {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if c.jitter.is_zero() {
                Duration::ZERO
            } else {
                c.jitter.mul_f64(self.rng.random::<f64>())
            };
            self.flight
                .insert((now + c.latency + jitter, self.next), item.clone());
        }
        self.next += 1;
    }

    /// When the next message arrives, if any is in flight.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.flight.keys().next().map(|(at, _)| *at)
    }

    /// The next message that has arrived by `now`.
    pub fn receive(&mut self, now: Instant) -> Option<T> {
        let (&(at, n), _) = self.flight.iter().next()?;
        if at > now {
            return None;
        }
        let item = self.flight.remove(&(at, n))?;
        self.stats.delivered += 1;
        match self.newest_delivered {
            Some(newest) if n < newest => self.stats.reordered += 1,
            _ => self.newest_delivered = Some(n),
        }
        Some(item)
    }

    /// Drops everything in flight (a connection that dies); returns how
    /// many messages were dropped.
    pub fn cut(&mut self) -> usize {
        let n = self.flight.len();
        self.flight.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_path_delivers_everything_once_in_order() {
        let t0 = Instant::now();
        let mut p = Path::new(Conditions::PERFECT, 1);
        for i in 0..100u32 {
            p.send(t0 + Duration::from_micros(u64::from(i)), i);
        }
        let mut got = Vec::new();
        while let Some(i) = p.receive(t0 + Duration::from_secs(1)) {
            got.push(i);
        }
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(p.stats().reordered, 0);
    }

    #[test]
    fn a_bad_path_loses_duplicates_and_reorders_as_told_and_repeats_from_its_seed() {
        let t0 = Instant::now();
        let bad = Conditions {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(50),
            loss: 0.2,
            duplicate: 0.1,
        };
        let run = |seed| {
            let mut p = Path::new(bad, seed);
            for i in 0..10_000u32 {
                p.send(t0 + Duration::from_millis(u64::from(i)), i);
            }
            let mut got = Vec::new();
            while let Some(i) = p.receive(t0 + Duration::from_secs(60)) {
                got.push(i);
            }
            (got, p.stats())
        };
        let (got, s) = run(7);
        assert_eq!(s.sent, 10_000);
        assert!((1_800..2_200).contains(&s.lost), "{s:?}");
        assert!((600..1_000).contains(&s.duplicated), "{s:?}");
        assert!(s.reordered > 1_000, "{s:?}");
        assert_eq!(got.len() as u64, s.sent - s.lost + s.duplicated);
        assert_eq!(run(7).0, got, "same seed, same run");
        assert_ne!(run(8).0, got, "another seed, another run");
    }
}

//! The timeline: the fleet picture recorded over time, for replaying a day
//! or a drill.
//!
//! - [`Recorder`] (sans-I/O): fed `(at_ms, picture)`, returns the [`Step`] to
//!   store — only what changed, plus a whole-picture keyframe at a fixed
//!   period so that any moment can be rebuilt from the keyframe before it
//!   and a bounded number of steps.
//! - [`persist`]: the steps in SQLite, in time order.
//! - [`Replay`]: a recorded period loaded from the store; the picture at any
//!   moment of it, for scrubbing back and forth.
//!
//! Only what the live picture already shows is recorded: positions, status,
//! camera footprints, link state. No image, no sound.

pub mod persist;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigie_protocols::api::Unit;

use crate::fleet::PictureDiff;

/// One recorded step of the picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// When, Unix ms.
    pub at_ms: i64,
    /// The whole picture (`units` is every unit, `removed` is empty).
    pub keyframe: bool,
    /// Units that appeared or changed (every unit in a keyframe).
    pub units: Vec<Unit>,
    /// Ids of units that left.
    pub removed: Vec<String>,
}

/// Decides what to record at each tick.
#[derive(Debug)]
pub struct Recorder {
    /// What was last recorded.
    diff: PictureDiff,
    /// Keyframe period, ms.
    keyframe_every_ms: i64,
    /// When the last keyframe was recorded.
    last_keyframe_ms: Option<i64>,
}

impl Recorder {
    /// A recorder writing a keyframe at least every `keyframe_every_ms`.
    pub fn new(keyframe_every_ms: i64) -> Recorder {
        Recorder {
            diff: PictureDiff::new(),
            keyframe_every_ms: keyframe_every_ms.max(1),
            last_keyframe_ms: None,
        }
    }

    /// The step to record for the picture `units` at `at_ms`; `None` when
    /// nothing changed and no keyframe is due.
    pub fn step(&mut self, at_ms: i64, units: &[Unit]) -> Option<Step> {
        let keyframe = self
            .last_keyframe_ms
            .is_none_or(|k| at_ms - k >= self.keyframe_every_ms);
        let (changed, removed) = self.diff.diff(units);
        if keyframe {
            self.last_keyframe_ms = Some(at_ms);
            return Some(Step {
                at_ms,
                keyframe: true,
                units: units.to_vec(),
                removed: Vec::new(),
            });
        }
        if changed.is_empty() && removed.is_empty() {
            return None;
        }
        Some(Step {
            at_ms,
            keyframe: false,
            units: changed.into_iter().cloned().collect(),
            removed,
        })
    }
}

/// A recorded period, ready to be scrubbed.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Steps in time order, starting with a keyframe.
    steps: Vec<Step>,
    /// Indices of the keyframes in `steps`.
    keyframes: Vec<usize>,
}

impl Replay {
    /// A replay of `steps` (time order). Steps before the first keyframe
    /// cannot be rebuilt and are dropped.
    pub fn new(steps: Vec<Step>) -> Replay {
        let first = steps.iter().position(|s| s.keyframe).unwrap_or(steps.len());
        let steps: Vec<Step> = steps.into_iter().skip(first).collect();
        let keyframes = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.keyframe)
            .map(|(i, _)| i)
            .collect();
        Replay { steps, keyframes }
    }

    /// First and last recorded instants, Unix ms; `None` when empty.
    pub fn span(&self) -> Option<(i64, i64)> {
        Some((self.steps.first()?.at_ms, self.steps.last()?.at_ms))
    }

    /// Nothing recorded.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Times of the keyframes, Unix ms.
    pub fn keyframe_times(&self) -> Vec<i64> {
        self.keyframes
            .iter()
            .map(|&k| self.steps[k].at_ms)
            .collect()
    }

    /// Activity over the recording in `bins` equal slices of its span:
    /// units that changed or left in each (keyframes not counted, they
    /// repeat the picture).
    pub fn activity(&self, bins: usize) -> Vec<u32> {
        let mut out = vec![0u32; bins];
        let Some((a, b)) = self.span() else {
            return out;
        };
        if bins == 0 {
            return out;
        }
        let len = (b - a).max(1) as f64;
        for s in self.steps.iter().filter(|s| !s.keyframe) {
            let k = (((s.at_ms - a) as f64 / len) * bins as f64) as usize;
            let n = (s.units.len() + s.removed.len()) as u32;
            out[k.min(bins - 1)] = out[k.min(bins - 1)].saturating_add(n);
        }
        out
    }

    /// Steps recorded.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// The picture as it was at `at_ms` (the first keyframe's before the
    /// start), sorted by id.
    pub fn picture_at(&self, at_ms: i64) -> Vec<Unit> {
        // The last step at or before `at_ms`, and the keyframe before it.
        let last = self.steps.partition_point(|s| s.at_ms <= at_ms);
        let last = last.max(1).min(self.steps.len());
        let key_pos = self.keyframes.partition_point(|&k| k < last);
        let Some(&start) = self.keyframes.get(key_pos.saturating_sub(1)) else {
            return Vec::new();
        };
        let mut units: BTreeMap<&str, &Unit> = BTreeMap::new();
        for step in &self.steps[start..last] {
            if step.keyframe {
                units.clear();
            }
            for id in &step.removed {
                units.remove(id.as_str());
            }
            for u in &step.units {
                units.insert(u.id.as_str(), u);
            }
        }
        units.into_values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use vigie_protocols::api::{Position, UnitKind, UnitStatus};

    use super::*;

    fn unit(i: u32, lat: f64, status: UnitStatus) -> Unit {
        Unit {
            position: Some(Position {
                lat_deg: lat,
                lon_deg: 2.36,
                ..Position::default()
            }),
            ..Unit::new(format!("U{i:03}"), UnitKind::Patrol, status, "test")
        }
    }

    /// Records a seeded random day and checks that the replay rebuilds the
    /// exact picture at every tick and between ticks.
    #[test]
    fn replay_rebuilds_the_recorded_picture_at_every_moment() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut recorder = Recorder::new(10_000);
        let mut truth: Vec<(i64, Vec<Unit>)> = Vec::new();
        let mut picture: BTreeMap<u32, Unit> = BTreeMap::new();
        let mut steps = Vec::new();
        for tick in 0..300i64 {
            let at = 1_000_000 + tick * 1_000;
            // A few changes per tick: moves, arrivals, departures; some
            // ticks change nothing.
            for _ in 0..rng.random_range(0..4) {
                let id = rng.random_range(0..40u32);
                match rng.random_range(0..5) {
                    0 => {
                        picture.remove(&id);
                    }
                    _ => {
                        let status = if rng.random_bool(0.5) {
                            UnitStatus::Available
                        } else {
                            UnitStatus::EnRoute
                        };
                        picture.insert(id, unit(id, 48.9 + rng.random::<f64>() / 100.0, status));
                    }
                }
            }
            let units: Vec<Unit> = picture.values().cloned().collect();
            if let Some(step) = recorder.step(at, &units) {
                steps.push(step);
            }
            truth.push((at, units));
        }
        let keyframes = steps.iter().filter(|s| s.keyframe).count();
        assert_eq!(keyframes, 30, "one keyframe per 10 s over 300 s");
        assert!(steps.len() < 300, "quiet ticks record nothing");
        let replay = Replay::new(steps);
        for (at, units) in &truth {
            assert_eq!(&replay.picture_at(*at), units, "at {at}");
            // Half a tick later, nothing was recorded yet: same picture.
            assert_eq!(&replay.picture_at(*at + 500), units, "at {at}+500");
        }
        // Before the start: the first keyframe; after the end: the last picture.
        assert_eq!(replay.picture_at(0), truth[0].1);
        assert_eq!(replay.picture_at(i64::MAX), truth[299].1);
        let (first, last) = replay.span().unwrap();
        assert_eq!(first, 1_000_000);
        assert!(last <= truth[299].0);
    }

    #[test]
    fn steps_before_the_first_keyframe_are_dropped() {
        let delta = Step {
            at_ms: 1,
            keyframe: false,
            units: vec![unit(1, 48.9, UnitStatus::Available)],
            removed: vec![],
        };
        let key = Step {
            at_ms: 2,
            keyframe: true,
            units: vec![unit(2, 48.9, UnitStatus::Available)],
            removed: vec![],
        };
        let replay = Replay::new(vec![delta, key]);
        assert_eq!(replay.len(), 1);
        assert_eq!(replay.picture_at(5)[0].id, "U002");
        assert!(Replay::new(vec![]).picture_at(5).is_empty());
    }
}

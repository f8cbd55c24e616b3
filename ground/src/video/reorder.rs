//! Putting RTP packets back in order: a bounded reorder buffer keyed by the
//! sequence number (extended past its 16-bit wrap), sans-I/O.
//!
//! Packets are released in sequence order. The first is held for
//! [`Reorder::max_wait`] too, so that a packet overtaken at the very start
//! still comes out first (a jitter buffer's start-up delay). A missing
//! packet is waited for
//! at most [`Reorder::max_wait`] after the next one arrived, or until
//! [`Reorder::max_held`] packets wait behind it; then it is declared lost
//! and a [`Released::Gap`] tells the depacketiser to drop what it was
//! assembling. A packet older than what was released is late and dropped;
//! one already held is a duplicate. Everything is counted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What the buffer hands on, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released<T> {
    /// The next packet.
    Packet(T),
    /// This many packets were lost before the next one.
    Gap(u64),
}

/// What the buffer saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReorderStats {
    /// Packets taken in (duplicates and late ones included).
    pub received: u64,
    /// Packets declared lost.
    pub lost: u64,
    /// Packets that came after their place was released, dropped.
    pub late: u64,
    /// Packets received twice, the second dropped.
    pub duplicate: u64,
    /// Packets that arrived out of order and were put back in place.
    pub reordered: u64,
}

/// The reorder buffer of one stream.
#[derive(Debug)]
pub struct Reorder<T> {
    /// Longest a packet waits for a missing one before it, from its arrival.
    pub max_wait: Duration,
    /// Most packets held; past it the oldest gap is given up.
    pub max_held: usize,
    /// Extended sequence number due next; `None` before the first packet.
    next: Option<u64>,
    /// Highest extended sequence number seen (to extend the next one).
    highest: u64,
    /// Packets waiting, by extended sequence number, with their arrival.
    held: BTreeMap<u64, (Instant, T)>,
    /// Counts.
    stats: ReorderStats,
}

impl<T> Reorder<T> {
    /// A buffer that waits at most `max_wait` and holds at most `max_held`.
    pub fn new(max_wait: Duration, max_held: usize) -> Reorder<T> {
        Reorder {
            max_wait,
            max_held: max_held.max(1),
            next: None,
            highest: 0,
            held: BTreeMap::new(),
            stats: ReorderStats::default(),
        }
    }

    /// What the buffer saw so far.
    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    /// Packets waiting now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The 16-bit `seq` extended next to the highest number seen (the
    /// first one lifted by 2^32, so that nothing before it goes negative).
    fn extend(&self, seq: u16) -> u64 {
        if self.highest == 0 {
            return u64::from(seq) + (1 << 32);
        }
        let delta = i64::from(seq.wrapping_sub(self.highest as u16) as i16);
        (self.highest as i64 + delta).max(0) as u64
    }

    /// Takes packet `seq` arrived at `now`; appends what can be released.
    pub fn push(&mut self, now: Instant, seq: u16, item: T, out: &mut Vec<Released<T>>) {
        self.stats.received += 1;
        let ext = self.extend(seq);
        if self.next.is_some_and(|next| ext < next) {
            self.stats.late += 1;
            return;
        }
        if self.held.contains_key(&ext) {
            self.stats.duplicate += 1;
            return;
        }
        if ext < self.highest || self.held.keys().next().is_some_and(|k| ext < *k) {
            self.stats.reordered += 1;
        }
        self.highest = self.highest.max(ext);
        self.held.insert(ext, (now, item));
        self.release(now, out);
    }

    /// Gives up the gaps that waited long enough by `now`; appends what
    /// that releases.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Released<T>>) {
        self.release(now, out);
    }

    /// When [`Reorder::poll`] next has something to do, if anything waits.
    pub fn poll_at(&self) -> Option<Instant> {
        self.held.values().map(|(t, _)| *t + self.max_wait).min()
    }

    /// Whether some held packet waited `max_wait`, or the buffer is full.
    fn must_move_on(&self, now: Instant) -> bool {
        self.held.len() >= self.max_held
            || self
                .held
                .values()
                .any(|(t, _)| now.saturating_duration_since(*t) >= self.max_wait)
    }

    fn release(&mut self, now: Instant, out: &mut Vec<Released<T>>) {
        let mut next = match self.next {
            Some(n) => n,
            None => match self.held.keys().next() {
                Some(&first) if self.must_move_on(now) => first,
                _ => return,
            },
        };
        loop {
            if let Some((_, item)) = self.held.remove(&next) {
                out.push(Released::Packet(item));
                next += 1;
                continue;
            }
            let Some((&first, _)) = self.held.first_key_value() else {
                break;
            };
            if !self.must_move_on(now) {
                break;
            }
            let lost = first - next;
            self.stats.lost += lost;
            out.push(Released::Gap(lost));
            next = first;
        }
        self.next = Some(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(out: &[Released<u16>]) -> Vec<u16> {
        out.iter()
            .filter_map(|r| match r {
                Released::Packet(p) => Some(*p),
                Released::Gap(_) => None,
            })
            .collect()
    }

    #[test]
    fn puts_packets_back_in_order_across_the_wrap() {
        let t = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(50), 64);
        let mut out = Vec::new();
        for s in [65_534u16, 65_533, 65_535, 1, 0, 2] {
            r.push(t, s, s, &mut out);
        }
        assert!(
            out.is_empty(),
            "the first packets wait out the start-up delay"
        );
        r.poll(t + Duration::from_millis(50), &mut out);
        assert_eq!(packets(&out), [65_533, 65_534, 65_535, 0, 1, 2]);
        assert_eq!(r.stats().reordered, 2);
        assert_eq!(r.stats().lost, 0);
    }

    #[test]
    fn a_missing_packet_is_waited_for_then_declared_lost() {
        let t = Instant::now();
        let wait = Duration::from_millis(40);
        let mut r = Reorder::new(wait, 64);
        let mut out = Vec::new();
        r.push(t, 10, 10, &mut out);
        r.poll(t + wait, &mut out);
        assert_eq!(out, [Released::Packet(10)]);
        let t = t + wait;
        r.push(t, 12, 12, &mut out);
        assert_eq!(out.len(), 1, "12 waits for 11");
        assert_eq!(r.poll_at(), Some(t + wait));
        r.poll(t + wait - Duration::from_millis(1), &mut out);
        assert_eq!(out.len(), 1);
        r.poll(t + wait, &mut out);
        assert_eq!(out[1..], [Released::Gap(1), Released::Packet(12)]);
        // 11 now comes too late; 12 again is late too.
        r.push(t + wait, 11, 11, &mut out);
        r.push(t + wait, 12, 12, &mut out);
        assert_eq!(r.stats().late, 2);
        assert_eq!(r.stats().lost, 1);
    }

    #[test]
    fn the_buffer_never_holds_more_than_its_bound() {
        let t = Instant::now();
        let mut r = Reorder::new(Duration::from_secs(10), 8);
        let mut out = Vec::new();
        r.push(t, 0, 0, &mut out);
        r.poll(t + Duration::from_secs(10), &mut out);
        for s in 2..100u16 {
            r.push(t, s, s, &mut out);
            assert!(r.held() < 8);
        }
        assert_eq!(r.stats().lost, 1);
        r.push(t, 100, 100, &mut out);
        r.push(t, 100, 100, &mut out);
        assert_eq!(r.stats().duplicate, 0, "100 was released at once");
        assert_eq!(r.stats().late, 1);
    }
}

//! Refused requests and connections: counted per source and minute in the
//! register, summarised in the log (sans-I/O).
//!
//! A flood of bad tokens or bad certificates must neither fill the disk nor
//! the journal, yet none may go unrecorded. So:
//!
//! - [`Tally`]: refusals are added up per (action, actor, source, class)
//!   and minute; when the minute ends (or at shutdown, or before the
//!   register is read) each becomes one register row with the exact count,
//!   the first and last time, and the distinct reasons and requests with
//!   their counts (at most [`MAX_DISTINCT`] each, the rest counted under
//!   `(others)`). At most [`MAX_SOURCES_PER_MINUTE`] sources are told
//!   apart in a minute; beyond, they are added to one `remote:others` row.
//!   So a flood costs O(sources × minutes) rows, and the counts add up.
//! - [`LogThrottle`]: at most one log line per kind (`http`, `quic`) every
//!   [`LOG_EVERY_MS`], saying how many were refused since the last line,
//!   from how many sources, and why.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;

use super::audit::{Actor, Entry};

/// Length of one aggregation window, milliseconds.
pub const MINUTE_MS: i64 = 60_000;

/// Sources told apart per minute; more are counted together.
pub const MAX_SOURCES_PER_MINUTE: usize = 1024;

/// Distinct reasons (and requests) listed per row; more are counted as
/// `(others)`.
pub const MAX_DISTINCT: usize = 16;

/// Shortest time between two log lines of one kind, milliseconds.
pub const LOG_EVERY_MS: i64 = 5_000;

/// Target of the row counting sources beyond [`MAX_SOURCES_PER_MINUTE`].
pub const OTHERS: &str = "remote:others";

/// One refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// The register action (`http.refused`, `patrol.refused`).
    pub action: &'static str,
    /// Who, when known (`anonymous` otherwise).
    pub actor: Actor,
    /// Where from: `remote:IP` or `unit:ID` (the register row's target).
    pub source: String,
    /// What stays the same within a row (the QUIC stage, the remote IP),
    /// as detail fields.
    pub class: Vec<(&'static str, String)>,
    /// What was asked (`GET /api/v1/units`, `connect`).
    pub request: String,
    /// Why it was refused.
    pub reason: String,
}

/// Counts per distinct value, bounded.
#[derive(Debug, Clone, Default, PartialEq)]
struct Counts {
    /// Distinct values and their counts.
    each: BTreeMap<String, u64>,
    /// Values beyond [`MAX_DISTINCT`].
    others: u64,
}

impl Counts {
    fn add(&mut self, value: &str) {
        if let Some(n) = self.each.get_mut(value) {
            *n += 1;
        } else if self.each.len() < MAX_DISTINCT {
            self.each.insert(value.to_string(), 1);
        } else {
            self.others += 1;
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, n) in &self.each {
            map.insert(k.clone(), json!(n));
        }
        if self.others > 0 {
            map.insert("(others)".into(), json!(self.others));
        }
        serde_json::Value::Object(map)
    }
}

/// What a row adds up.
#[derive(Debug, Clone, PartialEq)]
struct Sum {
    /// Who.
    actor: Actor,
    /// The fixed fields.
    class: Vec<(&'static str, String)>,
    /// Refusals.
    count: u64,
    /// First, Unix milliseconds.
    first_ms: i64,
    /// Last, Unix milliseconds.
    last_ms: i64,
    /// Why.
    reasons: Counts,
    /// What was asked.
    requests: Counts,
}

/// A row's key: minute start, action, actor, source, class.
type Key = (i64, &'static str, String, String, String);

/// Refusals added up per source and minute.
#[derive(Debug, Default)]
pub struct Tally {
    /// Open rows.
    sums: BTreeMap<Key, Sum>,
    /// Distinct sources seen per minute (bounded by
    /// [`MAX_SOURCES_PER_MINUTE`]).
    sources: HashMap<i64, HashSet<String>>,
    /// Refusals added and not yet turned into rows.
    pending: u64,
}

impl Tally {
    /// Adds one refusal.
    pub fn add(&mut self, r: Refusal) {
        let minute = r.at_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        let seen = self.sources.entry(minute).or_default();
        let known = seen.contains(&r.source);
        let (actor, source, class) = if known || seen.len() < MAX_SOURCES_PER_MINUTE {
            seen.insert(r.source.clone());
            (r.actor, r.source, r.class)
        } else {
            (Actor::Anonymous, OTHERS.to_string(), Vec::new())
        };
        let class_key = class
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let key = (minute, r.action, actor.as_string(), source, class_key);
        let sum = self.sums.entry(key).or_insert_with(|| Sum {
            actor,
            class,
            count: 0,
            first_ms: r.at_ms,
            last_ms: r.at_ms,
            reasons: Counts::default(),
            requests: Counts::default(),
        });
        sum.count += 1;
        sum.first_ms = sum.first_ms.min(r.at_ms);
        sum.last_ms = sum.last_ms.max(r.at_ms);
        sum.reasons.add(&r.reason);
        sum.requests.add(&r.request);
        self.pending += 1;
    }

    /// Refusals added and not yet taken as rows.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// The rows of every minute that has ended by `now_ms`.
    pub fn take_ended(&mut self, now_ms: i64) -> Vec<Entry> {
        let current = now_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        self.take(|minute| minute < current)
    }

    /// Every row, ended or not (at shutdown, before the register is read).
    pub fn take_all(&mut self) -> Vec<Entry> {
        self.take(|_| true)
    }

    fn take(&mut self, due: impl Fn(i64) -> bool) -> Vec<Entry> {
        let keys: Vec<Key> = self.sums.keys().filter(|k| due(k.0)).cloned().collect();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(sum) = self.sums.remove(&key) else {
                continue;
            };
            self.pending -= sum.count;
            let (minute, action, _, source, _) = key;
            let mut detail = serde_json::Map::new();
            for (k, v) in &sum.class {
                detail.insert((*k).into(), json!(v));
            }
            detail.insert("count".into(), json!(sum.count));
            detail.insert("minute_start_ms".into(), json!(minute));
            detail.insert("first_ms".into(), json!(sum.first_ms));
            detail.insert("last_ms".into(), json!(sum.last_ms));
            detail.insert("reasons".into(), sum.reasons.to_json());
            detail.insert("requests".into(), sum.requests.to_json());
            out.push(
                Entry::new(sum.last_ms, sum.actor, action, &source)
                    .detail(serde_json::Value::Object(detail)),
            );
        }
        self.sources.retain(|minute, _| !due(*minute));
        out
    }
}

/// Refusals of one kind since its last log line.
#[derive(Debug, Default, Clone)]
struct Window {
    /// When the last line was written (`None`: never).
    last_line_ms: Option<i64>,
    /// Refusals since.
    count: u64,
    /// Distinct sources since (bounded).
    sources: HashSet<String>,
    /// Sources beyond the bound.
    more_sources: bool,
    /// Why.
    reasons: Counts,
}

/// At most one log line per kind every [`LOG_EVERY_MS`].
#[derive(Debug, Default)]
pub struct LogThrottle {
    /// Per kind (`http`, `quic`).
    kinds: BTreeMap<&'static str, Window>,
}

impl LogThrottle {
    /// Counts a refusal; returns the line to log now, if one is due.
    pub fn note(
        &mut self,
        now_ms: i64,
        kind: &'static str,
        source: &str,
        reason: &str,
    ) -> Option<String> {
        let w = self.kinds.entry(kind).or_default();
        w.count += 1;
        if w.sources.len() < MAX_SOURCES_PER_MINUTE {
            w.sources.insert(source.to_string());
        } else if !w.sources.contains(source) {
            w.more_sources = true;
        }
        w.reasons.add(reason);
        Self::due(kind, w, now_ms)
    }

    /// The lines due at `now_ms` for refusals counted since their kind's
    /// last line (called periodically, so the end of a flood is told).
    pub fn tick(&mut self, now_ms: i64) -> Vec<String> {
        self.kinds
            .iter_mut()
            .filter_map(|(kind, w)| Self::due(kind, w, now_ms))
            .collect()
    }

    /// Every line still owed, due or not (at shutdown).
    pub fn take_all(&mut self, now_ms: i64) -> Vec<String> {
        self.kinds
            .iter_mut()
            .filter(|(_, w)| w.count > 0)
            .map(|(kind, w)| Self::line(kind, w, now_ms))
            .collect()
    }

    fn due(kind: &str, w: &mut Window, now_ms: i64) -> Option<String> {
        let quiet = w
            .last_line_ms
            .is_none_or(|t| now_ms - t >= LOG_EVERY_MS || now_ms < t);
        (w.count > 0 && quiet).then(|| Self::line(kind, w, now_ms))
    }

    fn line(kind: &str, w: &mut Window, now_ms: i64) -> String {
        let since = match w.last_line_ms {
            Some(t) => format!("in the last {:.0} s", (now_ms - t).max(0) as f64 / 1000.0),
            None => "(first refusal of this run)".to_string(),
        };
        let mut reasons: Vec<(&String, &u64)> = w.reasons.each.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1));
        let mut why: Vec<String> = reasons
            .iter()
            .take(3)
            .map(|(r, n)| format!("{} × {r}", thousands(**n)))
            .collect();
        if reasons.len() > 3 || w.reasons.others > 0 {
            why.push("…".into());
        }
        let sources = format!(
            "{}{}",
            thousands(w.sources.len() as u64),
            if w.more_sources { "+" } else { "" }
        );
        let text = format!(
            "refused {} {kind} request(s) {since} from {sources} source(s): {}; each is counted in the audit register (one row per source and minute)",
            thousands(w.count),
            why.join("; ")
        );
        *w = Window {
            last_line_ms: Some(now_ms),
            ..Window::default()
        };
        text
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt as _, SeedableRng as _};

    fn refusal(at_ms: i64, source: usize, reason: usize) -> Refusal {
        Refusal {
            at_ms,
            action: "http.refused",
            actor: Actor::Anonymous,
            source: format!("remote:10.0.0.{source}"),
            class: vec![("remote", format!("10.0.0.{source}"))],
            request: format!("GET /api/v1/units/{}", reason % 3),
            reason: format!("reason {reason}"),
        }
    }

    fn count_of(e: &Entry) -> u64 {
        e.detail["count"].as_u64().unwrap()
    }

    #[test]
    fn a_flood_costs_one_row_per_source_and_minute_and_every_refusal_is_counted() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let (n, sources, minutes) = (254_000u64, 7usize, 3i64);
        let start = 1_800_000_000_000i64; // a minute boundary
        let mut tally = Tally::default();
        let mut log = LogThrottle::default();
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for i in 0..n {
            // Evenly over `minutes` minutes, in time order.
            let now = start + (i as i64 * minutes * MINUTE_MS) / n as i64;
            let source = rng.random_range(0..sources);
            let reason = rng.random_range(0..40);
            let r = refusal(now, source, reason);
            lines.extend(log.note(now, "http", &r.source, &r.reason));
            tally.add(r);
            // The periodic task, every 5 s of virtual time.
            if i % 1000 == 0 {
                rows.extend(tally.take_ended(now));
                lines.extend(log.tick(now));
            }
        }
        rows.extend(tally.take_all());
        lines.extend(log.take_all(start + minutes * MINUTE_MS));
        assert_eq!(tally.pending(), 0);
        assert!(
            rows.len() <= sources * minutes as usize,
            "{} rows for {sources} sources over {minutes} minutes",
            rows.len()
        );
        assert_eq!(rows.iter().map(count_of).sum::<u64>(), n, "none lost");
        // Reasons are bounded and add up too.
        for row in &rows {
            let reasons = row.detail["reasons"].as_object().unwrap();
            assert!(reasons.len() <= MAX_DISTINCT + 1);
            let sum: u64 = reasons.values().map(|v| v.as_u64().unwrap()).sum();
            assert_eq!(sum, count_of(row));
        }
        // One line per kind per 5 s at most (plus the first and the last).
        let bound = (minutes * MINUTE_MS / LOG_EVERY_MS) as usize + 2;
        assert!(lines.len() <= bound, "{} lines", lines.len());
        assert!(lines.len() >= 2);
        let told: u64 = lines
            .iter()
            .map(|l| {
                let n = l.split_whitespace().nth(1).unwrap().replace(',', "");
                n.parse::<u64>().unwrap()
            })
            .sum();
        assert_eq!(told, n, "the log lines' counts add up: {lines:?}");
    }

    #[test]
    fn rows_are_written_when_their_minute_ends_and_not_before() {
        let mut tally = Tally::default();
        tally.add(refusal(60_000, 1, 1));
        tally.add(refusal(119_999, 1, 2));
        tally.add(refusal(120_000, 1, 1));
        assert!(tally.take_ended(119_999).is_empty());
        let rows = tally.take_ended(120_000);
        assert_eq!(rows.len(), 1);
        let d = &rows[0].detail;
        assert_eq!(d["count"], 2);
        assert_eq!(d["first_ms"], 60_000);
        assert_eq!(d["last_ms"], 119_999);
        assert_eq!(d["minute_start_ms"], 60_000);
        assert_eq!(d["remote"], "10.0.0.1");
        assert_eq!(d["reasons"]["reason 1"], 1);
        assert_eq!(rows[0].target, "remote:10.0.0.1");
        assert_eq!(tally.pending(), 1);
        assert_eq!(tally.take_all().len(), 1);
    }

    #[test]
    fn sources_beyond_the_bound_are_counted_together() {
        let mut tally = Tally::default();
        let n = MAX_SOURCES_PER_MINUTE + 500;
        for s in 0..n {
            let mut r = refusal(1_000, 0, 0);
            r.source = format!("remote:10.1.{}.{}", s / 256, s % 256);
            tally.add(r);
        }
        let rows = tally.take_all();
        assert_eq!(rows.len(), MAX_SOURCES_PER_MINUTE + 1);
        let others = rows.iter().find(|r| r.target == OTHERS).unwrap();
        assert_eq!(count_of(others), 500);
        assert_eq!(rows.iter().map(count_of).sum::<u64>(), n as u64);
    }

    #[test]
    fn the_first_refusal_is_logged_at_once_then_summarised() {
        let mut log = LogThrottle::default();
        let first = log.note(0, "quic", "remote:1.2.3.4", "unknown CA").unwrap();
        assert!(
            first.starts_with("refused 1 quic request(s) (first refusal"),
            "{first}"
        );
        for t in 1..1234 {
            assert_eq!(log.note(t, "quic", "remote:1.2.3.4", "unknown CA"), None);
        }
        assert!(log.note(10, "http", "remote:1.2.3.4", "no token").is_some());
        let lines = log.tick(5_000);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(
                "refused 1,233 quic request(s) in the last 5 s from 1 source(s): 1,233 × unknown CA"
            ),
            "{lines:?}"
        );
        assert!(log.tick(6_000).is_empty());
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}

//! Wall-clock and calendar helpers, the one copy of the civil-date
//! arithmetic: cores take `now` as an argument; only the edges read the
//! clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current Unix time in milliseconds.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `(year, month, day)` of a count of days since 1970-01-01 (Howard
/// Hinnant's civil-from-days).
pub fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil`]).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The time zones people read Vigie's times in: metropolitan France and
/// its neighbours (EU summer time: last Sunday of March to last Sunday of
/// October, 01:00 UTC), the overseas departments and territories (no
/// summer time), and UTC. `(standard offset s, EU summer time)`.
fn zone(tz: &str) -> Option<(i64, bool)> {
    Some(match tz {
        "Europe/Paris" | "Europe/Brussels" | "Europe/Luxembourg" | "Europe/Monaco"
        | "Europe/Berlin" | "Europe/Madrid" | "Europe/Rome" | "Europe/Amsterdam"
        | "Europe/Zurich" | "Europe/Andorra" => (3600, true),
        "Europe/London" | "Europe/Lisbon" => (0, true),
        "UTC" | "Etc/UTC" => (0, false),
        "America/Guadeloupe"
        | "America/Martinique"
        | "America/St_Barthelemy"
        | "America/Marigot" => (-4 * 3600, false),
        "America/Cayenne" => (-3 * 3600, false),
        "America/Miquelon" => (-3 * 3600, false),
        "Indian/Reunion" => (4 * 3600, false),
        "Indian/Mayotte" => (3 * 3600, false),
        "Pacific/Noumea" => (11 * 3600, false),
        "Pacific/Tahiti" => (-10 * 3600, false),
        "Pacific/Wallis" => (12 * 3600, false),
        _ => return None,
    })
}

/// Whether `tz` is a time zone [`local_offset_s`] knows.
pub fn known_zone(tz: &str) -> bool {
    zone(tz).is_some()
}

/// The UTC offset of `tz` at `ms`, seconds (`None` for a zone not known).
/// Saint-Pierre-et-Miquelon's North American summer time is not modelled.
pub fn local_offset_s(ms: i64, tz: &str) -> Option<i64> {
    let (standard, eu_summer) = zone(tz)?;
    if !eu_summer {
        return Some(standard);
    }
    let (y, _, _) = civil(ms.div_euclid(86_400_000));
    // Last Sunday of a month at 01:00 UTC (1970-01-01 was a Thursday).
    let last_sunday = |m: i64| {
        let last = days_from_civil(y, m + 1, 1) - 1;
        let weekday = (last + 4).rem_euclid(7); // 0 = Sunday
        (last - weekday) * 86_400_000 + 3_600_000
    };
    let summer = ms >= last_sunday(3) && ms < last_sunday(10);
    Some(standard + if summer { 3600 } else { 0 })
}

/// A time broken down in a zone, for the words below.
struct Local {
    year: i64,
    /// 1..=12.
    month: usize,
    day: i64,
    /// 0 = Sunday.
    weekday: usize,
    hour: i64,
    minute: i64,
    /// `" (UTC)"` when the zone is not known and UTC was used.
    suffix: &'static str,
}

/// `ms` broken down in `tz` (UTC for a zone not known, said in `suffix`).
fn local(ms: i64, tz: &str) -> Local {
    let (offset, suffix) = match local_offset_s(ms, tz) {
        Some(o) => (o, ""),
        None => (0, " (UTC)"),
    };
    let local = ms + offset * 1000;
    let days = local.div_euclid(86_400_000);
    let rem = local.rem_euclid(86_400_000);
    let (year, month, day) = civil(days);
    Local {
        year,
        month: month as usize,
        day,
        weekday: (days + 4).rem_euclid(7) as usize, // 1970-01-01 was a Thursday
        hour: rem / 3_600_000,
        minute: rem / 60_000 % 60,
        suffix,
    }
}

const DAYS_FR: [&str; 7] = [
    "dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi",
];
const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// The date of `ms` in `tz` in French words: `mardi 14 juillet 2026`.
pub fn date_fr(ms: i64, tz: &str) -> String {
    let t = local(ms, tz);
    let day = if t.day == 1 {
        "1er".to_string()
    } else {
        t.day.to_string()
    };
    format!(
        "{} {day} {} {}",
        DAYS_FR[t.weekday],
        MONTHS_FR[t.month - 1],
        t.year
    )
}

/// `ms` in `tz` in French words: `mardi 14 juillet 2026 à 16 h 02`
/// (UTC, said so, for a zone not known).
pub fn words_fr(ms: i64, tz: &str) -> String {
    let t = local(ms, tz);
    format!(
        "{} à {} h {:02}{}",
        date_fr(ms, tz),
        t.hour,
        t.minute,
        t.suffix
    )
}

/// `ms` in `tz` in English words: `Tuesday 14 July 2026, 16:02`.
pub fn words_en(ms: i64, tz: &str) -> String {
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let t = local(ms, tz);
    format!(
        "{} {} {} {}, {:02}:{:02}{}",
        DAYS[t.weekday],
        t.day,
        MONTHS[t.month - 1],
        t.year,
        t.hour,
        t.minute,
        t.suffix
    )
}

/// `HH:MM:SS` of `ms` in `tz` (UTC for a zone not known).
pub fn clock(ms: i64, tz: &str) -> String {
    let t = local(ms, tz);
    format!(
        "{:02}:{:02}:{:02}",
        t.hour,
        t.minute,
        ms.rem_euclid(60_000) / 1000
    )
}

/// Unix milliseconds as an RFC 3339 UTC time (`2026-07-14T14:02:00.000Z`).
pub fn rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Unix milliseconds as a compact UTC stamp for file names
/// (`20260714T140200Z`).
pub fn utc_stamp(ms: i64) -> String {
    let t = rfc3339(ms);
    let mut out: String = t[..19].chars().filter(|c| !"-:".contains(*c)).collect();
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_stamps_name_files() {
        assert_eq!(super::utc_stamp(1_784_037_720_500), "20260714T140200Z");
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_784_037_720_500),
            "2026-07-14T14:02:00.500Z"
        );
    }

    #[test]
    fn paris_time_follows_summer_time_and_reads_in_words() {
        use super::*;
        // 2026: summer time from Sunday 29 March 01:00 UTC to Sunday 25
        // October 01:00 UTC.
        let at = |s: &str| crate::plan::event::parse_time_s(s).unwrap() * 1000;
        assert_eq!(
            local_offset_s(at("2026-03-29T00:59:59Z"), "Europe/Paris"),
            Some(3600)
        );
        assert_eq!(
            local_offset_s(at("2026-03-29T01:00:00Z"), "Europe/Paris"),
            Some(7200)
        );
        assert_eq!(
            local_offset_s(at("2026-10-25T00:59:59Z"), "Europe/Paris"),
            Some(7200)
        );
        assert_eq!(
            local_offset_s(at("2026-10-25T01:00:00Z"), "Europe/Paris"),
            Some(3600)
        );
        assert_eq!(
            local_offset_s(at("2026-07-14T12:00:00Z"), "Indian/Reunion"),
            Some(14_400)
        );
        assert_eq!(local_offset_s(0, "Mars/Olympus"), None);
        assert_eq!(
            words_fr(at("2026-07-14T14:02:00Z"), "Europe/Paris"),
            "mardi 14 juillet 2026 à 16 h 02"
        );
        assert_eq!(
            words_fr(at("2026-12-01T08:30:00Z"), "Europe/Paris"),
            "mardi 1er décembre 2026 à 9 h 30"
        );
        assert_eq!(
            words_en(at("2026-07-14T14:02:00Z"), "Europe/Paris"),
            "Tuesday 14 July 2026, 16:02"
        );
        assert_eq!(
            words_fr(0, "Mars/Olympus"),
            "jeudi 1er janvier 1970 à 0 h 00 (UTC)"
        );
        assert_eq!(
            clock(at("2026-07-14T14:02:05Z"), "Europe/Paris"),
            "16:02:05"
        );
        assert_eq!(
            date_fr(at("2026-07-14T14:02:00Z"), "Europe/Paris"),
            "mardi 14 juillet 2026"
        );
        for days in [-1000, 0, 20_000, 30_000] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}

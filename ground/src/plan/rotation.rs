//! Drone rotations: how many airframes keep one station watched without a
//! break, and the sortie schedule that does it.
//!
//! An airframe may stay airborne `E − R` seconds (endurance less the landing
//! reserve). Of that, `2T` goes to the transit out from the nearest launch
//! site and back (horizontal distance at cruise speed plus the climb to the
//! station altitude), so it spends `on = E − R − 2T` seconds on station.
//! After landing its battery is swapped in `S` seconds, so one airframe
//! repeats every `cycle = (E − R) + S` seconds. The relief must take off `T`
//! seconds before the airframe on station leaves, so that it arrives as the
//! other departs: consecutive sorties start `on` seconds apart, and `n`
//! airframes cover the station forever exactly when `n × on ≥ cycle`:
//!
//! ```text
//! airframes = ceil((E − R + S) / (E − R − 2T))
//! ```
//!
//! (The often-quoted `ceil((E + S + 2T) / (E − 2T − R))` counts the transit
//! twice and the reserve not at all in the numerator: it is never smaller,
//! so it over-provisions.) Over a finite window `W` no more airframes are
//! needed than sorties, `ceil(W / on)`. A station whose transit leaves no
//! time on station is unreachable.
//!
//! Patrol teams work one shift each: a post watched over `W` seconds takes
//! `ceil(W / shift)` teams.

use serde::Serialize;

use super::event::{DroneAssets, Window};

/// How a station is kept watched.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rotation {
    /// One-way transit from the launch site, seconds.
    pub transit_s: f64,
    /// Time on station per sortie, seconds.
    pub on_station_s: f64,
    /// Time between two take-offs of the same airframe, seconds.
    pub cycle_s: f64,
    /// Sorties to cover the window.
    pub sorties: u32,
    /// Airframes needed.
    pub airframes: u32,
}

/// One sortie of a station's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sortie {
    /// Which of the station's airframes flies it (0-based).
    pub airframe: u32,
    /// Take-off, Unix seconds.
    pub takeoff_s: i64,
    /// Arrival on station, Unix seconds.
    pub on_station_s: i64,
    /// Departure from station, Unix seconds.
    pub leave_s: i64,
    /// Landing, Unix seconds.
    pub land_s: i64,
}

/// One-way transit time to a station, seconds: horizontal distance at
/// cruise speed plus the climb at the climb rate.
pub fn transit_s(d: &DroneAssets, distance_m: f64, altitude_m: f64) -> f64 {
    distance_m / d.cruise_m_s + altitude_m / d.climb_m_s
}

/// The rotation of a station reached in `transit_s` seconds and watched
/// over `window_s` seconds; `None` when no time is left on station.
pub fn rotation(d: &DroneAssets, transit_s: f64, window_s: f64) -> Option<Rotation> {
    let airborne = d.endurance_s - d.reserve_s;
    let on = airborne - 2.0 * transit_s;
    // Less than a minute on station is no station.
    if on.is_nan() || on < 60.0 {
        return None;
    }
    let cycle = airborne + d.swap_s;
    let sorties = (window_s / on).ceil().max(1.0) as u32;
    let steady = (cycle / on - 1e-9).ceil().max(1.0) as u32;
    Some(Rotation {
        transit_s,
        on_station_s: on,
        cycle_s: cycle,
        sorties,
        airframes: sorties.min(steady),
    })
}

/// The sorties that keep a station watched over `window`.
pub fn schedule(r: &Rotation, window: Window) -> Vec<Sortie> {
    let n = r.airframes.max(1);
    (0..r.sorties)
        .map(|k| {
            let arrive = window.start_s as f64 + f64::from(k) * r.on_station_s;
            let leave = (arrive + r.on_station_s).min(window.end_s as f64);
            Sortie {
                airframe: k % n,
                takeoff_s: (arrive - r.transit_s).floor() as i64,
                on_station_s: arrive.floor() as i64,
                leave_s: leave.ceil() as i64,
                land_s: (leave + r.transit_s).ceil() as i64,
            }
        })
        .collect()
}

/// Teams needed to hold a post over `window_s` seconds.
pub fn teams(shift_s: f64, window_s: f64) -> u32 {
    (window_s / shift_s - 1e-9).ceil().max(1.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drone(endurance_min: f64, reserve_min: f64, swap_min: f64) -> DroneAssets {
        DroneAssets {
            count: 10,
            endurance_s: endurance_min * 60.0,
            reserve_s: reserve_min * 60.0,
            swap_s: swap_min * 60.0,
            launch_sites: vec![[0.0, 0.0]],
            ..DroneAssets::default()
        }
    }

    #[test]
    fn worked_example() {
        // 40 min endurance, 5 min reserve, 5 min swap, 2.5 min transit:
        // 30 min on station, a 40 min cycle: 2 airframes.
        let r = rotation(&drone(40.0, 5.0, 5.0), 150.0, 4.0 * 3600.0).unwrap();
        assert_eq!(r.on_station_s, 1800.0);
        assert_eq!(r.airframes, 2);
        assert_eq!(r.sorties, 8);
        // 10 min transit: 15 min on station, 40 min cycle: 3 airframes.
        let r = rotation(&drone(40.0, 5.0, 5.0), 600.0, 4.0 * 3600.0).unwrap();
        assert_eq!(r.airframes, 3);
        // Too far: nothing left on station.
        assert!(rotation(&drone(40.0, 5.0, 5.0), 1100.0, 3600.0).is_none());
        // A short window needs no more airframes than sorties.
        let r = rotation(&drone(40.0, 5.0, 5.0), 600.0, 600.0).unwrap();
        assert_eq!((r.sorties, r.airframes), (1, 1));
        assert_eq!(teams(4.0 * 3600.0, 4.0 * 3600.0), 1);
        assert_eq!(teams(4.0 * 3600.0, 4.0 * 3600.0 + 1.0), 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(8), ..ProptestConfig::default() })]

        /// The schedule watches the whole window, and no airframe takes off
        /// again before it has landed and had its battery swapped.
        #[test]
        fn schedule_is_continuous_and_flyable(
            endurance in 15.0f64..60.0,
            reserve in 0.0f64..5.0,
            swap in 0.0f64..20.0,
            transit in 0.0f64..600.0,
            window_min in 10i64..600,
        ) {
            let d = drone(endurance, reserve, swap);
            let window = Window { start_s: 1_000_000, end_s: 1_000_000 + window_min * 60 };
            let Some(r) = rotation(&d, transit, window.len_s() as f64) else {
                prop_assert!(d.endurance_s - d.reserve_s - 2.0 * transit < 60.0);
                return Ok(());
            };
            let s = schedule(&r, window);
            prop_assert!(s[0].on_station_s <= window.start_s);
            prop_assert!(s.last().unwrap().leave_s >= window.end_s);
            for w in s.windows(2) {
                prop_assert!(w[1].on_station_s <= w[0].leave_s, "no hole between sorties");
            }
            for (k, a) in s.iter().enumerate() {
                prop_assert!((a.land_s - a.takeoff_s) as f64 <= d.endurance_s - d.reserve_s + 2.0);
                if let Some(next) = s[k + 1..].iter().find(|b| b.airframe == a.airframe) {
                    prop_assert!(next.takeoff_s as f64 >= a.land_s as f64 + d.swap_s - 2.0,
                        "airframe {} flies again before its swap", a.airframe);
                }
            }
        }
    }
}

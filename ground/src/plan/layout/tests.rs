//! Layout tests: the figure agrees with the planner, edits are exact and
//! reversible, constraints refuse bad moves, and a saved plan reloads to
//! the same figure.

use std::sync::Arc;

use super::*;
use crate::plan::event::{NoFly, Shape};
use crate::plan::tests::random_event;
use crate::plan::{Options, plan};

fn quick() -> Options {
    Options {
        cell_m: Some(15.0),
        station_spacing_m: 90.0,
        altitudes_m: vec![50.0, 120.0],
        ..Options::default()
    }
}

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<Pt> {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
}

/// One 200 m square zone, no fixed camera, a no-fly zone to its east,
/// drones and patrols enough.
fn square_event() -> Arc<Event> {
    let mut e = random_event(5);
    e.zones.truncate(1);
    e.zones[0].shape = Shape::Polygon(square(0.0, 0.0, 200.0, 200.0));
    e.zones[0].window = e.flight_window;
    e.authorisation = vec![square(-500.0, -500.0, 700.0, 700.0)];
    e.no_fly = vec![NoFly {
        name: "stadium roof".into(),
        ring: square(400.0, 0.0, 600.0, 200.0),
    }];
    e.masks.clear();
    e.cameras.clear();
    e.drones.count = 8;
    e.drones.endurance_s = 40.0 * 60.0;
    e.drones.ceiling_m = 120.0;
    e.drones.launch_sites = vec![[100.0, -100.0]];
    e.patrols.count = 6;
    Arc::new(e)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn the_figure_is_what_the_planner_reports_for_its_own_plan() {
    let mut checked = 0;
    for seed in [3, 17, 42, 99, 123, 555] {
        let event = Arc::new(random_event(seed));
        let p = plan(&event, &quick()).unwrap();
        let l = Layout::from_plan(event.clone(), quick(), &p);
        let f = l.figure();
        assert!(
            close(f.before, p.totals.before),
            "seed {seed}: before {} vs {}",
            f.before,
            p.totals.before
        );
        assert!(
            close(f.after, p.totals.after),
            "seed {seed}: after {} vs {}",
            f.after,
            p.totals.after
        );
        assert_eq!(f.airframes_used, p.totals.airframes_used);
        assert_eq!(f.teams_used, p.totals.teams_used);
        for (z, s) in f.zones.iter().zip(&p.zones) {
            assert!(
                close(z.after, s.after) && close(z.before, s.before),
                "seed {seed} zone {}",
                z.name
            );
        }
        // Through the report's own path too.
        let again = l.to_plan();
        assert!(close(again.totals.after, p.totals.after));
        assert_eq!(again.cover, p.cover, "seed {seed}");
        checked += usize::from(!p.stations.is_empty() || !p.posts.is_empty());
    }
    assert!(checked >= 3, "only {checked} plans had assets");
}

#[test]
fn moving_a_station_off_the_zone_lowers_coverage_and_undo_restores_it() {
    let event = square_event();
    let mut l = Layout::new(event, quick()).unwrap();
    let empty = l.figure();
    assert_eq!(empty.after, 0.0);
    let id = l.add_at(Kind::Station, [100.0, 100.0]).unwrap();
    let on = l.figure();
    assert!(on.after > 0.3, "{}", on.after);
    assert_eq!(on.zones[0].after, on.after, "one zone, one weight");
    l.move_to(&id, [-400.0, 600.0]).unwrap();
    let off = l.figure();
    assert!(off.after < on.after, "{} !< {}", off.after, on.after);
    assert!(l.undo());
    assert_eq!(l.figure(), on, "undo gives back the exact figure");
    assert!(l.undo());
    assert_eq!(l.figure(), empty);
    assert!(!l.undo(), "nothing left to undo");
}

#[test]
fn moves_that_break_a_constraint_are_refused_and_change_nothing() {
    let event = square_event();
    let mut l = Layout::new(event.clone(), quick()).unwrap();
    let id = l.add_at(Kind::Station, [100.0, 100.0]).unwrap();
    let before = (l.figure(), l.items().to_vec());
    let no_fly = l.move_to(&id, [500.0, 100.0]).unwrap_err();
    assert!(
        no_fly.to_string().contains("no-fly zone \"stadium roof\""),
        "{no_fly}"
    );
    let outside = l.move_to(&id, [900.0, 100.0]).unwrap_err();
    assert!(
        outside
            .to_string()
            .contains("outside the flight authorisation"),
        "{outside}"
    );
    let high = l.raise(&id, 30.0).unwrap_err();
    assert!(high.to_string().contains("ceiling"), "{high}");
    assert!(l.add_at(Kind::Station, [500.0, 150.0]).is_err());
    assert_eq!((l.figure(), l.items().to_vec()), before);
    // Lower is fine, and changes the footprint.
    l.raise(&id, -60.0).unwrap();
    assert!(l.figure().after < before.0.after);
    // The budget holds: stations until the airframes run out, then refusals.
    let mut refused = None;
    for k in 0..20 {
        if let Err(e) = l.add_at(Kind::Station, [10.0 * k as f64, 50.0]) {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("the budget must run out");
    assert!(refused.to_string().contains("airframes"), "{refused}");
    assert!(l.figure().airframes_used <= event.drones.count);
}

#[test]
fn the_same_items_give_the_same_figure_whatever_the_order_of_edits() {
    let event = square_event();
    let mut a = Layout::new(event.clone(), quick()).unwrap();
    let mut b = Layout::new(event, quick()).unwrap();
    let s = a.add_at(Kind::Station, [50.0, 50.0]).unwrap();
    let p = a.add_at(Kind::Post, [150.0, 150.0]).unwrap();
    let c = a.add_at(Kind::Camera, [100.0, 20.0]).unwrap();
    a.move_to(&s, [60.0, 140.0]).unwrap();
    a.move_to(&p, [180.0, 30.0]).unwrap();
    // b: the final positions directly, in another order.
    b.add_at(Kind::Camera, [100.0, 20.0]).unwrap();
    b.add_at(Kind::Post, [180.0, 30.0]).unwrap();
    b.add_at(Kind::Station, [60.0, 140.0]).unwrap();
    assert_eq!(a.figure(), b.figure());
    // A removal then undo is a no-op too.
    let f = a.figure();
    a.remove(&c).unwrap();
    assert!(
        a.figure().after < f.after,
        "the camera saw something of its own"
    );
    a.undo();
    assert_eq!(a.figure(), f);
}

#[test]
fn a_saved_plan_reloads_to_the_same_figure() {
    for seed in [3, 17, 42] {
        let event = Arc::new(random_event(seed));
        let p = plan(&event, &quick()).unwrap();
        let mut l = Layout::from_plan(event.clone(), quick(), &p);
        // Hand edits on top: a camera, and a moved asset.
        l.add_at(Kind::Camera, [0.0, 0.0]).unwrap();
        if let Some(id) = l.items().first().map(|i| i.id.clone()) {
            let at = l.item(&id).unwrap().asset.pos();
            let _ = l.move_to(&id, [at[0] + 7.3, at[1] - 3.1]);
        }
        let text = serde_json::to_string_pretty(&l.geojson()).unwrap();
        let mut back = Layout::new(event.clone(), quick()).unwrap();
        let warnings = back
            .load_geojson(&serde_json::from_str(&text).unwrap())
            .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back.items().len(), l.items().len());
        assert_eq!(back.figure(), l.figure(), "seed {seed}");
        // And the CLI's own file reloads to the planner's figure.
        let cli = serde_json::to_string(&report::geojson(&event, &p)).unwrap();
        let mut from_cli = Layout::new(event, quick()).unwrap();
        from_cli
            .load_geojson(&serde_json::from_str(&cli).unwrap())
            .unwrap();
        assert!(
            close(from_cli.figure().after, p.totals.after),
            "seed {seed}"
        );
    }
}

#[test]
fn incremental_counts_agree_with_a_recount_after_random_edits() {
    let event = square_event();
    let mut l = Layout::new(event.clone(), quick()).unwrap();
    let mut rng = crate::coverage::synth::Rng(7);
    for _ in 0..300 {
        let p = [rng.f(-100.0, 300.0), rng.f(-100.0, 300.0)];
        let ids: Vec<String> = l.items().iter().map(|i| i.id.clone()).collect();
        match rng.next_u64() % 6 {
            0 => drop(l.add_at(Kind::Station, p)),
            1 => drop(l.add_at(Kind::Post, p)),
            2 => drop(l.add_at(Kind::Camera, p)),
            3 | 4 if !ids.is_empty() => {
                let id = &ids[rng.next_u64() as usize % ids.len()];
                drop(l.move_to(id, p));
            }
            _ if !ids.is_empty() => {
                if rng.next_u64().is_multiple_of(2) {
                    l.undo();
                } else {
                    l.remove(&ids[0]).unwrap();
                }
            }
            _ => {}
        }
        let mut fresh = l.clone();
        fresh.set_items(l.items().to_vec());
        assert_eq!(fresh.figure(), l.figure());
        assert!(l.figure().airframes_used <= event.drones.count);
        assert!(l.figure().teams_used <= event.patrols.count);
    }
}

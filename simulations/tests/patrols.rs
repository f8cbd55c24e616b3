//! Simulated patrols against a real server over loopback QUIC: they connect
//! with their own certificates, report positions, take an order and accept it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use vigie_ground::config::Config;
use vigie_ground::patrol::orders::{NewOrder, OrderState};
use vigie_ground::server::Server;

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_patrols_connect_report_and_accept_orders() {
    let dir = std::env::temp_dir().join(format!("vigie-sim-patrols-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config::loopback(dir.clone());
    let server = Server::start(config).await.unwrap();
    let state = server.state().clone();
    let patrols =
        vigie_sim::patrol::spawn_demo_patrols(&state, 3, server.shutdown_signal()).unwrap();
    let stats = patrols.stats.clone();

    until("3 tablets connected", || {
        stats.connected.load(Ordering::Relaxed) == 3
    })
    .await;
    until("positions in the picture", || {
        state.fleet.read(|f| {
            ["P01", "P02", "P03"]
                .iter()
                .all(|id| f.get(id).is_some_and(|u| u.position.is_some()))
        })
    })
    .await;

    let site = vigie_ground::config::SiteConfig::default();
    let order = NewOrder {
        incident_id: None,
        lat_deg: site.origin_lat_deg,
        lon_deg: site.origin_lon_deg,
        priority: "normal".into(),
        instructions: "to the origin".into(),
    };
    state.patrol.issue_order("P02", &order).await.unwrap();
    until("the order accepted", || {
        state
            .patrol
            .orders()
            .list("P02")
            .unwrap()
            .first()
            .is_some_and(|o| o.state == OrderState::Accepted)
    })
    .await;
    assert_eq!(stats.orders.load(Ordering::Relaxed), 1);
    until("P02 en route", || {
        state.fleet.read(|f| {
            f.get("P02")
                .is_some_and(|u| u.status == vigie_protocols::api::UnitStatus::EnRoute)
        })
    })
    .await;
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

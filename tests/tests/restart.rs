//! The controller is killed and restarted: the inventory is intact and sensors reconnect on
//! their own, with nothing lost or counted twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_kill9_restart_keeps_inventory_and_sensor_reconnects() {
    let mut stack = Stack::start().await;
    let log = stack.path("access.json");
    let _sensor = stack.file_sensor("edge", &log);
    let batch = |start: usize, n: usize| -> Vec<String> {
        (start..start + n)
            .map(|i| {
                json_line(
                    1_795_219_200.0 + i as f64,
                    "api.example",
                    "GET",
                    &format!("/orders/{i}"),
                    200,
                    "81.2.69.9",
                )
            })
            .collect()
    };
    append(&log, &batch(0, 40));
    stack.wait_exact("edge", 40, 40).await;
    let before = all_endpoints(&stack.url(), &stack.reader_token).await;

    let addr = stack.controller.addr.clone();
    let dir = stack.controller.data_dir.clone();
    stack.controller.proc.kill9();
    // Traffic keeps arriving while the controller is down.
    append(&log, &batch(40, 35));
    stack.controller = ControllerProc::start(&dir, &addr);
    assert_eq!(
        stack.controller.admin_token(),
        stack.admin_token,
        "bootstrap happens once"
    );

    let after = all_endpoints(&stack.url(), &stack.reader_token).await;
    assert!(
        total_calls(&after) >= total_calls(&before),
        "inventory lost data across restart"
    );
    assert_eq!(after[0].first_seen_ms, before[0].first_seen_ms);
    // The sensor reconnects by itself and delivers what it read meanwhile, exactly once.
    stack.wait_exact("edge", 75, 75).await;
    let s = stack.sensor("edge").await.unwrap();
    assert!(s.connected);
}

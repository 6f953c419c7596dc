//! Replay and restore determinism over a long mixed stream.

use super::{MIN, Run, Step, T0, alert, play, play_batched, pool, run};
use crate::incident::*;
use crate::model::{Actor, AlertFacts, AlertType};

/// A long mixed stream: repeat actors, principals bridging addresses, distributed alerts,
/// updates and ticks.
pub fn stream(n: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut raised: Vec<AlertFacts> = Vec::new();
    for i in 0..n {
        let at = i as i64 / 3;
        let r = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        let kind = AlertType::ALL[(r % 16) as usize];
        let ip = format!("10.0.{}.{}", (r >> 8) % 4, (r >> 12) % 40);
        let principal = if r.is_multiple_of(5) {
            format!("p{}", (r >> 20) % 7)
        } else {
            String::new()
        };
        let mut a = alert(
            &format!("al{i}"),
            kind,
            &ip,
            &principal,
            &format!("s{}", r % 3),
            at,
        );
        if r.is_multiple_of(11) {
            a.actor = Actor::default();
            a.actors = pool((r % 50) as u8, 5);
        }
        if r.is_multiple_of(4)
            && let Some(prev) = raised.get((r as usize >> 4) % raised.len().max(1))
            && at * MIN + T0 - prev.last_seen_ms < 30 * MIN
        {
            let mut u = prev.clone();
            u.last_seen_ms = T0 + at * MIN;
            steps.push(Step::Update(u));
        } else {
            raised.push(a.clone());
            steps.push(Step::Raise(a));
        }
        if i % 50 == 49 {
            steps.push(Step::Tick(T0 + at * MIN));
        }
    }
    steps
}

#[test]
fn replay_and_restore_are_deterministic() {
    let steps = stream(3_000);
    let (c1, r1) = run(&steps);
    let (_, r2) = run(&steps);
    assert_eq!(r1, r2);
    assert!(
        c1.stats().merged > 0 && c1.stats().closed_quiet > 0,
        "{:?}",
        c1.stats()
    );
    for cut in [1, 777, 1_500, 2_999] {
        let (head, tail) = steps.split_at(cut);
        let (c, mut r) = run(head);
        let json = c.to_json();
        let mut restored =
            Correlator::from_json(IncidentConfig::default(), &json).expect("restore");
        assert_eq!(restored.state(), c.state());
        play(&mut restored, tail, &mut r);
        assert_eq!(r, r1, "cut at {cut}");
        assert_eq!(restored.state(), c1.state());
    }
}

#[test]
fn batches_end_like_single_changes() {
    let steps = stream(3_000);
    let (one, single) = run(&steps);
    for batch in [2, 17, 500] {
        let mut c = Correlator::new(IncidentConfig::default()).expect("config");
        let mut r = Run::default();
        play_batched(&mut c, &steps, batch, &mut r);
        assert_eq!(r.incidents, single.incidents, "batch {batch}");
        assert_eq!(r.closed, single.closed, "batch {batch}");
        assert_eq!(c.state(), one.state(), "batch {batch}");
        assert!(r.changes.len() < single.changes.len(), "batch {batch}");
    }
}

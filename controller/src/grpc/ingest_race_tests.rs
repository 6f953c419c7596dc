//! The revoke/commit race: a batch that passed its stream's token check just before the
//! token was revoked must not commit (the commit re-checks the token under the fence a
//! revocation takes, `TokenLife::commit_fence`).

use super::apply_batch;
use crate::auth::{mint, verify};
use crate::config::Limits;
use crate::metering::{ManualClock, MeterPolicy};
use crate::state::State;
use crate::store::Db;
use crate::store::memory::MemoryStore;
use picket_proto::v1 as pb;
use picket_shared::{Role, SensorId, TenantId};
use std::sync::Arc;

fn batch(seq: u64) -> pb::Batch {
    pb::Batch {
        sensor_id: "s1".into(),
        stream_epoch: 1,
        seq,
        endpoints: vec![pb::EndpointSummary {
            host: "api.example".into(),
            method: "GET".into(),
            template: "/x".into(),
            requests: 4,
            first_seen_ms: 1,
            last_seen_ms: 2,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_batch_checked_before_a_revocation_does_not_commit_after_it() {
    let db = Db::new(Arc::new(MemoryStore::new()));
    let clock = Arc::new(ManualClock::new(1_000));
    let state = Arc::new(State::new(
        db.clone(),
        Limits::default(),
        MeterPolicy::default(),
        clock,
    ));
    let tenant = TenantId::default_tenant();
    let m = mint(tenant.clone(), Role::Sensor, String::new(), false, 0, 0).unwrap();
    db.put_token(&m.record).unwrap();
    let ctx = verify(&db, Some(&format!("Bearer {}", m.bearer)), 1_000).unwrap();
    let sensor = SensorId::new("s1").unwrap();
    apply_batch(&state, &ctx, &sensor, 1, batch(1))
        .await
        .unwrap();
    assert_eq!(db.committed_seq(&tenant, &sensor, 1).unwrap(), 1);

    // The revocation lands after the stream's `TokenGuard::check` passed for batch 2 (no
    // broadcast has reached the stream yet): the commit itself must refuse it.
    let mut revoked = m.record.clone();
    revoked.revoked_ms = 1_000;
    {
        let _fence = state.tokens.change_fence();
        db.put_token(&revoked).unwrap();
    }
    let Err(err) = apply_batch(&state, &ctx, &sensor, 1, batch(2)).await else {
        panic!("a revoked token's batch committed");
    };
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    assert_eq!(
        db.committed_seq(&tenant, &sensor, 1).unwrap(),
        1,
        "nothing committed"
    );
}

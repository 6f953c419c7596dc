//! A sensor's batch as the controller receives it: protobuf decoding, conversion with field
//! validation, then the ingest transaction on an in-memory store. Applying the same batch again
//! must change nothing (exactly-once metering).
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_controller::grpc::convert;
use picket_controller::metering::policy::MeterPolicy;
use picket_controller::store::{Applied, Db, memory::MemoryStore};
use picket_proto::v1 as pb;
use picket_shared::{SensorId, TenantId};
use prost::Message;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Ok(wire) = pb::Batch::decode(data) else {
        return;
    };
    let (batch, drops) = convert::batch(wire);
    let db = Db::new(Arc::new(MemoryStore::new()));
    let tenant = TenantId::new("fuzz").expect("a tenant id");
    let sensor = SensorId::new("sensor-1").expect("a sensor id");
    let policy = MeterPolicy::default();
    let first = db
        .apply_batch_counting(
            &tenant,
            &sensor,
            &batch,
            picket_fuzz::NOW_MS,
            &policy,
            drops.total(),
        )
        .expect("the memory store does not fail");
    let again = db
        .apply_batch_counting(&tenant, &sensor, &batch, picket_fuzz::NOW_MS, &policy, 0)
        .expect("the memory store does not fail");
    if matches!(first, Applied::Committed { .. }) {
        assert!(
            matches!(again, Applied::Duplicate),
            "a committed batch applied twice: {again:?}"
        );
    }
});

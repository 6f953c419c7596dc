//! Envoy ALS stream messages (the gRPC frame's protobuf payload), decoded with the sensor's wire
//! types and turned into records as the ALS listener does.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use picket_sensor::sources::als::convert;
use picket_sensor::sources::als::wire::{LogEntries, StreamAccessLogsMessage};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    // Decoding from `Bytes` keeps strings as slices of the frame, as the listener's codec does.
    let Ok(msg) = StreamAccessLogsMessage::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    if let Some(LogEntries::HttpLogs(http)) = &msg.log_entries {
        for entry in &http.log_entry {
            let _ = convert(entry, picket_fuzz::DEFAULT_HOST, picket_fuzz::ident());
        }
    }
});

//! HAR documents, as `picket-sensor replay` reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_sensor::sources::replay::decode_har;

fuzz_target!(|data: &[u8]| {
    let _ = decode_har(data, picket_fuzz::DEFAULT_HOST, picket_fuzz::ident());
});

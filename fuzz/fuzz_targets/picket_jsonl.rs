//! Picket JSON lines (one recorded exchange per line), as `picket-sensor replay` reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_sensor::sources::replay::decode_jsonl;

fuzz_target!(|data: &[u8]| {
    let _ = decode_jsonl(
        data,
        picket_fuzz::DEFAULT_HOST,
        picket_fuzz::NOW_MS,
        picket_fuzz::ident(),
    );
});

//! The injection classifier's decoders and scanners on untrusted values: the first byte picks
//! where the value sits (query value, request target, header, or a body of some media type).
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_shared::inject::{self, Verdict, decode};

const BODY_TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/xml"),
    Some("multipart/form-data; boundary=x"),
    Some("text/plain"),
];

fuzz_target!(|data: &[u8]| {
    let (selector, rest) = picket_fuzz::split_selector(data);
    let text = String::from_utf8_lossy(rest);
    let mut v = Verdict::default();
    match selector % 4 {
        0 => {
            let _ = decode::canonical(&text, selector & 0x10 != 0);
            let _ = inject::scan_value(&text);
        }
        1 => inject::scan_target(&text, &mut v),
        2 => {
            let (name, value) = text.split_once(':').unwrap_or(("x-custom", &text));
            inject::scan_header(name, value, &mut v);
            inject::scan_headers(&[(name, value), ("user-agent", value)], &mut v);
        }
        _ => {
            let ct = BODY_TYPES[usize::from(selector >> 2) % BODY_TYPES.len()];
            inject::scan_body(ct, rest, &mut v);
            let _ = picket_shared::params::body(ct, rest);
            let _ = picket_shared::sensitive::classes_in_body(ct, rest);
        }
    }
});

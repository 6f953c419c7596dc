//! nginx `escape=json` access-log lines, as the tailer hands them to the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_sensor::sources::nginx::{LogFormat, parse_line};

fuzz_target!(|data: &[u8]| {
    let _ = parse_line(LogFormat::Json, data, &picket_fuzz::line_context());
});

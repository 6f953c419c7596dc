//! OpenAPI and Swagger documents (JSON or YAML, picked by the first byte), imported with the
//! default limits; what imports is compiled into a matcher and looked up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_openapi::{ImportOptions, Matcher, import_bytes};

fuzz_target!(|data: &[u8]| {
    let (selector, rest) = picket_fuzz::split_selector(data);
    let name = if selector & 1 == 0 {
        "spec.yaml"
    } else {
        "spec.json"
    };
    let opts = ImportOptions {
        default_host: Some(picket_fuzz::DEFAULT_HOST.into()),
        ..ImportOptions::default()
    };
    if let Ok(spec) = import_bytes(name, rest, &opts) {
        let matcher = Matcher::new(&[("fuzz", &spec)]);
        for path in ["/", "/users/1", "/a/b/c"] {
            let _ = matcher.lookup(picket_fuzz::DEFAULT_HOST, "GET", path);
        }
    }
});

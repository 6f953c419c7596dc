//! The JSON-line scanner, checked against `serde_json`: it must accept exactly the lines
//! `serde_json` parses as one object, and hand over the same string, boolean and null values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_sensor::sources::json_line::{Value, for_each_member};
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let mut members = Vec::new();
    let scanned = for_each_member(data, |k, v| {
        members.push((k.into_owned(), v));
        Ok(())
    });
    let reference = serde_json::from_slice::<serde_json::Value>(data);
    let reference_object = match &reference {
        Ok(serde_json::Value::Object(m)) => Some(m),
        _ => None,
    };
    assert_eq!(
        scanned.is_ok(),
        reference_object.is_some(),
        "scanner and serde_json disagree on {:?}: scanner {scanned:?}, serde_json {reference:?}",
        String::from_utf8_lossy(data)
    );
    let Some(object) = reference_object else {
        return;
    };
    // Of repeated keys the last wins, as in serde_json's map.
    let last: HashMap<&str, &Value<'_>> = members.iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(last.len(), object.len());
    for (key, value) in last {
        let expected = object.get(key).expect("the same keys");
        match (value, expected) {
            (Value::Scalar(s), serde_json::Value::String(e)) => assert_eq!(s, e),
            (Value::Scalar(s), serde_json::Value::Bool(b)) => assert_eq!(s, &b.to_string()),
            (Value::Scalar(_), serde_json::Value::Number(_)) => {}
            (Value::Null, serde_json::Value::Null) => {}
            (Value::Nested, serde_json::Value::Object(_) | serde_json::Value::Array(_)) => {}
            (got, want) => panic!("member {key:?}: scanner {got:?}, serde_json {want:?}"),
        }
    }
});

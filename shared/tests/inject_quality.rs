//! Detection quality on the bundled corpora: per-class recall on the attack payload lists and
//! the share of benign values flagged. Prints the table the README quotes and fails when a
//! class falls under 97 % recall on its own payloads (or under its floor on the whole list) or a
//! benign corpus goes over 0.5 % flagged.
//!
//!
//! The families added from PayloadsAllTheThings' pages (`payloads/payloadsallthethings/<family>/
//! {dev,holdout}.jsonl`, extracted by `extract.py` there) are scored on their development part
//! (≥ 90 % for each new class) and reported on their held-out part, which is never tuned on.
//! `benign/realistic.jsonl` (built by `benign/gen_realistic.py`) is held to ≤ 0.1 % flagged.
//!
//!   cargo test -p picket-shared --test inject_quality -- --nocapture
//!   PICKET_SHOW_MISSES=sqli cargo test -p picket-shared --test inject_quality -- --nocapture
#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_shared::inject::{
    Class, RequestParts, Verdict, scan_body, scan_header, scan_headers, scan_request, scan_value,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Word lists that are building blocks of payloads rather than payloads (`onload`, `cn`): a
/// bare attribute or handler name is benign as a value, so these are not scored.
const DICTIONARIES: &[&str] = &[
    "0xcela_event_handlers.txt",
    "port_swigger_xss_cheatsheet_event_handlers.txt",
    "LDAP_attributes.txt",
];

/// List entries that are not an injection of the list's class on their own, by content (never
/// by what the detector says): the second recall column leaves them out, the first counts
/// them. Each group says why.
const NOT_OF_CLASS: &[(&str, &[&str])] = &[
    // Template expressions filed under command injection: template injection (`ssti`), which is
    // where the classifier reports them, or plain variable references (`{{person.name}}`).
    (
        "command_exec.txt",
        &[
            "{{ get_user_file(\"C:\\boot.ini\") }}",
            "{{ get_user_file(\"/etc/hosts\") }}",
            "{{ get_user_file(\"/etc/passwd\") }}",
            "{{4+4}}",
            "{{4+8}}",
            "{{person.secret}}",
            "{{person.name}}",
            "{1} + {1}",
            "{% For c in [1,2,3]%} {{c, c, c}} {% endfor%}",
            "{{[] .__ Class __.__ base __.__ subclasses __ ()}}",
            // A bare command name or a lone backtick is an ordinary value; libinjection's own
            // benign list holds the backtick.
            "dir",
            "ls",
            "pwd",
            "route",
            "`",
        ],
    ),
    // Lone wildcard and path characters are ordinary search and path input; XPath belongs
    // to another class (the classifier reports it as SQL-shaped).
    (
        "LDAP_FUZZ.txt",
        &[
            "*",
            "*/*",
            "/",
            "//",
            "//*",
            "admin*",
            "!",
            "%21",
            "x' or name()='username' or 'x'='y",
        ],
    ),
    (
        "LDAP_FUZZ_SMALL.txt",
        &[
            "*",
            "*/*",
            "/",
            "//",
            "//*",
            "admin*",
            "x' or name()='username' or 'x'='ys",
        ],
    ),
];

fn not_of_class(file: &str, line: &str) -> bool {
    NOT_OF_CLASS
        .iter()
        .any(|(f, lines)| *f == file && lines.contains(&line))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// Non-empty lines not starting with `#` (the corpora's convention), as lossy UTF-8.
fn lines(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

fn class_of(path: &Path) -> Option<Class> {
    let name = path.file_name()?.to_str()?;
    let dir = path.parent()?.file_name()?.to_str()?;
    if DICTIONARIES.contains(&name) || name == "false_positives.txt" {
        return None;
    }
    match dir {
        "libinjection" if name.starts_with("sqli-") => Some(Class::Sqli),
        "libinjection" if name.contains("xss") => Some(Class::Xss),
        "sql-injection" => Some(Class::Sqli),
        "nosql-injection" => Some(Class::Nosqli),
        "command-injection" => Some(Class::Cmdi),
        "directory-traversal" => Some(Class::Traversal),
        "xss-injection" => Some(Class::Xss),
        "server-side-template-injection" => Some(Class::Ssti),
        "ldap-injection" => Some(Class::Ldapi),
        _ => None,
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Recall floors on the whole lists: the 97 % target, except where a list holds entries that
/// are not injections of its class ([`NOT_OF_CLASS`]); those classes are held at today's level
/// here and at 97 % on their class payloads.
fn floor(class: Class) -> f64 {
    match class {
        Class::Cmdi => 0.965,
        Class::Ldapi => 0.65,
        _ => 0.97,
    }
}

#[derive(Default)]
struct Tally {
    total: usize,
    hit: usize,
    any: usize,
    /// Entries of the class itself (not in [`NOT_OF_CLASS`]), and how many were detected.
    own: usize,
    own_hit: usize,
}

#[test]
fn recall_and_false_positives() {
    let show = std::env::var("PICKET_SHOW_MISSES").unwrap_or_default();
    let mut all = Vec::new();
    files(&root().join("payloads"), &mut all);
    let mut by_class: BTreeMap<Class, Tally> = BTreeMap::new();
    let mut excluded = std::collections::BTreeSet::new();
    for path in &all {
        let Some(class) = class_of(path) else {
            continue;
        };
        let t = by_class.entry(class).or_default();
        let file = path.file_name().unwrap().to_string_lossy();
        for line in lines(path) {
            let v = scan_value(&line);
            let detected = v.classes().contains(&class);
            t.total += 1;
            t.any += usize::from(v.is_attack());
            t.hit += usize::from(detected);
            if not_of_class(&file, &line) {
                excluded.insert((file.to_string(), line.clone()));
            } else {
                t.own += 1;
                t.own_hit += usize::from(detected);
            }
            if detected {
            } else if show == class.as_str() || show == "all" {
                println!(
                    "MISS {} {} {:?} -> {:?}",
                    class.as_str(),
                    path.file_name().unwrap().to_string_lossy(),
                    line,
                    v.rules()
                );
            }
        }
    }
    // Every exclusion names a real list entry.
    let listed: usize = NOT_OF_CLASS.iter().map(|(_, l)| l.len()).sum();
    assert_eq!(
        excluded.len(),
        listed,
        "an entry of NOT_OF_CLASS is in no list"
    );
    let benign = [
        (
            "libinjection false_positives.txt",
            root().join("payloads/libinjection/false_positives.txt"),
        ),
        ("picket benign set", root().join("benign/benign.txt")),
    ];
    println!();
    println!(
        "| class | payloads | detected as the class | recall | flagged as any class | recall, class payloads only |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut failures = Vec::new();
    for (class, t) in &by_class {
        let recall = t.hit as f64 / t.total as f64;
        let own = t.own_hit as f64 / t.own as f64;
        println!(
            "| {} | {} | {} | {:.2} % | {:.2} % | {:.2} % ({}/{}) |",
            class.as_str(),
            t.total,
            t.hit,
            recall * 100.0,
            t.any as f64 * 100.0 / t.total as f64,
            own * 100.0,
            t.own_hit,
            t.own
        );
        if recall < floor(*class) {
            failures.push(format!("{} recall {:.2} %", class.as_str(), recall * 100.0));
        }
        if own < 0.97 {
            failures.push(format!(
                "{} recall on class payloads {:.2} %",
                class.as_str(),
                own * 100.0
            ));
        }
    }
    println!();
    println!("| benign corpus | values | flagged | rate |");
    println!("|---|---:|---:|---:|");
    for (name, path) in benign {
        let values = lines(&path);
        let mut flagged = 0;
        for v in &values {
            let verdict = scan_value(v);
            if verdict.is_attack() {
                flagged += 1;
                if show == "benign" || show == "all" {
                    println!("FP {:?} -> {:?}", v, verdict.rules());
                }
            }
        }
        let rate = flagged as f64 / values.len() as f64;
        println!(
            "| {name} | {} | {flagged} | {:.2} % |",
            values.len(),
            rate * 100.0
        );
        if rate > 0.005 {
            failures.push(format!("{name} flagged {:.2} %", rate * 100.0));
        }
    }
    assert!(failures.is_empty(), "quality targets missed: {failures:?}");
}

/// The new families: directory, the classes that count as detecting one of its payloads, and
/// the class whose ≥ 90 % target it carries (`None`: reported only).
/// - Java expression pages show template expressions of Java engines, which are found as
///   `java` where they reach Java and as `ssti` otherwise.
/// - The XXE pages also list XML-borne script (`<![CDATA[<]]>script…`), found as `xss`.
/// - File inclusion is mostly a list of local file paths (traversal), plus PHP wrappers and
///   remote inclusion: reported, not a class target.
const FAMILIES: &[(&str, &[Class], Option<Class>)] = &[
    (
        "java-expression-injection",
        &[Class::Java, Class::Ssti],
        Some(Class::Java),
    ),
    (
        "insecure-deserialization-java",
        &[Class::Java],
        Some(Class::Java),
    ),
    (
        "insecure-deserialization-php",
        &[Class::Php],
        Some(Class::Php),
    ),
    (
        "file-inclusion",
        &[Class::Php, Class::Ssrf, Class::Traversal],
        None,
    ),
    (
        "server-side-request-forgery",
        &[Class::Ssrf],
        Some(Class::Ssrf),
    ),
    ("xxe-injection", &[Class::Xxe, Class::Xss], Some(Class::Xxe)),
    ("crlf-injection", &[Class::Crlf], Some(Class::Crlf)),
    (
        "request-smuggling",
        &[Class::Protocol],
        Some(Class::Protocol),
    ),
    (
        "prototype-pollution",
        &[Class::Prototype],
        Some(Class::Prototype),
    ),
    (
        "server-side-include-injection",
        &[Class::Ssi],
        Some(Class::Ssi),
    ),
];

/// Development entries that are not a payload on their own, by content (listed by location):
/// tool invocations and their output, prose, responses, and code of the vulnerable
/// application. Held-out entries are never listed: nobody looked at them.
const DEV_NOT_PAYLOADS: &[&str] = &[
    // The vulnerable controller, a scanner's usage line and invocation, an LDAP server's log.
    "java-expression-injection/Log4Shell.md:22",
    "java-expression-injection/Log4Shell.md:52",
    "java-expression-injection/Log4Shell.md:53",
    "java-expression-injection/Log4Shell.md:91",
    "java-expression-injection/Log4Shell.md:93",
    "java-expression-injection/Log4Shell.md:95",
    "java-expression-injection/Log4Shell.md:96",
    "java-expression-injection/Log4Shell.md:97",
    "java-expression-injection/Log4Shell.md:98",
    // ysoserial invocations; a web.xml configuration excerpt.
    "insecure-deserialization/Java.md:96",
    "insecure-deserialization/Java.md:279",
    // A list of DTD paths, an iconv invocation, a parser's error response, a list of file
    // formats, a 7z listing and the zip commands around it, an exfiltration server's invocation.
    "xxe-injection/README.md:237",
    "xxe-injection/README.md:450",
    "xxe-injection/README.md:466",
    "xxe-injection/README.md:554",
    "xxe-injection/README.md:568",
    "xxe-injection/README.md:569",
    "xxe-injection/README.md:570",
    "xxe-injection/README.md:571",
    "xxe-injection/README.md:574",
    "xxe-injection/README.md:575",
    "xxe-injection/README.md:576",
    "xxe-injection/README.md:577",
    "xxe-injection/README.md:578",
    "xxe-injection/README.md:580",
    "xxe-injection/README.md:582",
    "xxe-injection/README.md:590",
    "xxe-injection/README.md:591",
    "xxe-injection/README.md:627",
    // The vulnerable application's code, prose about nip.io, nslookup output, PHP's URL
    // validation demo, calls of Google's public APIs with a stolen token and their response,
    // a caption, a docker invocation.
    "server-side-request-forgery/README.md:60",
    "server-side-request-forgery/README.md:137",
    "server-side-request-forgery/README.md:251",
    "server-side-request-forgery/README.md:252",
    "server-side-request-forgery/README.md:253",
    "server-side-request-forgery/README.md:289",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:195",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:198",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:199",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:200",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:202",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:209",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:210",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:211",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:212",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:311",
    "server-side-request-forgery/SSRF-Cloud-Instances.md:312",
    // A bare header name and an HTTP/2 pseudo-header shown as context, not sent as such.
    "request-smuggling/README.md:107",
    "request-smuggling/README.md:117",
    // JavaScript source that makes a browser send a request (`fetch(…)`): the request's bytes
    // are not in the entry (its `\r\n` are source-code escapes), so there is nothing to judge.
    "request-smuggling/README.md:140",
    "request-smuggling/README.md:152",
    // JavaScript explaining prototypes (what pollution does, not what is sent).
    "prototype-pollution/README.md:36",
    "prototype-pollution/README.md:60",
];

#[derive(serde::Deserialize)]
struct Entry {
    kind: String,
    text: String,
    #[serde(default)]
    content_type: Option<String>,
    src: String,
}

fn entries(path: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A raw request (`METHOD target HTTP/1.1`, headers, blank line, body) judged whole; text that
/// is not one is judged as a value.
fn judge_request(raw: &str) -> Verdict {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    let parts: Vec<&str> = first.split(' ').collect();
    if parts.len() != 3 || !parts[2].starts_with("HTTP/") {
        return scan_value(raw);
    }
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k, v.strip_prefix(' ').unwrap_or(v)))
        .collect();
    let content_type = headers
        .iter()
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| *v);
    scan_request(&RequestParts {
        target: parts[1],
        headers: &headers,
        content_type,
        body: body.as_bytes(),
    })
}

fn judge(e: &Entry, family: &str) -> Verdict {
    match e.kind.as_str() {
        "request" => judge_request(&e.text),
        "body" => {
            let mut v = Verdict::default();
            scan_body(e.content_type.as_deref(), e.text.as_bytes(), &mut v);
            v
        }
        _ => {
            // The pages write bytes that do not print as placeholders (`[space]Transfer-Encoding`,
            // `X: X[\n]Transfer-Encoding`): judge the bytes they stand for.
            let text = e
                .text
                .replace("[space]", " ")
                .replace("[\\n]", "\n")
                .replace("[\\r]", "\r")
                .replace("[\\t]", "\t")
                .replace("[tab]", "\t");
            let mut v = scan_value(&text);
            // Request-smuggling pages list header lines to send (`Transfer-Encoding: xchunked`):
            // they are judged as a header set holding that line next to a Content-Length.
            if family == "request-smuggling"
                && let Some((name, value)) = text.split_once(':')
                && !name.is_empty()
            {
                let headers = [
                    ("Content-Length", "4"),
                    (name, value.trim_start_matches(' ')),
                ];
                scan_headers(&headers, &mut v);
            }
            v
        }
    }
}

#[test]
fn new_families_recall() {
    let show = std::env::var("PICKET_SHOW_MISSES").unwrap_or_default();
    let root = root().join("payloads/payloadsallthethings");
    let mut by_class: BTreeMap<Class, [(usize, usize); 2]> = BTreeMap::new();
    println!();
    println!("| family | class | dev | dev recall | held-out | held-out recall |");
    println!("|---|---|---:|---:|---:|---:|");
    for (family, accepted, class) in FAMILIES {
        let mut row = [(0usize, 0usize); 2];
        for (part, name) in ["dev", "holdout"].iter().enumerate() {
            for e in entries(&root.join(family).join(format!("{name}.jsonl"))) {
                if part == 0 && DEV_NOT_PAYLOADS.contains(&e.src.as_str()) {
                    continue;
                }
                let v = judge(&e, family);
                let hit = v.classes().iter().any(|c| accepted.contains(c));
                row[part].0 += 1;
                row[part].1 += usize::from(hit);
                // Only development misses are ever shown.
                let name = class.map_or("none", Class::as_str);
                if !hit && part == 0 && (show == name || show == *family || show == "all") {
                    println!("MISS {family} {} {:?} -> {:?}", e.src, e.text, v.rules());
                }
            }
        }
        let pct = |(n, h): (usize, usize)| h as f64 * 100.0 / n.max(1) as f64;
        println!(
            "| {family} | {} | {} | {:.1} % ({}) | {} | {:.1} % ({}) |",
            class.map_or("(reported)", Class::as_str),
            row[0].0,
            pct(row[0]),
            row[0].1,
            row[1].0,
            pct(row[1]),
            row[1].1
        );
        let Some(class) = class else {
            continue;
        };
        let t = by_class.entry(*class).or_default();
        for p in 0..2 {
            t[p].0 += row[p].0;
            t[p].1 += row[p].1;
        }
    }
    println!();
    println!("| class | dev recall | held-out recall |");
    println!("|---|---:|---:|");
    let mut failures = Vec::new();
    for (class, [dev, held]) in &by_class {
        let pct = |(n, h): (usize, usize)| h as f64 * 100.0 / n.max(1) as f64;
        println!(
            "| {} | {:.1} % ({}/{}) | {:.1} % ({}/{}) |",
            class.as_str(),
            pct(*dev),
            dev.1,
            dev.0,
            pct(*held),
            held.1,
            held.0
        );
        if pct(*dev) < 90.0 {
            failures.push(format!("{} dev recall {:.1} %", class.as_str(), pct(*dev)));
        }
    }
    assert!(failures.is_empty(), "quality targets missed: {failures:?}");
}

#[derive(serde::Deserialize)]
struct BenignItem {
    /// `value` (a query value), `header` (with `name`) or `body` (with `content_type`).
    kind: String,
    text: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    content_type: Option<String>,
}

#[test]
fn realistic_benign_set() {
    let show = std::env::var("PICKET_SHOW_MISSES").unwrap_or_default();
    let text = std::fs::read_to_string(root().join("benign/realistic.jsonl")).unwrap();
    let items: Vec<BenignItem> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for item in &items {
        let v = match item.kind.as_str() {
            "header" => {
                let mut v = Verdict::default();
                scan_header(&item.name, &item.text, &mut v);
                v
            }
            "body" => {
                let mut v = Verdict::default();
                scan_body(item.content_type.as_deref(), item.text.as_bytes(), &mut v);
                v
            }
            _ => scan_value(&item.text),
        };
        let key = if item.kind == "header" {
            format!("header {}", item.name.to_ascii_lowercase())
        } else {
            item.kind.clone()
        };
        let t = by_kind.entry(key).or_default();
        t.0 += 1;
        if v.is_attack() {
            t.1 += 1;
            if show == "benign" || show == "all" {
                println!("FP {} {:?} -> {:?}", item.kind, item.text, v.rules());
            }
        }
    }
    println!();
    println!("| realistic benign set | values | flagged |");
    println!("|---|---:|---:|");
    let (mut n, mut f) = (0, 0);
    for (kind, (total, flagged)) in &by_kind {
        println!("| {kind} | {total} | {flagged} |");
        n += total;
        f += flagged;
    }
    let rate = f as f64 / n as f64;
    println!("| all | {n} | {f} ({:.3} %) |", rate * 100.0);
    assert!(
        rate <= 0.001,
        "realistic benign set flagged {:.3} %",
        rate * 100.0
    );
}

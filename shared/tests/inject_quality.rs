//! Detection quality on the bundled corpora: per-class recall on the attack payload lists and
//! the share of benign values flagged. Prints the table the README quotes and fails when a
//! class falls under 97 % recall on its own payloads (or under its floor on the whole list) or a
//! benign corpus goes over 0.5 % flagged.
//!
//!   cargo test -p picket-shared --test inject_quality -- --nocapture
//!   PICKET_SHOW_MISSES=sqli cargo test -p picket-shared --test inject_quality -- --nocapture
#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_shared::inject::{Class, scan_value};
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

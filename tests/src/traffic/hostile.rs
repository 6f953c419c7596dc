//! The hostile clients: a sprayer, an enumerator and a scanner, each in its window.

use super::apis::{self, Def, Param};
use super::{Kind, Request, Rng, START_MS, WINDOWS};

/// Sprayer, enumerator and scanner, each from its own address.
pub(super) fn all(rng: &mut Rng, host: &'static str, defs: &[Def], out: &mut Vec<Request>) {
    spray(rng, host, defs, out);
    enumerate(rng, host, defs, out);
    scan(rng, host, defs, out);
}

/// What the API answers for a made-up `path`: the real endpoint's status and template when the
/// path is exactly one, else 404 (or 405 for a real path and the wrong method) and no
/// template: a made-up value in a parameter's place names no resource.
fn answer(defs: &[Def], method: &str, path: &str) -> (u16, Option<&'static str>) {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for d in defs {
        let t: Vec<&str> = d.template.split('/').filter(|s| !s.is_empty()).collect();
        if t.len() == segs.len() && t.iter().zip(&segs).all(|(t, s)| *t == "{id}" || t == s) {
            let has_param = t.contains(&"{id}");
            return match (d.method == method, has_param) {
                (true, false) => (d.ok, Some(d.template)),
                (true, true) => (404, None),
                (false, _) => (405, None),
            };
        }
    }
    (404, None)
}

/// The literal prefixes of the API's templates (`/api`, `/api/v1`, `/api/v1/cart`…).
fn prefixes(defs: &[Def]) -> Vec<String> {
    let mut out = vec![String::new()];
    for d in defs {
        let mut p = String::new();
        for seg in d.template.split('/').filter(|s| !s.is_empty()) {
            if seg == "{id}" {
                break;
            }
            p.push('/');
            p.push_str(seg);
            if !out.contains(&p) {
                out.push(p.clone());
            }
        }
    }
    out
}

/// A hostile request: `who` is the client's address and kind.
fn request(
    t: i64,
    host: &'static str,
    method: &'static str,
    target: String,
    who: (u32, Kind),
    answer: (u16, Option<&'static str>),
) -> Request {
    Request {
        ts_ms: t,
        host,
        method,
        target,
        status: answer.0,
        client: who.0,
        kind: who.1,
        template: answer.1,
    }
}

/// Two minutes, 600 paths: dictionary words and random strings under the API's prefixes,
/// one or two segments deep, now and then with a file extension.
fn spray(rng: &mut Rng, host: &'static str, defs: &[Def], out: &mut Vec<Request>) {
    let (_, start, end) = WINDOWS[0];
    let prefixes = prefixes(defs);
    let n = 600;
    for i in 0..n {
        let t = START_MS + start + (end - start) * i / n;
        let mut path = rng.pick(&prefixes).clone();
        for _ in 0..1 + rng.below(2) {
            path.push('/');
            if rng.chance(700) {
                path.push_str(rng.pick::<&str>(apis::DICTIONARY));
            } else {
                for _ in 0..3 + rng.below(6) {
                    path.push((b'a' + rng.below(26) as u8) as char);
                }
            }
        }
        if rng.chance(100) {
            path.push_str(rng.pick::<&str>(&[".php", ".bak", ".json", ".old"]));
        }
        let method = if rng.chance(900) { "GET" } else { "POST" };
        let a = answer(defs, method, &path);
        out.push(request(
            t,
            host,
            method,
            path,
            (0xc000_0221, Kind::Spray),
            a,
        ));
    }
}

/// Five minutes walking names and numbers under the API's name and number endpoints and
/// under made-up prefixes next to them.
fn enumerate(rng: &mut Rng, host: &'static str, defs: &[Def], out: &mut Vec<Request>) {
    let (_, start, end) = WINDOWS[1];
    let walked: Vec<&Def> = defs
        .iter()
        .filter(|d| d.method == "GET" && d.template.ends_with("{id}"))
        .filter(|d| {
            matches!(
                d.params.last(),
                Some(Param::User | Param::Number | Param::Slug)
            )
        })
        .collect();
    let n = 900;
    for i in 0..n {
        let t = START_MS + start + (end - start) * i / n;
        let Some(d) = walked.get(i as usize % walked.len().max(1)) else {
            return;
        };
        // Guessed names and numbers: a few exist, most do not.
        let (value, exists) = match d.params.last() {
            Some(Param::Number) => ((1000 + i).to_string(), rng.chance(50)),
            _ if rng.chance(150) => (
                apis::user_name(rng.below(super::USERS as u64) as usize),
                true,
            ),
            _ => (format!("{}{}", rng.pick(apis::DICTIONARY), i % 7), false),
        };
        let real = d.template.replace("{id}", &value);
        let (path, a) = if i % 3 == 2 {
            // The same walk under a made-up prefix.
            let fake = real
                .replacen("/v", "/v9", 1)
                .replacen("/api/", "/internal/", 1);
            let a = answer(defs, "GET", &fake);
            (fake, a)
        } else {
            let status = if exists { d.ok } else { 404 };
            (real, (status, Some(d.template)))
        };
        let who = (0xc000_0222, Kind::Enumerate);
        out.push(request(t, host, "GET", path, who, a));
    }
}

/// Well-known files and panels a scanner walks in a minute.
const SCANNED: &[&str] = &[
    "/.env",
    "/.env.bak",
    "/.env.production",
    "/.git/config",
    "/.git/HEAD",
    "/.svn/entries",
    "/.DS_Store",
    "/.aws/credentials",
    "/.ssh/id_rsa",
    "/actuator",
    "/actuator/health",
    "/actuator/env",
    "/actuator/heapdump",
    "/actuator/mappings",
    "/wp-admin/",
    "/wp-login.php",
    "/wp-admin/setup-config.php",
    "/wp-content/debug.log",
    "/xmlrpc.php",
    "/admin",
    "/admin/login",
    "/administrator/",
    "/phpmyadmin/",
    "/pma/",
    "/backup.zip",
    "/backup.sql",
    "/db.sql",
    "/dump.sql",
    "/site.tar.gz",
    "/config.json",
    "/config.yml",
    "/server-status",
    "/server-info",
    "/console",
    "/jmx-console/",
    "/manager/html",
    "/solr/admin/",
    "/_profiler",
    "/debug/pprof/",
    "/swagger-ui.html",
    "/v2/api-docs",
    "/api/swagger.json",
    "/graphql",
    "/.well-known/security.txt",
    "/crossdomain.xml",
    "/cgi-bin/test.cgi",
    "/etc/passwd",
    "/api/v1/../../etc/passwd",
    "/telescope/requests",
    "/elmah.axd",
];

fn scan(rng: &mut Rng, host: &'static str, defs: &[Def], out: &mut Vec<Request>) {
    let (_, start, end) = WINDOWS[2];
    let n = SCANNED.len() as i64 * 3;
    for i in 0..n {
        let t = START_MS + start + (end - start) * i / n;
        let path = SCANNED[i as usize % SCANNED.len()];
        let method = if rng.chance(850) { "GET" } else { "HEAD" };
        let mut a = answer(defs, method, path);
        if path.starts_with("/admin") {
            a = (403, None);
        } else if path.contains("..") {
            a = (400, None);
        }
        let who = (0xc000_0223, Kind::Scan);
        out.push(request(t, host, method, path.to_owned(), who, a));
    }
}

//! Privacy by construction: an email address, a payment card number, an API key and an SQL
//! payload planted in requests appear neither in what the sensor sends (its spool holds exactly
//! the batches it sends) nor anywhere under the controller's data directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_tests::*;
use std::path::Path;
use std::time::Duration;

const EMAIL: &str = "planted.person.7731@privacy-test.example";
const CARD: &str = "4539578763621486";
const KEY: &str = "PLANTEDKEY9f8e7d6c5b4a";
const SQL_MARK: &str = "planted_users";

fn files_containing(dir: &Path, needle: &[u8], out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_containing(&p, needle, out);
        } else if std::fs::read(&p)
            .map(|b| b.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
        {
            out.push(p.display().to_string());
        }
    }
}

fn assert_clean(dir: &Path) {
    for needle in [EMAIL, CARD, KEY, SQL_MARK, "privacy-test.example"] {
        let mut hits = Vec::new();
        files_containing(dir, needle.as_bytes(), &mut hits);
        assert!(hits.is_empty(), "{needle:?} found in {hits:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_leave_the_sensor() {
    let mut stack = Stack::start().await;
    let (addr, dir) = (
        stack.controller.addr.clone(),
        stack.controller.data_dir.clone(),
    );
    // Controller away: everything the sensor will send waits in its spool, where we can read it.
    stack.controller.proc.kill9();
    let log = stack.path("access.json");
    let sql = format!("%27%20UNION%20SELECT%20password%20FROM%20{SQL_MARK}--");
    let lines = vec![
        format!(
            r#"{{"msec":"1795219200.000","remote_addr":"81.2.69.10","host":"api.example","request_method":"GET","request_uri":"/users/{EMAIL}/cards/{CARD}?email={EMAIL}&card={CARD}","status":"200","http_authorization":"Bearer {KEY}","http_x_api_key":"{KEY}"}}"#
        ),
        format!(
            r#"{{"msec":"1795219201.000","remote_addr":"81.2.69.11","host":"api.example","request_method":"GET","request_uri":"/search/{sql}?q={sql}","status":"500","http_x_api_key":"{KEY}"}}"#
        ),
        format!(
            r#"{{"msec":"1795219202.000","remote_addr":"81.2.69.12","host":"api.example","request_method":"POST","request_uri":"/login?user={EMAIL}&{EMAIL}&{KEY}=1","status":"401","http_authorization":"Basic {KEY}"}}"#
        ),
    ];
    append(&log, &lines);
    let sensor = stack.file_sensor("private", &log);
    let spool = stack.path("private-data").join("spool");
    eventually(Duration::from_secs(30), "the batch in the spool", || {
        let spool = spool.clone();
        async move {
            // Read with a copy of the spool, so the sensor's own files stay untouched.
            let copy = tempfile::tempdir().ok()?;
            for e in std::fs::read_dir(&spool).ok()?.flatten() {
                std::fs::copy(e.path(), copy.path().join(e.file_name())).ok()?;
            }
            let (_, found) =
                picket_sensor::delivery::spool::Spool::open(copy.path(), u64::MAX).ok()?;
            let requests: u64 = found.iter().map(|m| m.requests).sum();
            (requests == 3).then_some(())
        }
    })
    .await;
    assert_clean(&stack.path("private-data"));

    stack.controller = ControllerProc::start(&dir, &addr);
    stack.wait_exact("private", 3, 3).await;
    let eps = all_endpoints(&stack.url(), &stack.reader_token).await;
    let paths: Vec<&str> = eps.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/search/{id}", "/users/{id}/cards/{id}", "/login"]);
    // The classes are reported; the values are not.
    let users = &eps[1].sensitive;
    for class in [
        "path:email",
        "query:email",
        "path:payment_card",
        "query:payment_card",
    ] {
        assert_eq!(users.get(class), Some(&1), "{class} in {users:?}");
    }
    // Injection hits are counted by location and rule.
    let search = &eps[0].injections;
    assert!(
        search.get("query:sqli.union-select") == Some(&1)
            && search.get("path:sqli.union-select") == Some(&1),
        "{search:?}"
    );
    // Flagged requests travel as redacted notable events.
    let out = picketctl(
        &stack.url(),
        &stack.reader_token,
        &["events", "list", "-o", "json"],
    );
    assert_clean_text(&out);
    let events: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let find = |template: &str| {
        events
            .iter()
            .find(|e| e["template"] == template)
            .unwrap_or_else(|| panic!("no event for {template} in {out}"))
    };
    let injection = find("/search/{id}");
    assert_eq!(injection["kinds"], serde_json::json!(["injection"]));
    assert_eq!(injection["client_ip"], "81.2.69.11");
    let labels: Vec<&str> = injection["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(labels.contains(&"query:sqli.union-select"), "{labels:?}");
    let sensitive = find("/users/{id}/cards/{id}");
    assert_eq!(sensitive["kinds"], serde_json::json!(["sensitive_in_url"]));
    assert!(
        sensitive["labels"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("query:payment_card"))
    );
    let only_injections = picketctl(
        &stack.url(),
        &stack.reader_token,
        &["events", "list", "--kind", "injection", "-o", "json"],
    );
    let only: Vec<serde_json::Value> = serde_json::from_str(&only_injections).unwrap();
    assert!(only.iter().all(|e| {
        e["kinds"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("injection"))
    }));
    assert!(!only.is_empty());
    drop(sensor);
    stack.controller.proc.terminate();
    assert_clean(&dir);
}

fn assert_clean_text(text: &str) {
    for needle in [EMAIL, CARD, KEY, SQL_MARK, "privacy-test.example"] {
        assert!(!text.contains(needle), "{needle:?} in {text}");
    }
}

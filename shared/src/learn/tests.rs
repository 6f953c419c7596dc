//! Unit tests of the learner: promotion, vocabularies, poisoning resistance, stability,
//! bounds, and the ground truth of the public OpenAPI examples.

use super::*;

/// Evidence of a request the API answered with 200, from client `client`.
fn ok(client: u64) -> Evidence {
    Evidence {
        status: 200,
        client,
    }
}

#[test]
fn many_distinct_names_become_a_parameter() {
    let mut l = TemplateLearner::new(LearnerLimits::default());
    let mut last = String::new();
    for i in 0..40 {
        last = l.template(
            "h",
            &format!("/users/user{}name/profile", (b'a' + (i % 26) as u8) as char)
                .repeat(1)
                .replace("name", &"x".repeat(i / 26 + 1)),
            ok(i as u64),
        );
    }
    assert_eq!(last, "/users/{id}/profile");
    // Another host learns on its own.
    assert_eq!(
        l.template("other", "/users/zed/profile", ok(1)),
        "/users/zed/profile"
    );
}

#[test]
fn a_vocabulary_of_sub_resources_stays_literal() {
    let mut l = TemplateLearner::new(LearnerLimits::default());
    let words = [
        "issues",
        "pulls",
        "commits",
        "branches",
        "tags",
        "releases",
        "labels",
        "milestones",
        "hooks",
        "keys",
        "forks",
        "stargazers",
        "subscribers",
        "contributors",
        "languages",
        "teams",
        "topics",
        "events",
        "deployments",
        "actions",
    ];
    for round in 0..20 {
        for w in &words[..(round % words.len()) + 1] {
            l.template("gh", &format!("/repos/7/42/{w}"), ok(round as u64));
        }
    }
    assert_eq!(
        l.template("gh", "/repos/7/42/issues", ok(0)),
        "/repos/{id}/{id}/issues"
    );
}

/// The one-pass templating as first written: typed templating, then learning over it.
fn template_two_pass(l: &mut TemplateLearner, host: &str, target: &str, ev: Evidence) -> String {
    let typed = crate::template::template_path(target);
    if typed == "/" {
        return typed;
    }
    let mut out = String::new();
    let mut prefix = hash_of(host);
    for seg in split(&typed) {
        let chosen = if seg == PARAM || seg == DEEP {
            seg
        } else {
            match l
                .positions
                .observe(prefix, seg, ev.counts().then_some(ev.client))
            {
                Observed::Param => PARAM,
                Observed::Literal => seg,
            }
        };
        out.push('/');
        out.push_str(chosen);
        prefix = hash_pair(prefix, chosen);
    }
    out
}

proptest::proptest! {
    #[test]
    fn one_pass_equals_two_pass(
        paths in proptest::collection::vec("(/(a|b|c[0-9]|[a-z]{1,3}[0-9]{0,2}|[0-9]{1,4}|\t?x|v1|))*(\\?q=1)?", 1..200)
    ) {
        let mut one = TemplateLearner::new(LearnerLimits { max_positions: 64, ..Default::default() });
        let mut two = TemplateLearner::new(LearnerLimits { max_positions: 64, ..Default::default() });
        for (i, p) in paths.iter().enumerate() {
            let ev = Evidence { status: [200, 404, 0][i % 3], client: i as u64 % 11 };
            proptest::prop_assert_eq!(one.template("h", p, ev), template_two_pass(&mut two, "h", p, ev));
        }
        let deep = "/a".repeat(40);
        proptest::prop_assert_eq!(one.template("h", &deep, ok(1)), template_two_pass(&mut two, "h", &deep, ok(1)));
    }
}

#[test]
fn known_templates_win() {
    let mut l = TemplateLearner::new(LearnerLimits::default());
    l.set_known(&[
        ("api".into(), "/pets/{petId}".into()),
        (String::new(), "/pets/mine".into()),
    ]);
    assert_eq!(l.template("api", "/pets/rex?x=1", ok(1)), "/pets/{petId}");
    assert_eq!(l.template("api", "/pets/mine", ok(1)), "/pets/mine");
    assert_eq!(l.template("elsewhere", "/pets/rex", ok(1)), "/pets/rex");
}

#[test]
fn memory_is_bounded() {
    let limits = LearnerLimits {
        max_positions: 50,
        ..Default::default()
    };
    let mut l = TemplateLearner::new(limits);
    for i in 0..1000 {
        l.template(&format!("host{i}"), "/a/b/c", ok(i));
    }
    assert!(l.positions() <= 50);
    assert!(l.resets() > 0);
    assert!(l.evicted() >= 950);
}

/// Ground truth: concrete URLs generated from the path templates of the public OpenAPI
/// examples and crAPI, templated without the specs.
#[test]
fn recovers_openapi_templates_without_the_specs() {
    let (exact, total, misses) = ground_truth();
    let pct = exact as f64 * 100.0 / total as f64;
    println!("templating ground truth: {exact}/{total} templates recovered exactly ({pct:.1} %)");
    for m in &misses {
        println!("  miss: {m}");
    }
    assert!(pct >= 95.0, "{pct:.1} % < 95 %: {misses:?}");
}

/// Deterministic values for a parameter name, the way real traffic would carry them.
fn value(name: &str, n: u64) -> String {
    let lname = name.to_ascii_lowercase();
    const FIRST: [&str; 12] = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "oscar",
    ];
    const LAST: [&str; 6] = ["smith", "jones", "lee", "garcia", "kim", "novak"];
    match lname.as_str() {
        "username" => match n % 3 {
            0 => format!("{}{}", FIRST[(n % 12) as usize], n),
            1 => format!("{}_{}", FIRST[(n % 12) as usize], LAST[(n % 6) as usize]),
            _ => format!(
                "{}.{}{}",
                FIRST[((n / 3) % 12) as usize],
                LAST[(n % 6) as usize],
                n % 10
            ),
        },
        "slug" => {
            format!(
                "{}-{}",
                ["api", "web", "core", "infra", "docs"][(n % 5) as usize],
                ["gateway", "service", "toolkit", "portal", "engine", "sdk"]
                    [((n / 5) % 6) as usize]
            ) + &(n / 30).to_string()
        }
        "dataset" => [
            "oa_citations",
            "cancer_moonshot",
            "enriched_cited_reference_metadata",
        ][(n % 3) as usize]
            .into(),
        "version" => ["v1", "v2"][(n % 2) as usize].into(),
        "vehicleid" => format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            n * 2654435761 % 0xffff_ffff,
            n % 0xffff,
            n % 0xfff,
            (n * 7) % 0xfff,
            n * 11_400_714_819
        ),
        "postid" => {
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            (0..22)
                .map(|i| alphabet[((n * 31 + i * 17 + i * i * n) % 62) as usize] as char)
                .collect()
        }
        _ => (1000 + n * 37 % 100_000).to_string(),
    }
}

fn ground_truth() -> (usize, usize, Vec<String>) {
    let specs: Vec<&str> = include_str!("../../testdata/openapi/paths.tsv")
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    let concrete = |t: &str, n: u64| -> String {
        let segs: Vec<String> = split(t)
            .map(|s| {
                if s.starts_with('{') {
                    value(s.trim_matches(|c| c == '{' || c == '}'), n)
                } else {
                    s.to_owned()
                }
            })
            .collect();
        format!("/{}", segs.join("/"))
    };
    let normalize = |t: &str| -> String {
        let segs: Vec<&str> = split(t)
            .map(|s| if s.starts_with('{') { PARAM } else { s })
            .collect();
        if segs.is_empty() {
            "/".into()
        } else {
            format!("/{}", segs.join("/"))
        }
    };
    let mut learner = TemplateLearner::new(LearnerLimits::default());
    // Live traffic: all APIs interleaved, 60 requests per operation path, from 20 clients.
    for n in 0..60 {
        for t in &specs {
            learner.template("api.example", &concrete(t, n), ok(n % 20));
        }
    }
    let mut exact = 0;
    let mut misses = Vec::new();
    for t in &specs {
        let want = normalize(t);
        let got: Vec<String> = (1000..1010)
            .map(|n| learner.template("api.example", &concrete(t, n), ok(n % 20)))
            .collect();
        if got.iter().all(|g| *g == want) {
            exact += 1;
        } else {
            misses.push(format!("{t} → {}", got[0]));
        }
    }
    (exact, specs.len(), misses)
}

/// A user-name position that real clients, each with their own name, teach.
fn teach_users(l: &mut TemplateLearner, clients: u64) {
    for c in 0..clients {
        l.template("shop", &format!("/api/v1/users/shopper_{c}x"), ok(1000 + c));
    }
}

#[test]
fn answers_that_say_missing_teach_nothing() {
    let mut l = TemplateLearner::new(LearnerLimits::default());
    for status in [400, 404, 405, 501] {
        for i in 0..200 {
            let ev = Evidence { status, client: i };
            l.template("shop", &format!("/api/v1/word{i}x/items"), ev);
        }
    }
    assert_eq!(l.positions(), 0, "noise creates no learning state");
    assert_eq!(
        l.template("shop", "/api/v1/secret_probe/items", ok(1)),
        "/api/v1/secret_probe/items"
    );
}

#[test]
fn one_client_is_one_vote() {
    let mut l = TemplateLearner::new(LearnerLimits::default());
    // A catch-all server answers 200 to a spray of 500 name-like paths from one client.
    for i in 0..500 {
        l.template("shop", &format!("/api/v1/Probe{i}"), ok(7));
    }
    assert_eq!(l.template("shop", "/api/v1/cart", ok(8)), "/api/v1/cart");
    // Real users, one name each, are many votes.
    teach_users(&mut l, 30);
    assert_eq!(
        l.template("shop", "/api/v1/users/someone_new", ok(9)),
        "/api/v1/users/{id}"
    );
}

/// Real traffic of a small shop: sub-resources under `/api/v1`, each called by many clients.
fn establish_shop(l: &mut TemplateLearner) {
    for c in 0..40 {
        for p in [
            "/api/v1/cart/items",
            "/api/v1/products/featured",
            "/api/v1/orders/recent",
            "/api/v1/checkout",
            "/api/v1/users/me",
            "/health",
        ] {
            l.template("shop", p, ok(c));
        }
    }
}

#[test]
fn stable_prefixes_survive_a_botnet_on_a_catch_all_server() {
    let mut l = TemplateLearner::new(LearnerLimits::default());
    establish_shop(&mut l);
    // Fifty clients spray two hundred random name-like paths each, all answered 200.
    for c in 0..50u64 {
        for i in 0..200u64 {
            let w = (c * 7919 + i * 104_729) % 100_000;
            for p in [
                format!("/Spray{w}"),
                format!("/api/v1/Spray{w}"),
                format!("/api/v1/cart/Spray{w}"),
            ] {
                l.template("shop", &p, ok(500 + c));
            }
        }
    }
    for (path, want) in [
        ("/api/v1/cart/items", "/api/v1/cart/items"),
        ("/api/v1/products/featured", "/api/v1/products/featured"),
        ("/api/v1/orders/recent", "/api/v1/orders/recent"),
        ("/api/v1/checkout", "/api/v1/checkout"),
        ("/api/v1/users/me", "/api/v1/users/me"),
        ("/health", "/health"),
    ] {
        assert_eq!(l.template("shop", path, ok(1)), want, "{path}");
    }
    // The sprayed paths stay visible: templated or literal, never inside a real endpoint.
    let sprayed = l.template("shop", "/api/v1/cart/Spray1234567", ok(600));
    assert!(sprayed.starts_with("/api/v1/cart/"), "{sprayed}");
    assert_ne!(sprayed, "/api/v1/cart/items");
}

#[test]
fn established_values_keep_their_templates_when_a_position_is_promoted() {
    let mut l = TemplateLearner::new(LearnerLimits::default());
    establish_shop(&mut l);
    teach_users(&mut l, 40);
    assert_eq!(
        l.template("shop", "/api/v1/users/zed_k", ok(3)),
        "/api/v1/users/{id}"
    );
    assert_eq!(
        l.template("shop", "/api/v1/users/me", ok(3)),
        "/api/v1/users/me"
    );
}

#[test]
fn decisions_are_final() {
    let mut l = TemplateLearner::new(LearnerLimits::default());
    teach_users(&mut l, 40);
    // A vocabulary arriving afterwards does not turn the parameter back.
    for c in 0..100 {
        l.template("shop", "/api/v1/users/settings", ok(c));
    }
    assert_eq!(
        l.template("shop", "/api/v1/users/settings", ok(1)),
        "/api/v1/users/{id}"
    );
}

#[test]
fn noise_is_evicted_before_established_positions() {
    let limits = LearnerLimits {
        max_positions: 64,
        ..Default::default()
    };
    let mut l = TemplateLearner::new(limits);
    establish_shop(&mut l);
    let established = l.positions();
    // One client answered 200 everywhere walks a thousand distinct sub-trees.
    for i in 0..1000 {
        l.template("shop", &format!("/junk{i}x/deeper"), ok(9));
    }
    assert!(l.positions() <= 64);
    assert!(l.evicted() > 0 && l.resets() > 0);
    // The shop's positions survived: the prefix still locks when a botnet comes.
    for c in 0..50u64 {
        for i in 0..40u64 {
            l.template("shop", &format!("/api/v1/Spray{c}x{i}"), ok(500 + c));
        }
    }
    assert_eq!(
        l.template("shop", "/api/v1/checkout", ok(1)),
        "/api/v1/checkout"
    );
    assert!(established <= 64);
}

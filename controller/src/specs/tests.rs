use super::*;
use crate::store::Db;
use crate::store::memory::MemoryStore;
use crate::store::specs::SpecFileRecord;
use picket_shared::{EndpointSummary, TenantId};

const PETS: &str = r#"
openapi: 3.0.3
info: {title: Pets, version: "1"}
servers: [{url: "https://pets.example/v1"}]
paths:
  /pets:
    get: {operationId: listPets, responses: {"200": {description: ok}}}
  /pets/{petId}:
    get: {operationId: getPet, parameters: [{name: petId, in: path, required: true, schema: {type: integer}}], responses: {"200": {description: ok}}}
  /pets/{petId}/legacy:
    get: {operationId: legacyPet, deprecated: true, responses: {"200": {description: ok}}}
"#;

const RELATIVE: &str = r#"
openapi: 3.0.3
info: {title: Shop, version: "1"}
servers: [{url: "/api"}]
paths:
  /cart:
    get: {operationId: getCart, responses: {"200": {description: ok}}}
"#;

fn meta(api: &str, host: Option<&str>) -> SpecMeta {
    SpecMeta {
        api: api.into(),
        host: host.map(Into::into),
        root: "openapi.yaml".into(),
        files: 1,
        bytes: 100,
        ..Default::default()
    }
}

fn bundle(text: &str) -> SpecBundle {
    SpecBundle {
        files: vec![SpecFileRecord {
            name: "openapi.yaml".into(),
            content: text.into(),
        }],
    }
}

fn key(host: &str, method: &str, template: &str) -> EndpointKey {
    EndpointKey {
        host: host.into(),
        method: method.into(),
        template: template.into(),
    }
}

fn check(specs: &TenantSpecs, k: (&str, &str, &str), want: Class, api: &str, template: &str) {
    let got = specs.classify(&key(k.0, k.1, k.2)).unwrap();
    assert_eq!(
        (got.class, got.api.as_str(), got.template.as_str()),
        (want, api, template),
        "{k:?}"
    );
}

#[test]
fn endpoints_are_classified_whatever_name_they_were_learned_under() {
    let pets = LoadedSpec::load(meta("pets", None), &bundle(PETS));
    let shop = LoadedSpec::load(meta("shop", Some("shop.example")), &bundle(RELATIVE));
    let specs = TenantSpecs::build(vec![shop, pets]);
    let h = "pets.example";
    check(
        &specs,
        (h, "GET", "/v1/pets"),
        Class::Documented,
        "pets",
        "/v1/pets",
    );
    for learned in ["/v1/pets/{petId}", "/v1/pets/{id}", "/v1/pets/123"] {
        check(
            &specs,
            (h, "GET", learned),
            Class::Documented,
            "pets",
            "/v1/pets/{petId}",
        );
    }
    check(
        &specs,
        (h, "GET", "/v1/pets/{id}/legacy"),
        Class::Zombie,
        "pets",
        "/v1/pets/{petId}/legacy",
    );
    check(
        &specs,
        (h, "DELETE", "/v1/pets/{id}"),
        Class::Drift,
        "pets",
        "/v1/pets/{petId}",
    );
    check(&specs, (h, "GET", "/v1/admin"), Class::Shadow, "", "");
    // Served on its own host only; the relative server got the import's host.
    check(
        &specs,
        ("other.example", "GET", "/v1/pets"),
        Class::Shadow,
        "",
        "",
    );
    check(
        &specs,
        ("shop.example", "GET", "/api/cart"),
        Class::Documented,
        "shop",
        "/api/cart",
    );
    let got = specs.classify(&key(h, "GET", "/v1/pets/7")).unwrap();
    assert_eq!(got.operation_id, "getPet");
    assert_eq!(
        specs.operation_of(&key(h, "GET", "/v1/pets/7")),
        Some((0, 1))
    );
    assert_eq!(
        *specs.templates,
        [
            ("pets.example".to_owned(), "/v1/pets".to_owned()),
            ("pets.example".to_owned(), "/v1/pets/{petId}".to_owned()),
            (
                "pets.example".to_owned(),
                "/v1/pets/{petId}/legacy".to_owned()
            ),
            ("shop.example".to_owned(), "/api/cart".to_owned()),
        ]
    );
    assert!(
        TenantSpecs::build(vec![])
            .classify(&key(h, "GET", "/"))
            .is_none()
    );
}

#[test]
fn a_stored_spec_that_no_longer_imports_documents_nothing() {
    let broken = LoadedSpec::load(meta("bad", None), &bundle("openapi: 9.0\npaths: {}"));
    assert!(broken.parsed.is_err());
    let specs = TenantSpecs::build(vec![broken]);
    assert!(specs.templates.is_empty());
    check(&specs, ("x", "GET", "/"), Class::Shadow, "", "");
}

#[test]
fn templates_beyond_the_directive_limit_are_dropped_and_counted() {
    let long = "/x".repeat(500);
    let all: Vec<_> = (0..5_000)
        .map(|i| ("h".to_owned(), format!("{long}/{i}")))
        .collect();
    let (kept, dropped) = cap_templates(all);
    assert!(kept.len() < 5_000);
    assert_eq!(kept.len() + dropped, 5_000);
    let bytes: usize = kept.iter().map(|(h, t)| h.len() + t.len() + 8).sum();
    assert!(bytes <= MAX_DIRECTIVE_TEMPLATE_BYTES);
}

#[test]
fn imports_and_deletes_reach_the_template_watchers_and_survive_a_reload() {
    let db = Db::new(std::sync::Arc::new(MemoryStore::new()));
    let t = TenantId::new("acme").unwrap();
    let reg = SpecRegistry::default();
    let mut rx = reg.watch_templates(&db, &t).unwrap();
    assert!(rx.borrow_and_update().is_empty());
    let spec = parse(&meta("pets", None), &bundle(PETS)).unwrap();
    let done = reg
        .import(&db, &t, meta("pets", None), &bundle(PETS), spec.clone())
        .unwrap();
    assert!(!done.replaced);
    assert_eq!(done.specs.specs[done.index].meta.api, "pets");
    assert!(rx.has_changed().unwrap());
    assert_eq!(rx.borrow_and_update().len(), 3);
    let again = reg
        .import(&db, &t, meta("pets", None), &bundle(PETS), spec)
        .unwrap();
    assert!(again.replaced);
    assert!(
        !rx.has_changed().unwrap(),
        "the same templates are not sent again"
    );

    // A new registry (a restart) parses the stored files.
    let fresh = SpecRegistry::default();
    let loaded = fresh.tenant(&db, &t).unwrap();
    assert_eq!(loaded.specs.len(), 1);
    assert_eq!(loaded.templates, done.specs.templates);
    assert!(
        fresh
            .tenant(&db, &TenantId::new("other").unwrap())
            .unwrap()
            .is_empty()
    );

    assert!(reg.delete(&db, &t, "pets").unwrap());
    assert!(!reg.delete(&db, &t, "pets").unwrap());
    assert!(rx.has_changed().unwrap());
    assert!(rx.borrow_and_update().is_empty());
    assert!(reg.tenant(&db, &t).unwrap().is_empty());
    assert!(db.spec_metas(&t).unwrap().is_empty());
}

#[test]
fn usage_marks_the_operations_the_inventory_reached() {
    use crate::store::records::{EndpointRecord, encode};
    use crate::store::{Tree, keys};
    let store = std::sync::Arc::new(MemoryStore::new());
    let db = Db::new(store.clone());
    let t = TenantId::new("acme").unwrap();
    for (template, calls) in [("/v1/pets/{id}", 3), ("/v1/pets/9", 2), ("/v1/zzz", 1)] {
        let k = key("pets.example", "GET", template);
        let mut rec = EndpointRecord::default();
        rec.summary.requests = calls;
        rec.summary.last_seen_ms = calls as i64;
        crate::store::Store::put(
            &*store,
            Tree::Endpoints,
            &keys::endpoint(&t, &k),
            &encode(&rec),
        )
        .unwrap();
    }
    let specs = TenantSpecs::build(vec![LoadedSpec::load(meta("pets", None), &bundle(PETS))]);
    let u = usage(&db, &t, &specs, 0, 100).unwrap();
    assert!(u.complete);
    assert_eq!(
        u.operations,
        [
            None,
            Some(OperationUse {
                calls: 5,
                last_seen_ms: 3
            }),
            None
        ]
    );
    let partial = usage(&db, &t, &specs, 0, 1).unwrap();
    assert!(!partial.complete);
}

const USERS: &str = r#"
openapi: 3.0.3
info: {title: Users, version: "1"}
servers: [{url: "https://users.example"}]
security: [{key: []}]
components:
  securitySchemes: {key: {type: apiKey, in: header, name: X-Key}}
paths:
  /users/{userId}:
    parameters: [{name: userId, in: path, required: true, schema: {type: integer}}]
    get:
      operationId: getUser
      parameters: [{name: fields, in: query, schema: {type: string}}]
      responses: {"200": {description: ok}, "4XX": {description: client error}}
  /health:
    get: {operationId: health, security: [], responses: {default: {description: any}}}
"#;

fn observed(params: &[&str], statuses: &[(u16, u64)]) -> EndpointSummary {
    EndpointSummary {
        requests: statuses.iter().map(|(_, n)| n).sum(),
        params: params
            .iter()
            .map(|p| (p.to_string(), Default::default()))
            .collect(),
        statuses: statuses.iter().copied().collect(),
        ..Default::default()
    }
}

#[test]
fn drift_lists_undocumented_parameters_and_status_codes() {
    let specs = TenantSpecs::build(vec![LoadedSpec::load(meta("users", None), &bundle(USERS))]);
    let k = key("users.example", "GET", "/users/{id}");
    // Declared query parameter, path parameter by position, 200 and a 4XX range: no drift.
    let fine = specs.judge(
        &k,
        &observed(
            &["query:fields", "path:users.id"],
            &[(200, 5), (404, 1), (0, 1)],
        ),
    );
    assert_eq!(fine.class, Some(Class::Documented));
    assert!(!fine.drifts(), "{fine:?}");
    assert!(!fine.documented_public);
    let drifting = specs.judge(
        &k,
        &observed(
            &["query:fields", "query:debug"],
            &[(200, 5), (500, 2), (302, 1)],
        ),
    );
    assert!(drifting.drifts());
    assert_eq!(drifting.undocumented_params, ["query:debug"]);
    assert_eq!(drifting.undocumented_statuses, [302, 500]);
    // `default` covers every status; the operation is public by its empty security.
    let health = specs.judge(
        &key("users.example", "GET", "/health"),
        &observed(&[], &[(503, 1)]),
    );
    assert!(!health.drifts() && health.documented_public, "{health:?}");
    // A method the path does not document is drift of its own.
    let del = specs.judge(
        &key("users.example", "DELETE", "/users/7"),
        &observed(&[], &[(204, 1)]),
    );
    assert!(del.drifts() && del.class == Some(Class::Drift));
    // No spec: nothing to judge by.
    let none = TenantSpecs::build(vec![]).judge(&k, &observed(&["query:x"], &[(200, 1)]));
    assert_eq!(none, crate::specs::drift::SpecJudgement::default());
}

const ORDERS: &str = r#"
openapi: 3.1.0
info: {title: Orders, version: "1"}
servers: [{url: "https://shop.example"}]
paths:
  /orders:
    post:
      operationId: createOrder
      requestBody:
        content:
          "application/json; charset=utf-8": {schema: {type: object}}
          application/vnd.api+json: {schema: {type: object}}
      responses: {"201": {description: created}}
    get:
      operationId: listOrders
      responses: {"200": {description: ok}}
  /uploads:
    put:
      operationId: upload
      requestBody: {content: {"multipart/*": {}, "application/octet-stream": {}}}
      responses: {"204": {description: stored}}
"#;

fn typed(types: &[(&str, u64)]) -> EndpointSummary {
    EndpointSummary {
        requests: types.iter().map(|(_, n)| n).sum(),
        statuses: [(201, 1)].into(),
        request_content_types: types.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        ..Default::default()
    }
}

#[test]
fn drift_lists_undocumented_request_content_types() {
    let specs = TenantSpecs::build(vec![LoadedSpec::load(meta("shop", None), &bundle(ORDERS))]);
    let post = key("shop.example", "POST", "/orders");
    // Documented as json (with parameters and a `+json` suffix): json traffic is no drift.
    let fine = specs.judge(&post, &typed(&[("json", 40)]));
    assert_eq!(fine.class, Some(Class::Documented));
    assert!(!fine.drifts(), "{fine:?}");
    // json and xml: xml is drift, json is not.
    let drifting = specs.judge(&post, &typed(&[("json", 40), ("xml", 2)]));
    assert!(drifting.drifts());
    assert_eq!(drifting.undocumented_content_types, ["xml"]);
    assert_eq!(drifting.undocumented_content_types_total, 1);
    assert!(drifting.undocumented_params.is_empty());
    let several = specs.judge(&post, &typed(&[("form", 1), ("other", 1), ("text", 1)]));
    assert_eq!(
        several.undocumented_content_types,
        ["form", "other", "text"]
    );
    // An operation documenting no request body has nothing to compare with.
    let get = specs.judge(
        &key("shop.example", "GET", "/orders"),
        &typed(&[("xml", 3)]),
    );
    assert!(get.undocumented_content_types.is_empty(), "{get:?}");
    // Ranges: `multipart/*` covers multipart, not json.
    let put = key("shop.example", "PUT", "/uploads");
    let up = specs.judge(&put, &typed(&[("multipart", 2), ("octet", 1), ("json", 1)]));
    assert_eq!(up.undocumented_content_types, ["json"]);
}

#[test]
fn learned_endpoints_merge_into_spec_templates_once() {
    use crate::metering::MeterPolicy;
    use picket_shared::{BatchSummary, SensorId};
    let db = Db::new(std::sync::Arc::new(MemoryStore::new()));
    let t = TenantId::new("t").unwrap();
    let batch = |seq, sensor: &str, template: &str, n: u64| {
        let b = BatchSummary {
            stream_epoch: 1,
            seq,
            endpoints: vec![(
                key("users.example", "GET", template),
                observed(&[], &[(200, n)]),
            )],
            ..Default::default()
        };
        db.apply_batch(
            &t,
            &SensorId::new(sensor).unwrap(),
            &b,
            1_000,
            &MeterPolicy::default(),
        )
        .unwrap();
    };
    batch(1, "s1", "/users/{id}", 3);
    batch(2, "s1", "/users/42", 2);
    batch(1, "s2", "/users/{userId}", 1);
    batch(3, "s1", "/admin", 4);
    let specs = TenantSpecs::build(vec![LoadedSpec::load(meta("users", None), &bundle(USERS))]);
    let m = merge::merge_learned(&db, &t, &specs, 10_000).unwrap();
    assert_eq!((m.merged, m.scanned), (2, 4));
    let merged = db
        .get_endpoint(&t, &key("users.example", "GET", "/users/{userId}"))
        .unwrap()
        .unwrap();
    assert_eq!(merged.summary.requests, 6, "summaries add up");
    assert_eq!(merged.sensors.len(), 2);
    for gone in ["/users/{id}", "/users/42"] {
        assert!(
            db.get_endpoint(&t, &key("users.example", "GET", gone))
                .unwrap()
                .is_none()
        );
    }
    // The shadow endpoint stays; a second merge finds nothing to move.
    assert!(
        db.get_endpoint(&t, &key("users.example", "GET", "/admin"))
            .unwrap()
            .is_some()
    );
    assert_eq!(
        merge::merge_learned(&db, &t, &specs, 10_000)
            .unwrap()
            .merged,
        0
    );
}

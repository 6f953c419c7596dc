//! The public examples (OAI and crAPI, copied into `tests/data` with their licenses) import
//! with the operation counts counted independently (a Python walk over the documents).

use std::path::{Path, PathBuf};

use picket_openapi::{
    Effect, ImportOptions, ParamIn, SecurityScheme, Spec, Type, Version, import_path,
    sensor_templates,
};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn import(rel: &str) -> Spec {
    match import_path(&data(rel), &ImportOptions::default()) {
        Ok(spec) => spec,
        Err(e) => panic!("{rel}: {e}"),
    }
}

/// Imports `rel` and checks its version, operation and webhook counts, and that it imported
/// without problems.
fn check(rel: &str, version: Version, operations: usize, webhooks: usize) {
    let spec = import(rel);
    assert_eq!(spec.openapi_version, version, "{rel}");
    assert_eq!(spec.operations.len(), operations, "{rel}");
    assert_eq!(spec.webhooks, webhooks, "{rel}");
    let problems: Vec<String> = spec.problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{rel}: {problems:#?}");
    assert!(spec.cycles.is_empty(), "{rel}: {:?}", spec.cycles);
}

#[test]
fn operation_counts() {
    use Version::*;
    // Counted with a Python walk over paths × methods (x- keys skipped), not by this crate.
    let table: &[(&str, Version, usize, usize)] = &[
        ("oai-examples/v2.0/json/api-with-examples.json", V2, 2, 0),
        ("oai-examples/v2.0/json/petstore-expanded.json", V2, 4, 0),
        ("oai-examples/v2.0/json/petstore-minimal.json", V2, 1, 0),
        ("oai-examples/v2.0/json/petstore-simple.json", V2, 4, 0),
        (
            "oai-examples/v2.0/json/petstore-with-external-docs.json",
            V2,
            4,
            0,
        ),
        ("oai-examples/v2.0/json/petstore.json", V2, 3, 0),
        ("oai-examples/v2.0/json/uber.json", V2, 5, 0),
        ("oai-examples/v2.0/yaml/api-with-examples.yaml", V2, 2, 0),
        ("oai-examples/v2.0/yaml/petstore-expanded.yaml", V2, 4, 0),
        ("oai-examples/v2.0/yaml/petstore-minimal.yaml", V2, 1, 0),
        ("oai-examples/v2.0/yaml/petstore-simple.yaml", V2, 4, 0),
        (
            "oai-examples/v2.0/yaml/petstore-with-external-docs.yaml",
            V2,
            4,
            0,
        ),
        ("oai-examples/v2.0/yaml/petstore.yaml", V2, 3, 0),
        ("oai-examples/v2.0/yaml/uber.yaml", V2, 5, 0),
        ("oai-examples/v2.0/json/petstore-separate", V2, 4, 0),
        ("oai-examples/v2.0/yaml/petstore-separate", V2, 4, 0),
        ("oai-examples/v3.0/api-with-examples.json", V3_0, 2, 0),
        ("oai-examples/v3.0/api-with-examples.yaml", V3_0, 2, 0),
        ("oai-examples/v3.0/callback-example.json", V3_0, 1, 0),
        ("oai-examples/v3.0/callback-example.yaml", V3_0, 1, 0),
        ("oai-examples/v3.0/link-example.json", V3_0, 6, 0),
        ("oai-examples/v3.0/link-example.yaml", V3_0, 6, 0),
        ("oai-examples/v3.0/petstore-expanded.json", V3_0, 4, 0),
        ("oai-examples/v3.0/petstore-expanded.yaml", V3_0, 4, 0),
        ("oai-examples/v3.0/petstore.json", V3_0, 3, 0),
        ("oai-examples/v3.0/petstore.yaml", V3_0, 3, 0),
        ("oai-examples/v3.0/uspto.json", V3_0, 3, 0),
        ("oai-examples/v3.0/uspto.yaml", V3_0, 3, 0),
        ("oai-examples/v3.1/non-oauth-scopes.json", V3_1, 1, 0),
        ("oai-examples/v3.1/non-oauth-scopes.yaml", V3_1, 1, 0),
        ("oai-examples/v3.1/webhook-example.json", V3_1, 0, 1),
        ("oai-examples/v3.1/webhook-example.yaml", V3_1, 0, 1),
        ("crapi/crapi-openapi-spec.json", V3_0, 44, 0),
    ];
    for (rel, version, operations, webhooks) in table {
        check(rel, *version, *operations, *webhooks);
    }
}

/// What matters of an operation for comparing two imports of the same API.
fn summary(spec: &Spec) -> Vec<String> {
    spec.operations
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let params: Vec<String> = op
                .parameters
                .iter()
                .map(|p| {
                    format!(
                        "{}:{:?}:{}:{:?}:{:?}",
                        p.name, p.location, p.required, p.kind.ty, p.kind.format
                    )
                })
                .collect();
            format!(
                "{} {:?} {:?} {params:?} {:?} {:?}",
                op.method,
                spec.templates_of(i),
                op.operation_id,
                op.responses,
                op.request_content_types
            )
        })
        .collect()
}

#[test]
fn split_petstore_is_the_same_from_json_and_yaml_and_from_a_file() {
    let json = import("oai-examples/v2.0/json/petstore-separate");
    let yaml = import("oai-examples/v2.0/yaml/petstore-separate");
    assert_eq!(summary(&json), summary(&yaml));
    // The single file imports with a wider root (its `../common/Error.yaml` lies above it).
    let opts = ImportOptions {
        root_dir: Some(data("oai-examples/v2.0/yaml/petstore-separate")),
        ..ImportOptions::default()
    };
    let file = data("oai-examples/v2.0/yaml/petstore-separate/spec/swagger.yaml");
    let single = import_path(&file, &opts).expect("imports with root_dir");
    assert_eq!(summary(&single), summary(&yaml));
    assert!(single.problems.is_empty(), "{:?}", single.problems);
    // Parameters come from the sibling file.
    let find = &yaml.operations[0];
    assert_eq!((find.method.as_str(), find.path.as_str()), ("GET", "/pets"));
    let limit = find
        .parameter("limit", ParamIn::Query)
        .expect("limit from parameters.yaml");
    assert_eq!(
        (limit.kind.ty, limit.kind.format.as_deref()),
        (Some(Type::Integer), Some("int32"))
    );
    let tags = find.parameter("tags", ParamIn::Query).expect("tags");
    assert_eq!(tags.kind.ty, Some(Type::Array));
    let add = yaml
        .operations
        .iter()
        .find(|o| o.method == "POST")
        .expect("addPet");
    assert_eq!(add.request_content_types, ["application/json"]);
    assert!(add.request_body_required);
    assert_eq!(
        add.parameter("pet", ParamIn::Body).and_then(|p| p.kind.ty),
        Some(Type::Object)
    );
}

#[test]
fn the_split_file_without_its_root_reports_the_escaping_refs() {
    let file = data("oai-examples/v2.0/yaml/petstore-separate/spec/swagger.yaml");
    let spec = import_path(&file, &ImportOptions::default()).expect("document imports");
    assert_eq!(spec.operations.len(), 4);
    let messages: Vec<String> = spec.problems.iter().map(ToString::to_string).collect();
    assert!(
        spec.problems
            .iter()
            .all(|p| p.effect == Effect::PartIgnored),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with(
            "swagger.yaml#/paths/~1pets/get/responses/default/schema: $ref '../common/Error.yaml' leaves the imported folder"
        )),
        "{messages:#?}"
    );
}

#[test]
fn servers_hosts_and_base_paths() {
    let check = |rel: &str, want: &[(&str, Option<&str>, &str)]| {
        let spec = import(rel);
        let got: Vec<(&str, Option<&str>, &str)> = spec
            .servers
            .iter()
            .map(|s| {
                (
                    s.scheme.as_deref().unwrap_or(""),
                    s.host.as_deref(),
                    s.base_path.as_str(),
                )
            })
            .collect();
        assert_eq!(got, want, "{rel}");
    };
    check(
        "oai-examples/v2.0/json/uber.json",
        &[("https", Some("api.uber.com"), "/v1")],
    );
    check(
        "oai-examples/v2.0/json/petstore.json",
        &[("http", Some("petstore.swagger.io"), "/v1")],
    );
    check(
        "oai-examples/v3.0/petstore.yaml",
        &[("http", Some("petstore.swagger.io"), "/v1")],
    );
    // `{scheme}` is a server variable whose default is https.
    check(
        "oai-examples/v3.0/uspto.yaml",
        &[("https", Some("developer.uspto.gov"), "/ds-api")],
    );
    check("oai-examples/v3.0/link-example.yaml", &[("", None, "")]);
    check(
        "crapi/crapi-openapi-spec.json",
        &[("http", Some("localhost:8888"), "")],
    );
    let uspto = import("oai-examples/v3.0/uspto.json");
    assert_eq!(
        uspto.templates_of(1),
        [(
            Some("developer.uspto.gov"),
            "/ds-api/{dataset}/{version}/fields".to_owned()
        )]
    );
}

#[test]
fn crapi_security() {
    let spec = import("crapi/crapi-openapi-spec.json");
    assert_eq!(
        spec.security_schemes.get("bearerAuth"),
        Some(&SecurityScheme::Http {
            scheme: "bearer".to_owned()
        })
    );
    // Counted in Python: 9 operations say `security: []`, one says `[{}]` (credentials
    // optional) and the other 34 ask for bearerAuth.
    let open: Vec<&str> = spec
        .operations
        .iter()
        .filter(|o| !o.requires_auth())
        .map(|o| o.path.as_str())
        .collect();
    assert_eq!(open.len(), 10, "{open:?}");
    assert!(open.contains(&"/identity/api/auth/login"));
    let login = spec
        .operations
        .iter()
        .find(|o| o.path == "/identity/api/auth/login")
        .expect("login");
    assert!(login.security.is_empty());
    let authed = spec
        .operations
        .iter()
        .filter(|o| o.security == [vec!["bearerAuth".to_owned()]]);
    assert_eq!(authed.count(), 34);
    let qr = spec
        .operations
        .iter()
        .find(|o| o.path == "/workshop/api/shop/return_qr_code");
    assert_eq!(qr.map(|o| o.security.clone()), Some(vec![vec![]]));
}

#[test]
fn non_oauth_scopes_security_and_uspto_parameters() {
    let spec = import("oai-examples/v3.1/non-oauth-scopes.yaml");
    assert_eq!(spec.operations[0].security, [vec!["bearerAuth".to_owned()]]);
    assert!(spec.operations[0].requires_auth());
    let uspto = import("oai-examples/v3.0/uspto.yaml");
    let search = uspto
        .operations
        .iter()
        .find(|o| o.method == "POST")
        .expect("perform-search");
    assert_eq!(search.operation_id.as_deref(), Some("perform-search"));
    assert_eq!(
        search.request_content_types,
        ["application/x-www-form-urlencoded"]
    );
    let version = search.parameter("version", ParamIn::Path).expect("version");
    assert!(version.required);
    assert_eq!(version.kind.ty, Some(Type::String));
    assert_eq!(search.responses, ["200", "404"]);
    assert!(search.documents_status(404) && !search.documents_status(500));
}

#[test]
fn sensor_templates_for_the_petstore() {
    let spec = import("oai-examples/v3.0/petstore-expanded.yaml");
    let hints = sensor_templates(&spec, None);
    let host = "petstore.swagger.io".to_owned();
    assert_eq!(
        hints,
        [
            (host.clone(), "/v2/pets".to_owned()),
            (host, "/v2/pets/{id}".to_owned())
        ]
    );
    let hostless = import("oai-examples/v3.0/link-example.yaml");
    let hints = sensor_templates(&hostless, None);
    assert_eq!(hints.len(), 6);
    assert!(
        hints
            .iter()
            .all(|(h, t)| h.is_empty() && t.starts_with("/2.0/"))
    );
    let pinned = sensor_templates(&hostless, Some("Bitbucket.example.COM"));
    assert!(pinned.iter().all(|(h, _)| h == "bitbucket.example.com"));
}

#[test]
fn a_bundle_finds_its_root_and_imports_like_the_folder() {
    let dir = data("oai-examples/v2.0/yaml/petstore-separate");
    let names = [
        "spec/swagger.yaml",
        "spec/NewPet.yaml",
        "spec/parameters.yaml",
        "spec/Pet.yaml",
        "common/Error.yaml",
    ];
    let contents: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&contents)
        .map(|(n, c)| (*n, c.as_slice()))
        .collect();
    let opts = ImportOptions::default();
    let root = picket_openapi::bundle_root("bundle", &files, &opts.limits).unwrap();
    assert_eq!(root, "spec/swagger.yaml");
    let spec = picket_openapi::import_bundle(&root, &files, &opts).unwrap();
    assert_eq!(spec, import("oai-examples/v2.0/yaml/petstore-separate"));
    let e = picket_openapi::bundle_root("bundle", &files[1..], &opts.limits).unwrap_err();
    assert!(e.to_string().contains("bundle"), "{e}");
    let two = [files[0], ("copy.yaml", files[0].1)];
    assert!(picket_openapi::bundle_root("bundle", &two, &opts.limits).is_err());
}

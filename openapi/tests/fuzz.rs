//! Property tests: whatever the bytes, the importer returns (a spec or an error) and never
//! panics; the matcher answers any path.

use picket_openapi::{ImportOptions, Matcher, import_bundle, import_bytes};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Keys an OpenAPI walker looks at, so random trees reach deep into the walk.
const KEYS: &[&str] = &[
    "openapi",
    "swagger",
    "info",
    "paths",
    "/pets",
    "/pets/{id}",
    "get",
    "post",
    "parameters",
    "name",
    "in",
    "path",
    "query",
    "body",
    "schema",
    "type",
    "items",
    "$ref",
    "responses",
    "200",
    "default",
    "servers",
    "url",
    "variables",
    "security",
    "securitySchemes",
    "securityDefinitions",
    "components",
    "requestBody",
    "content",
    "webhooks",
    "host",
    "basePath",
    "schemes",
    "allOf",
    "deprecated",
    "required",
    "format",
];

/// Strings a walker compares against, plus references of every kind.
const TEXTS: &[&str] = &[
    "2.0",
    "3.0.0",
    "3.1.0",
    "4.0",
    "path",
    "query",
    "header",
    "cookie",
    "body",
    "formData",
    "string",
    "integer",
    "array",
    "object",
    "#/",
    "#/paths",
    "#/components/schemas/A",
    "#/definitions/A",
    "other.yaml#/a",
    "../x.yaml",
    "https://e.com/x",
    "/v1",
    "{x}",
    "https://{h}.e.com/{v}",
    "apiKey",
    "http",
    "oauth2",
    "",
];

fn tree() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(KEYS).prop_map(str::to_owned),
        "[a-z/{}~$#]{0,6}"
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop::sample::select(TEXTS).prop_map(|s| Value::String(s.to_owned())),
        "[ -~]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A random tree under a valid-looking root, so the walk goes past the version check.
fn document() -> impl Strategy<Value = Value> {
    (prop::sample::select(&["2.0", "3.0.3", "3.1.0"][..]), tree(), tree(), tree()).prop_map(
        |(version, paths, components, rest)| {
            let key = if version == "2.0" { "swagger" } else { "openapi" };
            json!({key: version, "paths": paths, "components": components, "definitions": rest.clone(), "parameters": rest})
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_documents_never_panic(doc in document(), other in tree()) {
        let json = serde_json::to_vec(&doc).unwrap();
        let other = serde_json::to_vec(&other).unwrap();
        let files: [(&str, &[u8]); 2] = [("api.json", &json), ("other.yaml", &other)];
        if let Ok(spec) = import_bundle("api.json", &files, &ImportOptions::default()) {
            let m = Matcher::new(&[("a", &spec)]);
            let _ = m.lookup("h", "GET", "/pets/1");
            let _ = picket_openapi::sensor_templates(&spec, None);
        }
    }

    #[test]
    fn random_trees_never_panic(doc in tree()) {
        let json = serde_json::to_vec(&doc).unwrap();
        let _ = import_bytes("api.json", &json, &ImportOptions::default());
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = import_bytes("api.yaml", &bytes, &ImportOptions::default());
        let _ = import_bytes("api.json", &bytes, &ImportOptions::default());
    }

    #[test]
    fn yaml_ish_text_never_panics(text in "(openapi: 3\\.0\\.0\n|paths:\n|  /[a-z{}]{1,4}:\n|    get: \\{\\}\n|&a |\\*a|- |\\[|\\]|\\{|\\}|: |\n| |[a-z$#/]{1,5}){0,40}") {
        let _ = import_bytes("api.yaml", text.as_bytes(), &ImportOptions::default());
    }

    #[test]
    fn lookups_never_panic(path in "(/[a-z{}.]{0,5}){0,8}", method in "[A-Za-z]{0,7}", host in "[A-Za-z.:0-9]{0,12}") {
        let spec = import_bytes(
            "a.yaml",
            b"openapi: 3.0.0\npaths: {'/a/{x}.json': {get: {}}, /a/b: {post: {}}, '/{y}/{z}': {put: {}}}\n",
            &ImportOptions::default(),
        ).unwrap();
        let m = Matcher::new(&[("a", &spec)]);
        let _ = m.lookup(&host, &method, &path);
    }
}

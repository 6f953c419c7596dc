//! Matching observed (host, method, path) to documented operations.

use picket_openapi::{Class, ImportOptions, Match, Matcher, Spec, import_bytes};

fn spec(text: &str) -> Spec {
    import_bytes("api.yaml", text.as_bytes(), &ImportOptions::default()).expect("imports")
}

const PETS: &str = r#"
openapi: 3.0.0
servers: [{url: https://pets.example.com/api}]
paths:
  /pets: {get: {operationId: list}, post: {operationId: create}}
  /pets/mine: {get: {operationId: mine}}
  /pets/{petId}: {get: {operationId: show}, delete: {operationId: remove, deprecated: true}}
  /pets/{petId}/photos/{photoId}: {get: {operationId: photo}}
  /pets/{petId}/photos/latest: {put: {operationId: latest}}
  /files/{name}.json: {get: {operationId: file}}
  /: {get: {operationId: root}}
"#;

const ANYWHERE: &str = r#"
swagger: "2.0"
paths:
  /health: {get: {operationId: health}}
  /pets/mine: {delete: {operationId: forget}}
"#;

/// Looks up `(host, method, path)` and compares the class and the operation id (the one
/// matched, or for drift the one of the matching path).
fn check(m: &Matcher, host: &str, method: &str, path: &str, class: Class, id: Option<&str>) {
    let got = m.lookup(host, method, path);
    let found_id = match got {
        Match::Operation(h) | Match::MethodNotDocumented(h) => h.operation_id,
        Match::NotDocumented => None,
    };
    assert_eq!(
        (got.class(), found_id),
        (class, id),
        "{host} {method} {path}: {got:?}"
    );
}

#[test]
fn lookups() {
    let pets = spec(PETS);
    let anywhere = spec(ANYWHERE);
    let m = Matcher::new(&[("pets", &pets), ("ops", &anywhere)]);
    let h = "pets.example.com";
    use Class::*;
    let table: &[(&str, &str, &str, Class, Option<&str>)] = &[
        (h, "GET", "/api/pets", Documented, Some("list")),
        (h, "POST", "/api/pets?limit=5", Documented, Some("create")),
        (h, "GET", "/api/pets/", Documented, Some("list")),
        // Literal beats parameter; concrete values and sensor placeholders both match `{petId}`.
        (h, "GET", "/api/pets/mine", Documented, Some("mine")),
        (h, "GET", "/api/pets/42", Documented, Some("show")),
        (h, "GET", "/api/pets/{id}", Documented, Some("show")),
        (
            h,
            "GET",
            "/api/pets/{id}/photos/{id}",
            Documented,
            Some("photo"),
        ),
        (
            h,
            "GET",
            "/api/pets/7/photos/latest",
            Documented,
            Some("photo"),
        ),
        (
            h,
            "PUT",
            "/api/pets/7/photos/latest",
            Documented,
            Some("latest"),
        ),
        // A placeholder never matches a literal segment.
        (h, "PUT", "/api/pets/7/photos/{id}", Drift, Some("photo")),
        (h, "GET", "/api/files/report.json", Documented, Some("file")),
        (h, "GET", "/api/files/{id}", Documented, Some("file")),
        (h, "GET", "/api/files/report.xml", Shadow, None),
        (h, "GET", "/api", Documented, Some("root")),
        // Deprecated and called: zombie.
        (h, "DELETE", "/api/pets/42", Zombie, Some("remove")),
        // The path is documented, the method is not: drift on the most specific path.
        (h, "PATCH", "/api/pets/42", Drift, Some("show")),
        (h, "POST", "/api/pets/mine", Drift, Some("mine")),
        // The host-less spec documents DELETE /pets/mine on every host, but not under /api.
        (h, "DELETE", "/api/pets/mine", Zombie, Some("remove")),
        (
            "other.example.com",
            "DELETE",
            "/pets/mine",
            Documented,
            Some("forget"),
        ),
        (
            "other.example.com",
            "GET",
            "/pets/mine",
            Drift,
            Some("forget"),
        ),
        // Host-less operations match on any host, including the spec's.
        (h, "GET", "/health", Documented, Some("health")),
        (
            "PETS.example.com.",
            "GET",
            "/health",
            Documented,
            Some("health"),
        ),
        // Undocumented: shadow.
        (h, "GET", "/api/users/1", Shadow, None),
        (h, "GET", "/pets", Shadow, None),
        ("other.example.com", "GET", "/api/pets", Shadow, None),
        (h, "GET", "/api/pets/1/photos/2/extra", Shadow, None),
    ];
    for (host, method, path, class, id) in table {
        check(&m, host, method, path, *class, *id);
    }
    assert_eq!(m.len(), 11);
}

#[test]
fn hits_name_the_api_and_operation() {
    let pets = spec(PETS);
    let m = Matcher::new(&[("pets", &pets)]);
    let Match::Operation(hit) = m.lookup("pets.example.com", "get", "/api/pets/9") else {
        panic!("documented");
    };
    assert_eq!(
        (hit.api, hit.spec, hit.template),
        ("pets", 0, "/api/pets/{petId}")
    );
    assert_eq!(
        pets.operations[hit.operation].operation_id.as_deref(),
        Some("show")
    );
    let deep = "/a".repeat(100);
    assert_eq!(
        m.lookup("pets.example.com", "GET", &deep),
        Match::NotDocumented
    );
}

#[test]
fn duplicates_keep_the_first() {
    let a = spec("openapi: 3.0.0\npaths: {/x: {get: {operationId: first}}}\n");
    let b = spec("openapi: 3.0.0\npaths: {/x: {get: {operationId: second}}}\n");
    let m = Matcher::new(&[("a", &a), ("b", &b)]);
    assert_eq!(m.duplicates(), 1);
    check(&m, "h", "GET", "/x", Class::Documented, Some("first"));
}

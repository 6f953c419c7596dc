//! Faulty and hostile documents: each fails (or is reported) with the file and JSON pointer
//! of the fault, never a panic, and a fault inside one operation leaves the others imported.

use std::time::{Duration, Instant};

use picket_openapi::{
    Effect, ImportError, ImportOptions, Limits, Spec, Type, import_bundle, import_bytes,
    import_path,
};

/// What an import of a table row must give.
enum Want<'a> {
    /// The import fails with this message.
    Fails(&'a str),
    /// The import succeeds with `operations` operations and these problem messages.
    Imports {
        operations: usize,
        problems: &'a [&'a str],
    },
}

fn opts() -> ImportOptions {
    ImportOptions::default()
}

/// Imports `files` (the first is the root) and compares with `want`.
fn check(files: &[(&str, &str)], limits: Limits, want: Want<'_>) -> Option<Spec> {
    let bundle: Vec<(&str, &[u8])> = files.iter().map(|(n, t)| (*n, t.as_bytes())).collect();
    let opts = ImportOptions { limits, ..opts() };
    let got = import_bundle(files[0].0, &bundle, &opts);
    match (got, want) {
        (Err(e), Want::Fails(msg)) => {
            assert_eq!(e.to_string(), msg);
            None
        }
        (
            Ok(spec),
            Want::Imports {
                operations,
                problems,
            },
        ) => {
            let found: Vec<String> = spec.problems.iter().map(ToString::to_string).collect();
            assert_eq!(found, problems, "problems of {}", files[0].0);
            assert_eq!(
                spec.operations.len(),
                operations,
                "operations of {}",
                files[0].0
            );
            Some(spec)
        }
        (Ok(spec), Want::Fails(msg)) => panic!("expected '{msg}', imported {spec:#?}"),
        (Err(e), Want::Imports { .. }) => panic!("expected an import, failed: {e}"),
    }
}

const PETS: &str = r#"
openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /pets:
    get:
      parameters:
        - $ref: '#/components/parameters/nope'
      responses: {"200": {description: ok}}
    post:
      responses: {"201": {description: created}}
  /pets/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses: {"200": {description: ok}}
"#;

#[test]
fn a_missing_ref_skips_its_operation_only() {
    check(
        &[("petstore.yaml", PETS)],
        Limits::default(),
        Want::Imports {
            operations: 2,
            problems: &[
                "petstore.yaml#/paths/~1pets/get/parameters/0: $ref '#/components/parameters/nope' not found (operation skipped)",
            ],
        },
    );
}

#[test]
fn document_level_faults() {
    let d = Limits::default;
    let fails = |name: &str, text: &str, msg: &str| check(&[(name, text)], d(), Want::Fails(msg));
    fails(
        "api.yaml",
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: []\n",
        "api.yaml#/paths: expected an object mapping paths to path items, found an array",
    );
    fails(
        "api.yaml",
        "openapi: 4.0.0\npaths: {}\n",
        "api.yaml#/openapi: unsupported version: expected swagger 2.0 or openapi 3.0.x/3.1.x, found openapi 4.0.0",
    );
    fails(
        "api.json",
        r#"{"swagger": "1.2", "paths": {}}"#,
        "api.json#/swagger: unsupported version: expected swagger 2.0 or openapi 3.0.x/3.1.x, found swagger 1.2",
    );
    fails(
        "api.yaml",
        "info: {title: t}\npaths: {}\n",
        "api.yaml#: unsupported version: expected swagger 2.0 or openapi 3.0.x/3.1.x, found no swagger or openapi field",
    );
    fails(
        "api.json",
        "[1, 2]",
        "api.json#: expected an object (the openapi document), found an array",
    );
    fails(
        "api.json",
        "{\"openapi\": ",
        "api.json: invalid json: EOF while parsing a value at line 1 column 12",
    );
    fails(
        "api.yaml",
        "openapi: 3.0.0\ninfo: [1\n",
        "api.yaml: invalid yaml: unclosed bracket '[' at line 2, column 7",
    );
    fails(
        "api.yaml",
        "openapi: 3.0.0\ninfo: 7\n",
        "api.yaml#/info: expected an object, found a number",
    );
}

#[test]
fn operation_level_faults_are_problems() {
    let doc = r#"
swagger: "2.0"
info: {title: t, version: "1"}
securityDefinitions:
  key: {type: apiKey, name: X-Key, in: header}
security: [{key: []}]
paths:
  pets: {get: {responses: {"200": {description: ok}}}}
  /a/{id: {get: {responses: {"200": {description: ok}}}}
  /b: {get: {parameters: {}, responses: {"200": {description: ok}}}}
  /c: {get: {parameters: [{name: q, in: elsewhere}], responses: {"200": {description: ok}}}}
  /d: {get: {responses: [200]}}
  /e: {get: {security: [{nokey: []}], responses: {"200": {description: ok}}}}
  /f: {get: "nothing"}
  /g: {get: {responses: {"200": {description: ok}}}}
"#;
    check(
        &[("api.yaml", doc)],
        Limits::default(),
        Want::Imports {
            operations: 2,
            problems: &[
                "api.yaml#/paths/~1a~1{id: expected '{name}' parameters in the path template, found '{id' (operation skipped)",
                "api.yaml#/paths/~1b/get/parameters: expected an array of parameters, found an object (operation skipped)",
                "api.yaml#/paths/~1c/get/parameters/0/in: expected 'in' to be path, query, header, body or formData, found 'elsewhere' (operation skipped)",
                "api.yaml#/paths/~1d/get/responses: expected an object mapping status codes to responses, found an array (operation skipped)",
                "api.yaml#/paths/~1e/get/security/0/nokey: expected a defined security scheme, found 'nokey' (ignored)",
                "api.yaml#/paths/~1f/get: expected an operation object, found a string (operation skipped)",
                "api.yaml#/paths/pets: expected a path starting with '/', found 'pets' (operation skipped)",
            ],
        },
    );
}

#[test]
fn references_stay_inside_the_folder() {
    let doc = r#"
openapi: 3.0.0
info: {title: t, version: "1"}
paths:
  /up: {get: {parameters: [{$ref: '../secret.yaml#/p'}], responses: {}}}
  /abs: {get: {parameters: [{$ref: '/etc/passwd'}], responses: {}}}
  /http: {get: {parameters: [{$ref: 'https://evil.example.com/p.yaml#/p'}], responses: {}}}
  /gone: {get: {parameters: [{$ref: 'missing.yaml#/p'}], responses: {}}}
  /ok: {get: {parameters: [{$ref: 'sub/params.yaml#/limit'}], responses: {}}}
"#;
    let params = "limit: {name: limit, in: query, schema: {$ref: '../schemas.yaml#/Limit'}}\n";
    let schemas = "Limit: {type: integer, format: int32}\n";
    let spec = check(
        &[
            ("api.yaml", doc),
            ("sub/params.yaml", params),
            ("schemas.yaml", schemas),
        ],
        Limits::default(),
        Want::Imports {
            operations: 1,
            problems: &[
                "api.yaml#/paths/~1abs/get/parameters/0: $ref '/etc/passwd' leaves the imported folder: expected a relative path inside it (operation skipped)",
                "api.yaml#/paths/~1gone/get/parameters/0: $ref 'missing.yaml#/p': missing.yaml: cannot read: no such file in the bundle (operation skipped)",
                "api.yaml#/paths/~1http/get/parameters/0: $ref 'https://evil.example.com/p.yaml#/p' is remote: expected a local reference (urls are never fetched) (operation skipped)",
                "api.yaml#/paths/~1up/get/parameters/0: $ref '../secret.yaml#/p' leaves the imported folder: expected a relative path inside it (operation skipped)",
            ],
        },
    );
    let spec = spec.expect("imported");
    let limit = &spec.operations[0].parameters[0];
    assert_eq!(
        (limit.kind.ty, limit.kind.format.as_deref()),
        (Some(Type::Integer), Some("int32"))
    );
}

#[test]
fn cyclic_references_resolve() {
    let doc = r#"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /nodes:
    post:
      parameters:
        - {name: filter, in: query, content: {application/json: {schema: {$ref: '#/components/schemas/Loop'}}}}
        - {name: tree, in: header, schema: {$ref: '#/components/schemas/Node'}}
      requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/Node'}}}}
      responses: {"200": {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Ping'}}}}}
components:
  schemas:
    Node: {type: object, properties: {children: {type: array, items: {$ref: '#/components/schemas/Node'}}}}
    Loop: {$ref: '#/components/schemas/Loop2'}
    Loop2: {allOf: [{$ref: '#/components/schemas/Loop'}]}
    Ping: {properties: {pong: {$ref: '#/components/schemas/Pong'}}}
    Pong: {properties: {ping: {$ref: '#/components/schemas/Ping'}}}
"#;
    let spec = check(
        &[("api.yaml", doc)],
        Limits::default(),
        Want::Imports {
            operations: 1,
            problems: &[],
        },
    )
    .expect("imported");
    let op = &spec.operations[0];
    assert!(op.parameters[0].kind.cyclic, "{:?}", op.parameters[0]);
    assert_eq!(op.parameters[0].kind.ty, None);
    assert_eq!(op.parameters[1].kind.ty, Some(Type::Object));
    let cycles: Vec<String> = spec.cycles.iter().map(ToString::to_string).collect();
    assert_eq!(
        cycles,
        [
            "api.yaml#/components/schemas/Loop2/allOf/0",
            "api.yaml#/components/schemas/Node/properties/children/items",
            "api.yaml#/components/schemas/Pong/properties/ping",
        ]
    );
}

#[test]
fn reference_chains_are_bounded() {
    let mut doc = String::from(
        "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /a: {get: {parameters: [{$ref: '#/components/parameters/p0'}], responses: {}}}\ncomponents:\n  parameters:\n",
    );
    for i in 0..10 {
        doc.push_str(&format!(
            "    p{i}: {{$ref: '#/components/parameters/p{}'}}\n",
            i + 1
        ));
    }
    doc.push_str("    p10: {name: q, in: query}\n");
    let limits = Limits {
        max_ref_depth: 5,
        ..Limits::default()
    };
    check(
        &[("api.yaml", &doc)],
        limits,
        Want::Imports {
            operations: 0,
            problems: &[
                "api.yaml#/paths/~1a/get/parameters/0: $ref '#/components/parameters/p0': expected at most 5 chained references (operation skipped)",
            ],
        },
    );
    check(
        &[("api.yaml", &doc)],
        Limits::default(),
        Want::Imports {
            operations: 1,
            problems: &[],
        },
    );
    let looped = doc.replace(
        "p10: {name: q, in: query}",
        "p10: {$ref: '#/components/parameters/p3'}",
    );
    check(
        &[("api.yaml", &looped)],
        Limits::default(),
        Want::Imports {
            operations: 0,
            problems: &[
                "api.yaml#/paths/~1a/get/parameters/0: $ref '#/components/parameters/p0': references form a cycle at '#/components/parameters/p3' (operation skipped)",
            ],
        },
    );
}

#[test]
fn yaml_alias_bombs_fail_fast() {
    let mut doc = String::from(
        "openapi: 3.0.0\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        doc.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    let start = Instant::now();
    let e = import_bytes("bomb.yaml", doc.as_bytes(), &opts()).expect_err("a bomb");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("bomb.yaml: invalid yaml:") && msg.contains("alias replay limit exceeded"),
        "{msg}"
    );
    // A long string repeated through aliases is bounded too.
    let long = format!(
        "openapi: 3.0.0\na: &a \"{}\"\nb: [{}]\n",
        "x".repeat(100_000),
        vec!["*a"; 200].join(",")
    );
    let limits = Limits {
        max_file_bytes: 1 << 20,
        ..Limits::default()
    };
    let e = import_bytes(
        "long.yaml",
        long.as_bytes(),
        &ImportOptions { limits, ..opts() },
    );
    assert!(e.is_err_and(|e| e.to_string().starts_with("long.yaml: invalid yaml:")));
}

#[test]
fn size_and_depth_limits() {
    let limits = Limits {
        max_file_bytes: 64,
        ..Limits::default()
    };
    check(
        &[(
            "big.yaml",
            &format!("openapi: 3.0.0\ninfo: {{title: '{}'}}\n", "x".repeat(100)),
        )],
        limits,
        Want::Fails("big.yaml: file too large: 133 bytes, expected at most 64"),
    );
    let deep = format!(
        "{{\"openapi\": \"3.0.0\", \"x\": {}1{}}}",
        "[".repeat(110),
        "]".repeat(110)
    );
    check(
        &[("deep.json", &deep)],
        Limits::default(),
        Want::Fails(&format!(
            "deep.json#/x{}: nesting deeper than 100 levels",
            "/0".repeat(99)
        )),
    );
    let deeper = format!(
        "{{\"openapi\": \"3.0.0\", \"x\": {}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let e = import_bytes("deeper.json", deeper.as_bytes(), &opts()).expect_err("too deep");
    assert!(
        e.to_string()
            .starts_with("deeper.json: invalid json: recursion limit exceeded"),
        "{e}"
    );
    let yaml = format!(
        "openapi: 3.0.0\nx: {}1{}\n",
        "[".repeat(150),
        "]".repeat(150)
    );
    let e = import_bytes("deep.yaml", yaml.as_bytes(), &opts()).expect_err("too deep");
    assert!(e.to_string().starts_with("deep.yaml: invalid yaml:"), "{e}");
    let ops: String = (0..5)
        .map(|i| format!("  /p{i}: {{get: {{responses: {{}}}}}}\n"))
        .collect();
    let doc = format!("openapi: 3.0.0\npaths:\n{ops}");
    check(
        &[("many.yaml", &doc)],
        Limits {
            max_operations: 4,
            ..Limits::default()
        },
        Want::Fails("many.yaml#/paths/~1p4/get: too many operations: expected at most 4"),
    );
}

#[test]
fn file_limits_across_references() {
    let root = "openapi: 3.0.0\npaths:\n  /a: {get: {parameters: [{$ref: 'p1.yaml#/p'}], responses: {}}}\n";
    let p1 = "p: {$ref: 'p2.yaml#/p'}\n";
    let p2 = "p: {name: q, in: query}\n";
    let files = [("api.yaml", root), ("p1.yaml", p1), ("p2.yaml", p2)];
    check(
        &files,
        Limits::default(),
        Want::Imports {
            operations: 1,
            problems: &[],
        },
    );
    check(
        &files,
        Limits {
            max_files: 2,
            ..Limits::default()
        },
        Want::Fails("p2.yaml: too many files: expected at most 2"),
    );
    check(
        &files,
        Limits {
            max_total_bytes: 100,
            ..Limits::default()
        },
        Want::Fails("p1.yaml: import too large: more than 100 bytes in all files"),
    );
    let bad = [("api.yaml", root), ("p1.yaml", "p: [\n")];
    check(
        &bad,
        Limits::default(),
        Want::Imports {
            operations: 0,
            problems: &[
                "api.yaml#/paths/~1a/get/parameters/0: $ref 'p1.yaml#/p': p1.yaml: invalid yaml: unclosed bracket '[' at line 1, column 4 (operation skipped)",
            ],
        },
    );
}

#[test]
fn folders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "api/openapi.yaml",
        "openapi: 3.0.0\npaths:\n  /a: {get: {parameters: [{$ref: 'p.yaml#/p'}], responses: {}}}\n",
    );
    write("api/p.yaml", "p: {name: q, in: query}\n");
    write("secret.yaml", "p: {name: stolen, in: query}\n");
    let spec = import_path(&dir.path().join("api"), &opts()).expect("folder imports");
    assert_eq!(spec.operations[0].parameters[0].name, "q");
    // A link inside the folder pointing outside it is refused.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(
            dir.path().join("secret.yaml"),
            dir.path().join("api/link.yaml"),
        )
        .expect("symlink");
        write(
            "api/openapi.yaml",
            "openapi: 3.0.0\npaths:\n  /a: {get: {parameters: [{$ref: 'link.yaml#/p'}], responses: {}}}\n",
        );
        let spec = import_path(&dir.path().join("api/openapi.yaml"), &opts()).expect("imports");
        let problems: Vec<String> = spec.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "openapi.yaml#/paths/~1a/get/parameters/0: $ref 'link.yaml#/p': link.yaml: cannot read: resolves outside the imported folder (operation skipped)"
            ]
        );
    }
    write("api/other.json", "{\"swagger\": \"2.0\", \"paths\": {}}");
    let e = import_path(&dir.path().join("api"), &opts()).expect_err("two roots");
    assert!(
        matches!(e, ImportError::RootDocument { ref found, .. } if found == "openapi.yaml, other.json"),
        "{e}"
    );
    let empty = tempfile::tempdir().expect("tempdir");
    let e = import_path(empty.path(), &opts()).expect_err("no root");
    assert!(
        e.to_string()
            .ends_with("expected one openapi or swagger root document, found none"),
        "{e}"
    );
}

#[test]
fn effects_are_reported() {
    let doc = "openapi: 3.0.0\nservers: [{url: 'https://{region}.example.com'}]\npaths: {}\n";
    let spec = check(&[("api.yaml", doc)], Limits::default(), Want::Imports {
        operations: 0,
        problems: &["api.yaml#/servers/0/variables: expected a default for server variable 'region', found none (ignored)"],
    })
    .expect("imported");
    assert_eq!(spec.problems[0].effect, Effect::PartIgnored);
    assert_eq!(spec.servers.len(), 1);
    assert_eq!(spec.servers[0].host, None);
}

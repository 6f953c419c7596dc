//! API specs end to end: `picketctl specs import` → controller → the running sensor's
//! templating (by directive) → inventory classification (documented, shadow, zombie, drift),
//! unused operations, malformed imports, roles, delete and a controller restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use picket_proto::v1 as pb;
use picket_tests::*;
use std::path::PathBuf;
use std::time::Duration;

const PETS: &str = "petstore.swagger.io";
const SHOP: &str = "shop.example.com";

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

async fn specs(url: &str, token: &str) -> pb::specs_client::SpecsClient<Authed> {
    pb::specs_client::SpecsClient::new(channel(url, Some(token)).await)
}

fn line(i: usize, host: &str, method: &str, uri: &str, status: u16) -> String {
    json_line(
        1_795_219_200.0 + i as f64,
        host,
        method,
        uri,
        status,
        "81.2.69.10",
    )
}

fn class_of(eps: &[pb::Endpoint], host: &str, method: &str, path: &str) -> Option<pb::SpecClass> {
    eps.iter()
        .find(|e| e.host == host && e.method == method && e.path == path)
        .map(|e| e.spec_status.clone().unwrap_or_default().class())
}

/// Appends a request to `/v1/pets/<n>` until the inventory lists `want` for it: the sensor
/// only templates by the spec once its directive arrived, so the first requests may not be.
async fn until_pets_templated_as(stack: &Stack, log: &std::path::Path, n: &mut usize, want: &str) {
    let h = stack.clone_handle();
    eventually(
        Duration::from_secs(30),
        &format!("/v1/pets/… as {want}"),
        || {
            *n += 1;
            append(
                log,
                &[line(
                    *n,
                    PETS,
                    "GET",
                    &format!("/v1/pets/{}", 100 + *n),
                    200,
                )],
            );
            let h = h.clone();
            async move {
                let eps = all_endpoints(&h.url, &h.reader_token).await;
                eps.iter().any(|e| e.path == want).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_drive_sensor_templates_and_classify_the_inventory() {
    let stack = Stack::start().await;
    let url = stack.url();
    let log = stack.path("access.json");
    append(&log, &[]);
    let _sensor = stack.file_sensor("edge-1", &log);

    // The 3.0 petstore (servers: http://petstore.swagger.io/v1), sent with its folder.
    let out = picketctl(
        &url,
        &stack.admin_token,
        &[
            "-o",
            "json",
            "specs",
            "import",
            repo("openapi/tests/data/oai-examples/v3.0/petstore.yaml")
                .to_str()
                .unwrap(),
            "--api",
            "pets",
        ],
    );
    let imported: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(imported["spec"]["operations"], 3, "{out}");
    assert_eq!(imported["spec"]["templates"], 2, "{out}");
    assert_eq!(imported["replaced"], false);

    // The running sensor's templating follows the spec: `{petId}`, not its own `{id}`.
    let mut n = 0;
    until_pets_templated_as(&stack, &log, &mut n, "/v1/pets/{petId}").await;

    // A folder holding one root document: the shop (one deprecated operation).
    let shop_dir = stack.path("shop-spec");
    std::fs::create_dir_all(&shop_dir).unwrap();
    std::fs::copy(
        repo("tests/data/openapi/shop.yaml"),
        shop_dir.join("shop.yaml"),
    )
    .unwrap();
    picketctl(
        &url,
        &stack.admin_token,
        &[
            "specs",
            "import",
            shop_dir.to_str().unwrap(),
            "--api",
            "shop",
        ],
    );

    let traffic = [
        (PETS, "GET", "/v1/pets", 200),
        (PETS, "DELETE", "/v1/pets/7", 204),
        (PETS, "GET", "/v1/admin/stats", 200),
        (SHOP, "GET", "/api/v1/orders/42", 200),
        (SHOP, "GET", "/api/v1/cart", 200),
        (SHOP, "PUT", "/api/v1/search", 200),
        (SHOP, "GET", "/health", 200),
    ];
    let lines: Vec<String> = traffic
        .iter()
        .enumerate()
        .map(|(i, (h, m, u, s))| line(1_000 + i, h, m, u, *s))
        .collect();
    append(&log, &lines);
    let eps = stack
        .wait_total_calls(n as u64 + traffic.len() as u64)
        .await;
    use pb::SpecClass::*;
    for (host, method, path, want) in [
        (PETS, "GET", "/v1/pets/{petId}", Documented),
        (PETS, "GET", "/v1/pets", Documented),
        (PETS, "DELETE", "/v1/pets/{petId}", Drift),
        (PETS, "GET", "/v1/admin/stats", Shadow),
        (SHOP, "GET", "/api/v1/orders/{orderId}", Zombie),
        (SHOP, "GET", "/api/v1/cart", Documented),
        (SHOP, "PUT", "/api/v1/search", Drift),
        (SHOP, "GET", "/health", Shadow),
    ] {
        assert_eq!(
            class_of(&eps, host, method, path),
            Some(want),
            "{method} {host}{path} in {:?}",
            calls_by_endpoint(&eps)
        );
    }
    let pet = eps.iter().find(|e| e.path == "/v1/pets/{petId}").unwrap();
    let status = pet.spec_status.clone().unwrap();
    assert_eq!(
        (status.api.as_str(), status.operation_id.as_str()),
        ("pets", "showPetById")
    );

    // The table and JSON renderings carry the status.
    let table = picketctl(&url, &stack.reader_token, &["endpoints", "list"]);
    assert!(
        table.contains("SPEC") && table.contains("zombie (shop)"),
        "{table}"
    );
    let listed: serde_json::Value = serde_json::from_str(&picketctl(
        &url,
        &stack.reader_token,
        &["-o", "json", "endpoints", "list", "--host", SHOP],
    ))
    .unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["spec_status"]["class"] == "zombie")
    );

    // Unused operations: createPets (POST /pets) was never called.
    let detail: serde_json::Value = serde_json::from_str(&picketctl(
        &url,
        &stack.reader_token,
        &["-o", "json", "specs", "show", "pets"],
    ))
    .unwrap();
    let seen: Vec<(String, bool)> = detail["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["operation_id"].as_str().unwrap().to_owned(),
                o["seen"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("listPets".to_owned(), true),
            ("createPets".to_owned(), false),
            ("showPetById".to_owned(), true)
        ]
    );
    assert_eq!(detail["usage_complete"], true);
    let list = picketctl(&url, &stack.reader_token, &["specs", "list"]);
    assert!(
        list.contains("pets") && list.contains("shop") && list.contains("Example Shop"),
        "{list}"
    );

    // Malformed documents fail with the file and pointer; readers may not import.
    let mut admin = specs(&url, &stack.admin_token).await;
    let bad = |files: Vec<(&str, &str)>| pb::ImportSpecRequest {
        api: "bad".into(),
        files: files
            .into_iter()
            .map(|(n, c)| pb::SpecFile {
                name: n.into(),
                content: c.as_bytes().to_vec(),
            })
            .collect(),
        ..Default::default()
    };
    let e = admin
        .import_spec(bad(vec![(
            "api/bad.yaml",
            "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths: [1]\n",
        )]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("api/bad.yaml#/paths"),
        "{}",
        e.message()
    );
    let e = admin
        .import_spec(bad(vec![(
            "v.yaml",
            "openapi: 4.0.0\ninfo: {title: x, version: '1'}\npaths: {}\n",
        )]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("v.yaml#/openapi"), "{}", e.message());
    // A missing ref fails its operation only: reported, kept with the spec, the rest imported.
    let partial = admin
        .import_spec(pb::ImportSpecRequest {
            root: "root.yaml".into(),
            ..bad(vec![(
                "root.yaml",
                "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths:\n  /gone: {get: {parameters: [{$ref: 'missing.yaml#/p'}], responses: {}}}\n  /here: {get: {responses: {}}}\n",
            )])
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(partial.spec.unwrap().operations, 1);
    assert_eq!(partial.problems.len(), 1);
    assert!(
        partial.problems[0].message.contains("missing.yaml"),
        "{:?}",
        partial.problems
    );
    assert_eq!(
        partial.problems[0].location,
        "root.yaml#/paths/~1gone/get/parameters/0"
    );
    let kept = admin
        .get_spec(pb::GetSpecRequest { api: "bad".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.problems, partial.problems);
    admin
        .delete_spec(pb::DeleteSpecRequest { api: "bad".into() })
        .await
        .unwrap();
    let e = admin
        .import_spec(bad(vec![("../escape.yaml", "openapi: 3.0.0")]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = specs(&url, &stack.reader_token)
        .await
        .import_spec(bad(vec![("a.yaml", "openapi: 3.0.0")]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    let names: Vec<String> = admin
        .list_specs(pb::ListSpecsRequest {})
        .await
        .unwrap()
        .into_inner()
        .specs
        .into_iter()
        .map(|s| s.api)
        .collect();
    assert_eq!(names, ["pets", "shop"], "failed imports store nothing");

    // Delete: the sensor gets the reduced set and templates by its own rules again; the
    // endpoints the spec documented are now shadow (the shop spec remains).
    picketctl(&url, &stack.admin_token, &["specs", "delete", "pets"]);
    until_pets_templated_as(&stack, &log, &mut n, "/v1/pets/{id}").await;
    let eps = all_endpoints(&url, &stack.reader_token).await;
    assert_eq!(
        class_of(&eps, PETS, "GET", "/v1/pets/{petId}"),
        Some(Shadow)
    );
    assert_eq!(
        class_of(&eps, SHOP, "GET", "/api/v1/orders/{orderId}"),
        Some(Zombie)
    );
    let e = admin
        .get_spec(pb::GetSpecRequest { api: "pets".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_survive_a_restart_and_reach_sensors_that_connect_later() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("controller");
    let mut controller = ControllerProc::start(&data, "127.0.0.1:0");
    let admin_token = controller.admin_token();
    picketctl(
        &controller.url(),
        &admin_token,
        &[
            "specs",
            "import",
            repo("openapi/tests/data/oai-examples/v2.0/yaml/petstore-separate")
                .to_str()
                .unwrap(),
            "--api",
            "pets",
        ],
    );
    controller.proc.terminate();
    let controller = ControllerProc::start(&data, "127.0.0.1:0");
    let url = controller.url();
    let listed: serde_json::Value = serde_json::from_str(&picketctl(
        &url,
        &admin_token,
        &["-o", "json", "specs", "list"],
    ))
    .unwrap();
    assert_eq!(listed[0]["api"], "pets");
    assert_eq!(listed[0]["openapi_version"], "2.0");
    assert_eq!(listed[0]["operations"], 4);

    // A sensor connecting after the import (and the restart) templates by the spec at once.
    let sensor_token = create_token(&url, &admin_token, "", pb::Role::Sensor).await;
    let log = dir.path().join("access.json");
    append(&log, &[]);
    let sensor_data = dir.path().join("sensor");
    let _sensor = SensorProc::start(
        &url,
        &sensor_token,
        &[
            "--nginx-log",
            log.to_str().unwrap(),
            "--id",
            "late",
            "--data-dir",
            sensor_data.to_str().unwrap(),
        ],
    );
    let mut n = 0;
    // A name, which the sensor's own rules keep literal: only the spec's template covers it.
    eventually(
        Duration::from_secs(30),
        "/api/pets/{id} from the spec",
        || {
            n += 1;
            append(&log, &[line(n, PETS, "GET", "/api/pets/rex", 200)]);
            let (url, token) = (url.clone(), admin_token.clone());
            async move {
                let eps = all_endpoints(&url, &token).await;
                eps.iter()
                    .find(|e| e.path == "/api/pets/{id}")
                    .and_then(|e| e.spec_status.clone())
                    .filter(|s| s.class() == pb::SpecClass::Documented)
            }
        },
    )
    .await;
}

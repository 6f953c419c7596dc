//! What the walk puts into the model: merged parameters, effective security and servers,
//! deprecation, webhooks, 2.0 bodies and forms.

use picket_openapi::{ImportOptions, ParamIn, SecurityScheme, Spec, Type, import_bytes};

fn import(name: &str, text: &str, opts: &ImportOptions) -> Spec {
    let spec = import_bytes(name, text.as_bytes(), opts).expect("imports");
    let problems: Vec<String> = spec.problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    spec
}

const V3: &str = r#"
openapi: 3.0.3
info: {title: Shop, version: 2.1}
servers:
  - url: https://{env}.shop.example.com:443/api/v1/
    variables: {env: {default: prod, enum: [prod, test]}}
security: [{key: []}, {oauth: [read]}]
paths:
  /items/{id}:
    parameters:
      - {name: id, in: path, schema: {type: string, format: uuid}}
      - {name: X-Trace, in: header, schema: {type: string}}
    servers: [{url: https://items.example.com/v2}]
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer, format: int64}}
        - {name: fields, in: query, schema: {type: [array, "null"], items: {type: string}}}
        - {name: session, in: cookie, schema: {type: string}}
      responses: {"200": {description: ok}, 4XX: {description: client error}, default: {description: other}}
    delete:
      deprecated: true
      security: []
      servers: [{url: /internal}]
      responses: {"204": {description: gone}}
  /items:
    post:
      requestBody:
        $ref: '#/components/requestBodies/Item'
      responses: {"201": {description: created}}
components:
  requestBodies:
    Item: {required: true, content: {application/json: {}, application/xml: {}}}
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
    oauth: {type: oauth2, flows: {clientCredentials: {tokenUrl: /t, scopes: {}}}}
    oidc: {type: openIdConnect, openIdConnectUrl: https://id.example.com/.well-known/openid-configuration}
    basic: {type: http, scheme: Basic}
"#;

#[test]
fn openapi_3_operations() {
    let spec = import("shop.yaml", V3, &ImportOptions::default());
    assert_eq!(
        (spec.title.as_str(), spec.version.as_str()),
        ("Shop", "2.1")
    );
    assert_eq!(spec.operations.len(), 3);
    let get = &spec.operations[1];
    assert_eq!(
        (get.method.as_str(), get.path.as_str()),
        ("GET", "/items/{id}")
    );
    // The operation's `id` replaced the path item's; the header stayed.
    let names: Vec<(&str, ParamIn)> = get
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.location))
        .collect();
    assert_eq!(
        names,
        [
            ("X-Trace", ParamIn::Header),
            ("id", ParamIn::Path),
            ("fields", ParamIn::Query),
            ("session", ParamIn::Cookie)
        ]
    );
    let id = get.parameter("id", ParamIn::Path).expect("id");
    assert_eq!(
        (id.kind.ty, id.kind.format.as_deref()),
        (Some(Type::Integer), Some("int64"))
    );
    assert_eq!(
        get.parameter("fields", ParamIn::Query)
            .and_then(|p| p.kind.ty),
        Some(Type::Array)
    );
    assert_eq!(get.responses, ["200", "4XX", "default"]);
    assert!(get.documents_status(404) && get.documents_status(500));
    assert_eq!(
        get.security,
        [vec!["key".to_owned()], vec!["oauth".to_owned()]]
    );
    assert!(get.requires_auth() && !get.deprecated);
    // Path-level servers apply to GET; DELETE has its own (relative: any host).
    assert_eq!(
        spec.templates_of(1),
        [(Some("items.example.com"), "/v2/items/{id}".to_owned())]
    );
    let delete = &spec.operations[2];
    assert!(delete.deprecated && delete.security.is_empty() && !delete.requires_auth());
    assert_eq!(
        spec.templates_of(2),
        [(None, "/internal/items/{id}".to_owned())]
    );
    // Root servers: variables substituted, default port and trailing slash dropped.
    let post = &spec.operations[0];
    assert_eq!(
        spec.templates_of(0),
        [(Some("prod.shop.example.com"), "/api/v1/items".to_owned())]
    );
    assert_eq!(
        post.request_content_types,
        ["application/json", "application/xml"]
    );
    assert!(post.request_body_required);
    let schemes = &spec.security_schemes;
    assert_eq!(
        schemes["key"],
        SecurityScheme::ApiKey {
            name: "X-Api-Key".to_owned(),
            location: ParamIn::Header
        }
    );
    assert_eq!(
        schemes["oauth"],
        SecurityScheme::OAuth2 {
            flows: vec!["clientCredentials".to_owned()]
        }
    );
    assert_eq!(
        schemes["basic"],
        SecurityScheme::Http {
            scheme: "basic".to_owned()
        }
    );
    assert!(matches!(
        schemes["oidc"],
        SecurityScheme::OpenIdConnect { .. }
    ));
}

#[test]
fn relative_servers_take_the_default_host() {
    let doc = "openapi: 3.1.0\nservers: [{url: /v1}]\npaths: {/a: {get: {}}}\nwebhooks: {hook: {post: {}, put: {}}}\n";
    let spec = import("a.yaml", doc, &ImportOptions::default());
    assert_eq!(spec.templates_of(0), [(None, "/v1/a".to_owned())]);
    assert_eq!(spec.webhooks, 2);
    let opts = ImportOptions {
        default_host: Some("API.Example.com".to_owned()),
        ..ImportOptions::default()
    };
    let spec = import("a.yaml", doc, &opts);
    assert_eq!(
        spec.templates_of(0),
        [(Some("api.example.com"), "/v1/a".to_owned())]
    );
}

const V2: &str = r##"{
  "swagger": "2.0",
  "info": {"title": "Files", "version": "1"},
  "host": "files.example.com:80",
  "basePath": "/",
  "schemes": ["http", "https"],
  "consumes": ["application/json"],
  "securityDefinitions": {
    "basic": {"type": "basic"},
    "token": {"type": "apiKey", "in": "query", "name": "token"},
    "oauth": {"type": "oauth2", "flow": "implicit", "authorizationUrl": "https://a.example.com", "scopes": {}}
  },
  "security": [{"basic": []}],
  "parameters": {"Page": {"name": "page", "in": "query", "type": "integer", "format": "int32"}},
  "paths": {
    "/files": {
      "get": {"parameters": [{"$ref": "#/parameters/Page"}], "responses": {"200": {"description": "ok"}}},
      "post": {
        "consumes": ["multipart/form-data"],
        "security": [{"token": [], "oauth": []}],
        "parameters": [{"name": "upload", "in": "formData", "type": "file", "required": true}],
        "responses": {"201": {"description": "created"}}
      },
      "put": {
        "parameters": [{"name": "meta", "in": "body", "required": true, "schema": {"$ref": "#/definitions/Meta"}}],
        "responses": {"200": {"description": "ok"}}
      }
    }
  },
  "definitions": {"Meta": {"properties": {"name": {"type": "string"}}}}
}"##;

#[test]
fn swagger_2_operations() {
    let spec = import("files.json", V2, &ImportOptions::default());
    let hosts: Vec<(Option<&str>, Option<&str>)> = spec
        .servers
        .iter()
        .map(|s| (s.scheme.as_deref(), s.host.as_deref()))
        .collect();
    // Port 80 is http's default only.
    assert_eq!(
        hosts,
        [
            (Some("http"), Some("files.example.com")),
            (Some("https"), Some("files.example.com:80"))
        ]
    );
    let [get, put, post] = [
        &spec.operations[0],
        &spec.operations[1],
        &spec.operations[2],
    ];
    assert_eq!(
        [
            get.method.as_str(),
            put.method.as_str(),
            post.method.as_str()
        ],
        ["GET", "PUT", "POST"]
    );
    assert_eq!(
        get.parameter("page", ParamIn::Query)
            .and_then(|p| p.kind.ty),
        Some(Type::Integer)
    );
    assert_eq!(get.security, [vec!["basic".to_owned()]]);
    assert!(get.request_content_types.is_empty());
    assert_eq!(post.request_content_types, ["multipart/form-data"]);
    assert_eq!(
        post.parameter("upload", ParamIn::FormData)
            .and_then(|p| p.kind.ty),
        Some(Type::File)
    );
    assert_eq!(
        post.security,
        [vec!["oauth".to_owned(), "token".to_owned()]]
    );
    assert_eq!(put.request_content_types, ["application/json"]);
    assert!(put.request_body_required);
    assert_eq!(
        put.parameter("meta", ParamIn::Body).and_then(|p| p.kind.ty),
        Some(Type::Object)
    );
    assert_eq!(
        spec.templates_of(0),
        [
            (Some("files.example.com"), "/files".to_owned()),
            (Some("files.example.com:80"), "/files".to_owned())
        ]
    );
    assert_eq!(
        spec.security_schemes["oauth"],
        SecurityScheme::OAuth2 {
            flows: vec!["implicit".to_owned()]
        }
    );
    assert_eq!(
        spec.security_schemes["token"],
        SecurityScheme::ApiKey {
            name: "token".to_owned(),
            location: ParamIn::Query
        }
    );
}

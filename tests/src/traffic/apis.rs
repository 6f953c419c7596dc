//! The APIs the generator speaks: endpoints with their weights and statuses, and the pools of
//! values their parameters take.

use super::Rng;

/// A parameter of an endpoint template, and how its values are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// The session user's own name (sometimes another user's).
    User,
    /// A catalogue entry (product slug, merchant name), popular ones more often.
    Slug,
    /// A small vocabulary of names (product categories).
    Category,
    /// An ISO 4217 currency code, lower case.
    Currency,
    /// A number.
    Number,
    /// An opaque prefixed key (`ch_…`, `cus_…`).
    Key(&'static str),
}

/// One endpoint of an API.
#[derive(Debug, Clone, Copy)]
pub struct Def {
    pub method: &'static str,
    /// The template as the learner writes it (`{id}` for every parameter).
    pub template: &'static str,
    /// The parameters of the template's `{id}` segments, in order.
    pub params: &'static [Param],
    /// Relative frequency within a session.
    pub weight: u32,
    /// Status of a successful call.
    pub ok: u16,
    /// A query string to append, if any.
    pub query: Option<&'static str>,
}

const fn def(
    method: &'static str,
    template: &'static str,
    params: &'static [Param],
    weight: u32,
    ok: u16,
) -> Def {
    Def {
        method,
        template,
        params,
        weight,
        ok,
        query: None,
    }
}

use Param::{Category, Currency, Key, Number, Slug, User};

/// A shop with its payments service on one host (the development scenario).
pub const SHOP: &[Def] = &[
    Def {
        query: Some("page=2&sort=price"),
        ..def("GET", "/api/v1/products", &[], 8, 200)
    },
    def("GET", "/api/v1/products/{id}", &[Slug], 20, 200),
    def("GET", "/api/v1/products/{id}/reviews", &[Slug], 5, 200),
    def("POST", "/api/v1/products/{id}/reviews", &[Slug], 1, 201),
    def("GET", "/api/v1/categories", &[], 3, 200),
    def("GET", "/api/v1/categories/{id}", &[Category], 6, 200),
    def("GET", "/api/v1/users/me", &[], 6, 200),
    def("GET", "/api/v1/users/{id}", &[User], 3, 200),
    def("GET", "/api/v1/users/{id}/orders", &[User], 2, 200),
    def("GET", "/api/v1/cart", &[], 8, 200),
    def("POST", "/api/v1/cart/items", &[], 4, 201),
    def("DELETE", "/api/v1/cart/items/{id}", &[Number], 1, 204),
    def("POST", "/api/v1/checkout", &[], 1, 200),
    def("GET", "/api/v1/orders/{id}", &[Number], 2, 200),
    def("POST", "/api/v1/auth/login", &[], 2, 200),
    def("POST", "/api/v1/auth/logout", &[], 1, 204),
    Def {
        query: Some("q=red+kettle"),
        ..def("GET", "/api/v1/search", &[], 6, 200)
    },
    def("POST", "/payments/v2/charges", &[], 1, 201),
    def("GET", "/payments/v2/charges/{id}", &[Key("ch_")], 1, 200),
    def(
        "POST",
        "/payments/v2/charges/{id}/refunds",
        &[Key("ch_")],
        1,
        201,
    ),
    def(
        "GET",
        "/payments/v2/customers/{id}/cards",
        &[Key("cus_")],
        1,
        200,
    ),
    def("GET", "/payments/v2/balance", &[], 1, 200),
];

/// The shop's health check, polled by monitors.
pub const SHOP_HEALTH: Def = def("GET", "/health", &[], 0, 200);

/// A payments API with other prefixes (the held-out scenario: never used for tuning).
pub const PAYMENTS: &[Def] = &[
    def("POST", "/v3/payment-intents", &[], 6, 201),
    def("GET", "/v3/payment-intents/{id}", &[Key("pi_")], 8, 200),
    def(
        "POST",
        "/v3/payment-intents/{id}/confirm",
        &[Key("pi_")],
        4,
        200,
    ),
    def("GET", "/v3/merchants/{id}", &[User], 6, 200),
    def("GET", "/v3/merchants/{id}/payouts", &[User], 3, 200),
    def("GET", "/v3/merchants/{id}/balance", &[User], 4, 200),
    def("GET", "/v3/customers/{id}", &[Key("cus_")], 5, 200),
    def(
        "GET",
        "/v3/customers/{id}/payment-methods",
        &[Key("cus_")],
        3,
        200,
    ),
    def("POST", "/v3/refunds", &[], 2, 201),
    def("GET", "/v3/refunds/{id}", &[Key("re_")], 2, 200),
    def("GET", "/v3/products/{id}", &[Slug], 5, 200),
    def("GET", "/v3/currencies", &[], 1, 200),
    def("GET", "/v3/currencies/{id}", &[Currency], 2, 200),
    def("POST", "/oauth/token", &[], 4, 200),
    def("GET", "/v3/disputes", &[], 1, 200),
    def("GET", "/v3/disputes/{id}", &[Number], 1, 200),
    def("GET", "/v3/webhook-endpoints", &[], 1, 200),
    def("POST", "/v3/webhook-endpoints", &[], 1, 201),
    def("GET", "/v3/events", &[], 2, 200),
];

/// The payments API's health check.
pub const PAYMENTS_HEALTH: Def = def("GET", "/status", &[], 0, 200);

const FIRST: [&str; 24] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "karl",
    "lena", "mallory", "nina", "oscar", "peggy", "quinn", "rupert", "sybil", "trent", "ursula",
    "victor", "wendy", "yusuf",
];
const LAST: [&str; 16] = [
    "smith", "jones", "lee", "garcia", "kim", "novak", "okafor", "silva", "tanaka", "muller",
    "rossi", "dubois", "kowalski", "haddad", "nguyen", "berg",
];
const ADJ: [&str; 16] = [
    "red", "compact", "classic", "ultra", "smart", "vintage", "organic", "steel", "bamboo",
    "wireless", "mini", "pro", "deluxe", "travel", "cordless", "ceramic",
];
const NOUN: [&str; 20] = [
    "kettle",
    "lamp",
    "backpack",
    "blender",
    "chair",
    "desk",
    "mug",
    "speaker",
    "headphones",
    "jacket",
    "tent",
    "grinder",
    "toaster",
    "kettlebell",
    "notebook",
    "pan",
    "bottle",
    "rug",
    "drill",
    "monitor",
];
/// Category-like vocabulary: real words, a few dozen of them.
pub const CATEGORIES: [&str; 30] = [
    "kitchen",
    "garden",
    "outdoor",
    "office",
    "audio",
    "books",
    "toys",
    "fitness",
    "travel",
    "lighting",
    "furniture",
    "bath",
    "pets",
    "baby",
    "tools",
    "automotive",
    "crafts",
    "music",
    "gaming",
    "beauty",
    "health",
    "grocery",
    "jewelry",
    "shoes",
    "watches",
    "luggage",
    "sports",
    "camping",
    "cycling",
    "home-decor",
];

/// Currency codes.
pub const CURRENCIES: [&str; 24] = [
    "usd", "eur", "gbp", "jpy", "chf", "cad", "aud", "nzd", "sek", "nok", "dkk", "pln", "czk",
    "huf", "ron", "try", "brl", "mxn", "inr", "sgd", "hkd", "krw", "zar", "aed",
];

/// User `n`'s name: `alice_smith`, `bob.jones7`, `ckim`, `dave-novak`… (some hold digits or
/// dots, most do not).
pub fn user_name(n: usize) -> String {
    let (f, l) = (
        FIRST[n % FIRST.len()],
        LAST[(n / FIRST.len() + n) % LAST.len()],
    );
    match n % 5 {
        0 => format!("{f}_{l}"),
        1 => format!("{f}.{l}{}", n % 10),
        2 => format!("{}{l}", &f[..1]),
        3 => format!("{f}-{l}"),
        _ => format!("{f}{l}"),
    }
}

/// Catalogue entry `n`: `wireless-speaker`, `ceramic-mug-2`…
pub fn slug(n: usize) -> String {
    let base = format!(
        "{}-{}",
        ADJ[n % ADJ.len()],
        NOUN[(n / ADJ.len() + n) % NOUN.len()]
    );
    match n / (ADJ.len() * NOUN.len()) {
        0 => base,
        k => format!("{base}-{}", k + 1),
    }
}

/// An opaque key such as `ch_3NkPq8ZbT2vYx6Lm` (24 base62 characters after the prefix).
pub fn key(prefix: &str, rng: &mut Rng) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = String::from(prefix);
    for _ in 0..24 {
        s.push(B62[rng.below(62) as usize] as char);
    }
    s
}

/// Dictionary words a sprayer tries (admin panels, backups, frameworks, common resources).
pub const DICTIONARY: &[&str] = &[
    "admin",
    "login",
    "config",
    "backup",
    "test",
    "debug",
    "console",
    "dashboard",
    "api-docs",
    "swagger",
    "graphql",
    "internal",
    "private",
    "staging",
    "dev",
    "old",
    "new",
    "tmp",
    "temp",
    "upload",
    "uploads",
    "files",
    "download",
    "export",
    "import",
    "reports",
    "report",
    "logs",
    "log",
    "status",
    "metrics",
    "health",
    "info",
    "env",
    "settings",
    "setup",
    "install",
    "db",
    "database",
    "sql",
    "dump",
    "data",
    "user",
    "users",
    "account",
    "accounts",
    "profile",
    "password",
    "reset",
    "token",
    "tokens",
    "keys",
    "secret",
    "secrets",
    "auth",
    "oauth",
    "session",
    "sessions",
    "cart",
    "carts",
    "order",
    "orders",
    "invoice",
    "invoices",
    "payment",
    "payments",
    "billing",
    "checkout",
    "coupon",
    "coupons",
    "discount",
    "gift",
    "promo",
    "search",
    "product",
    "products",
    "item",
    "items",
    "catalog",
    "inventory",
    "stock",
    "shipping",
    "address",
    "addresses",
    "customer",
    "customers",
    "member",
    "members",
    "group",
    "groups",
    "role",
    "roles",
    "permission",
    "permissions",
    "v0",
    "v2",
    "v3",
    "beta",
    "legacy",
    "mobile",
    "web",
    "app",
    "apps",
    "service",
    "services",
    "proxy",
    "cache",
    "cron",
    "jobs",
    "queue",
    "webhook",
    "webhooks",
    "callback",
    "notify",
    "mail",
    "email",
    "sms",
    "push",
    "feed",
    "rss",
    "sitemap",
    "robots",
    "static",
    "assets",
    "images",
    "img",
    "css",
    "js",
    "fonts",
    "media",
    "video",
    "public",
    "shared",
    "common",
    "core",
    "lib",
    "vendor",
    "node_modules",
    "bin",
    "cgi",
    "server",
    "system",
    "manage",
    "manager",
    "management",
    "panel",
    "cpanel",
    "portal",
    "wp",
    "wordpress",
    "joomla",
    "drupal",
    "phpinfo",
    "test.php",
    "index.php",
    "index.html",
    "home",
    "default",
    "main",
    "root",
    "shell",
    "cmd",
    "exec",
    "run",
    "eval",
    "include",
    "ajax",
    "rest",
    "soap",
    "xmlrpc",
    "rpc",
    "json",
    "xml",
    "api",
    "v1",
];

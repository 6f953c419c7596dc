//! Seeded, deterministic API traffic for the templating tests and figures: an hour of a real
//! API used by 200 people, monitors and partner integrations, plus hostile clients (a
//! sprayer, an enumerator, a scanner) in attack windows. Every request carries its ground
//! truth: the endpoint template the API routes it to (or none, for made-up paths) and who sent
//! it.
//!
//! Same seed, same traffic: the generator uses its own splitmix64, no RNG crate.

pub mod apis;
mod hostile;
pub mod measure;
pub mod scenario;

use apis::{Def, Param};

/// splitmix64: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// Skewed towards small numbers (roughly Zipf): popular items come back often.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n) + 1;
        self.below(a)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Who sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A real user, monitor or integration.
    Real,
    /// Hundreds of random and dictionary paths in a short window.
    Spray,
    /// Walks ids and names under real and made-up prefixes.
    Enumerate,
    /// Well-known sensitive files and admin panels.
    Scan,
}

/// One generated request with its ground truth.
#[derive(Debug, Clone)]
pub struct Request {
    pub ts_ms: i64,
    pub host: &'static str,
    pub method: &'static str,
    pub target: String,
    pub status: u16,
    /// The client's IPv4 address.
    pub client: u32,
    pub kind: Kind,
    /// The endpoint template the API routes it to; `None` for a path no endpoint serves.
    pub template: Option<&'static str>,
}

/// Which API the traffic is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Shop and payments on one host (development: thresholds were tuned on it).
    Shop,
    /// A payments API with other prefixes (held out: never used for tuning).
    Payments,
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub api: Api,
    pub seed: u64,
    /// Whether the hostile clients take part.
    pub attackers: bool,
}

/// Seed used while tuning the learner.
pub const DEV_SEED: u64 = 0x5eed_0001;
/// Seed the tests assert on (never used for tuning).
pub const TEST_SEED: u64 = 0x7e57_2026;

/// Length of the generated traffic.
pub const HOUR_MS: i64 = 3_600_000;
/// Start of the traffic (2026-11-21T09:00:00Z).
pub const START_MS: i64 = 1_795_251_600_000;

/// The attack windows, as offsets from [`START_MS`]: (who, start, end).
pub const WINDOWS: [(Kind, i64, i64); 3] = [
    (Kind::Spray, 20 * 60_000, 22 * 60_000),
    (Kind::Enumerate, 30 * 60_000, 35 * 60_000),
    (Kind::Scan, 40 * 60_000, 41 * 60_000),
];

/// The first minutes, while name-like parameters are being learned.
pub const WARMUP_MS: i64 = 5 * 60_000;

/// Where a moment falls relative to the attack windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// The first [`WARMUP_MS`]: name-like positions are still being learned.
    Warmup,
    /// From the warm-up to the first attack window.
    Before,
    /// Inside an attack window.
    During,
    /// After the first attack window, outside the windows.
    After,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::Warmup, Phase::Before, Phase::During, Phase::After];

    pub fn of(ts_ms: i64) -> Phase {
        let t = ts_ms - START_MS;
        if t < WARMUP_MS {
            Phase::Warmup
        } else if t < WINDOWS[0].1 {
            Phase::Before
        } else if WINDOWS.iter().any(|(_, s, e)| (*s..*e).contains(&t)) {
            Phase::During
        } else {
            Phase::After
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Warmup => "warm-up",
            Phase::Before => "before",
            Phase::During => "during",
            Phase::After => "after",
        }
    }
}

/// The API's host, endpoints and health check.
pub fn api_of(api: Api) -> (&'static str, &'static [Def], Def) {
    match api {
        Api::Shop => ("shop.example.com", apis::SHOP, apis::SHOP_HEALTH),
        Api::Payments => ("api.payfast.example", apis::PAYMENTS, apis::PAYMENTS_HEALTH),
    }
}

/// Users of the API.
pub const USERS: usize = 200;
/// Entries of the catalogue (products, merchants' products).
pub const CATALOGUE: usize = 400;

/// The whole hour, sorted by time.
pub fn generate(s: Scenario) -> Vec<Request> {
    let mut rng = Rng::new(s.seed ^ 0x7261_6666_6963);
    let (host, defs, health) = api_of(s.api);
    let mut out = Vec::new();
    for user in 0..USERS {
        sessions(&mut rng, host, defs, user, &mut out);
    }
    monitors(host, health, &mut out);
    lookalikes(&mut rng, host, defs, &mut out);
    if s.attackers {
        hostile::all(&mut rng, host, defs, &mut out);
    }
    out.sort_by_key(|r| r.ts_ms);
    out
}

/// A user's address: `10.1.x.y`.
fn user_ip(user: usize) -> u32 {
    0x0a01_0000 + user as u32 + 1
}

/// One to five sessions of five to forty calls each, spread over the hour.
fn sessions(rng: &mut Rng, host: &'static str, defs: &[Def], user: usize, out: &mut Vec<Request>) {
    let total: u32 = defs.iter().map(|d| d.weight).sum();
    for _ in 0..1 + rng.below(5) {
        let mut t = START_MS + rng.below(HOUR_MS as u64 - 600_000) as i64;
        for _ in 0..5 + rng.below(36) {
            let mut w = rng.below(u64::from(total)) as u32;
            let d = defs
                .iter()
                .find(|d| {
                    let hit = w < d.weight;
                    w = w.saturating_sub(d.weight);
                    hit
                })
                .unwrap_or(&defs[0]);
            out.push(call(rng, host, d, user, t, user_ip(user)));
            t += 500 + rng.below(15_000) as i64;
        }
    }
}

/// A call of endpoint `d` by `user` at `t`, with a realistic status.
fn call(rng: &mut Rng, host: &'static str, d: &Def, user: usize, t: i64, ip: u32) -> Request {
    let mut missing = false;
    let mut params = d.params.iter();
    let mut target = String::new();
    for seg in d.template.split('/').filter(|s| !s.is_empty()) {
        target.push('/');
        if seg != "{id}" {
            target.push_str(seg);
            continue;
        }
        let value = match params.next() {
            Some(Param::User) if rng.chance(800) => apis::user_name(user),
            Some(Param::User) => apis::user_name(rng.below(USERS as u64) as usize),
            Some(Param::Slug) => {
                // Now and then a product that no longer exists.
                missing |= rng.chance(30);
                apis::slug(rng.skewed(CATALOGUE as u64) as usize)
            }
            Some(Param::Category) => rng.pick(&apis::CATEGORIES).to_string(),
            Some(Param::Currency) => rng.pick(&apis::CURRENCIES).to_string(),
            Some(Param::Number) => {
                missing |= rng.chance(20);
                (10_000 + rng.below(90_000)).to_string()
            }
            Some(Param::Key(p)) => apis::key(p, rng),
            None => "x".into(),
        };
        target.push_str(&value);
    }
    if let Some(q) = d.query {
        target.push('?');
        target.push_str(q);
    }
    let status = if missing {
        404
    } else if rng.chance(15) {
        401
    } else if rng.chance(3) {
        500
    } else {
        d.ok
    };
    Request {
        ts_ms: t,
        host,
        method: d.method,
        target,
        status,
        client: ip,
        kind: Kind::Real,
        template: Some(d.template),
    }
}

/// Two monitors polling the health check every ten seconds.
fn monitors(host: &'static str, health: Def, out: &mut Vec<Request>) {
    for (m, ip) in [(0, 0xc633_6401u32), (5_000, 0xc633_6402)] {
        let mut t = START_MS + m;
        while t < START_MS + HOUR_MS {
            out.push(Request {
                ts_ms: t,
                host,
                method: health.method,
                target: health.template.into(),
                status: 200,
                client: ip,
                kind: Kind::Real,
                template: Some(health.template),
            });
            t += 10_000;
        }
    }
}

/// Benign clients that look like attackers: a partner syncing the whole catalogue (one
/// client, hundreds of distinct names, a few gone) and support staff opening many users'
/// pages.
fn lookalikes(rng: &mut Rng, host: &'static str, defs: &[Def], out: &mut Vec<Request>) {
    let by_param = |p: Param| defs.iter().find(|d| d.params == [p] && d.method == "GET");
    if let Some(d) = by_param(Param::Slug) {
        let t0 = START_MS + 25 * 60_000;
        for n in 0..CATALOGUE {
            let mut r = call(rng, host, d, 0, t0 + n as i64 * 150, 0xcb00_7101);
            r.target = d.template.replace("{id}", &apis::slug(n));
            r.status = if n % 37 == 5 { 404 } else { d.ok };
            out.push(r);
        }
    }
    if let Some(d) = by_param(Param::User) {
        let t0 = START_MS + 45 * 60_000;
        for n in 0..USERS {
            let mut r = call(rng, host, d, n, t0 + n as i64 * 900, 0x0a02_0001);
            r.target = d.template.replace("{id}", &apis::user_name(n));
            r.status = d.ok;
            out.push(r);
        }
    }
}

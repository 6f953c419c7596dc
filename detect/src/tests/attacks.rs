//! One generated attack per alert type, with what the alert must name.

use super::traffic::{MIN, Traffic, WINDOW_MS, ep, req, who};
use crate::AlertType;
use picket_shared::shape::Shape;
use picket_shared::summary::NotableKind;

/// What an attack's alert must name: the endpoint template ("" for host/actor-level alerts)
/// and the actor address (`None` for population alerts).
pub struct Expect {
    pub template: &'static str,
    pub ip: Option<&'static str>,
}

fn exp(template: &'static str, ip: Option<&'static str>) -> Expect {
    Expect { template, ip }
}

/// Adds the attack of `kind` starting at `at` (event time); returns what to expect. One arm
/// per type, so the whole attack table reads in one place.
pub fn attack(t: &mut Traffic, kind: AlertType, at: i64) -> Expect {
    use AlertType as A;
    match kind {
        A::PopulationTrafficSpike => {
            for b in 0..40 {
                let w = who(&format!("198.51.100.{b}"), None);
                for k in 0..60 {
                    t.add(&ep("GET", "/api/search"), &w, req(at + k * 1_000 + b, 200));
                }
            }
            exp("/api/search", None)
        }
        A::ClientTrafficSpike => {
            let w = who("203.0.113.10", Some("spiker"));
            for k in 0..800 {
                t.add(&ep("GET", "/api/orders"), &w, req(at + k * 70, 200));
            }
            exp("/api/orders", Some("203.0.113.10"))
        }
        A::LargeResponse => {
            let w = who("203.0.113.11", Some("exfil"));
            for k in 0..20 {
                let mut r = req(at + k * 100, 200);
                r.resp_bytes = 4_000_000;
                t.add(&ep("GET", "/api/orders"), &w, r);
            }
            exp("/api/orders", Some("203.0.113.11"))
        }
        A::LargeRequestBody => {
            let w = who("203.0.113.12", Some("bigbody"));
            for k in 0..20 {
                let mut r = req(at + k * 100, 201);
                r.req_bytes = 600_000;
                r.params = vec![("body:sku", Shape::Hex), ("body:qty", Shape::Int)];
                t.add(&ep("POST", "/api/orders"), &w, r);
            }
            exp("/api/orders", Some("203.0.113.12"))
        }
        A::LatencySpike => {
            let w = who("203.0.113.13", Some("slow"));
            for k in 0..40 {
                let mut r = req(at + k * 200, 200);
                r.latency_us = 3_000_000;
                r.params = vec![("query:q", Shape::TextShort)];
                t.add(&ep("GET", "/api/search"), &w, r);
            }
            exp("/api/search", Some("203.0.113.13"))
        }
        A::EndpointSpray => {
            let w = who("203.0.113.14", None);
            for k in 0..40 {
                let e = ep("GET", &format!("/admin/probe{k}"));
                t.add(&e, &w, req(at + k * 500, 404));
                t.add(&e, &w, req(at + k * 500 + 1, 405));
            }
            exp("", Some("203.0.113.14"))
        }
        A::ParameterEnumeration => {
            let w = who("203.0.113.15", Some("bola"));
            for k in 0..600 {
                let mut r = req(at + k * 200, if k % 3 == 0 { 404 } else { 200 });
                r.object = Some(50_000 + k as u64);
                r.params = vec![("path:id", Shape::Int)];
                t.add(&ep("GET", "/api/users/{id}"), &w, r);
            }
            exp("/api/users/{id}", Some("203.0.113.15"))
        }
        A::DistributedParameterEnumeration => {
            for b in 0..20u64 {
                let w = who(&format!("192.0.2.{b}"), Some(&format!("stolen{b}")));
                for k in 0..15u64 {
                    let mut r = req(at + (k * 20_000 + b * 97) as i64 % (4 * MIN), 404);
                    r.object = Some(90_000 + b * 100 + k);
                    r.params = vec![("path:id", Shape::Int)];
                    t.add(&ep("GET", "/api/users/{id}"), &w, r);
                }
            }
            exp("/api/users/{id}", None)
        }
        A::UnseenParameter => {
            let w = who("203.0.113.16", Some("mass"));
            for k in 0..5 {
                let mut r = req(at + k, 201);
                r.params = vec![("body:sku", Shape::Hex), ("body:is_admin", Shape::Bool)];
                t.add(&ep("POST", "/api/orders"), &w, r);
            }
            exp("/api/orders", Some("203.0.113.16"))
        }
        A::AnomalousParameterType => {
            let w = who("203.0.113.17", Some("fuzz"));
            for k in 0..20 {
                let mut r = req(at + k, 200);
                r.object = Some(1_001);
                r.params = vec![("path:id", Shape::TextLong)];
                t.add(&ep("GET", "/api/products/{id}"), &w, r);
            }
            exp("/api/products/{id}", Some("203.0.113.17"))
        }
        A::Injection => {
            let w = who("203.0.113.18", None);
            let e = ep("GET", "/api/search");
            t.add(&e, &w, req(at, 200));
            t.notable(
                &e,
                &w,
                at,
                NotableKind::Injection,
                "query:sqli.union-select",
                200,
            );
            exp("/api/search", Some("203.0.113.18"))
        }
        A::BruteForce => {
            let w = who("203.0.113.19", Some("victim"));
            for k in 0..100 {
                t.add(&ep("POST", "/api/login"), &w, req(at + k * 500, 401));
            }
            exp("/api/login", Some("203.0.113.19"))
        }
        A::CredentialStuffing => {
            for b in 0..30 {
                for k in 0..5 {
                    let w = who(&format!("100.64.0.{b}"), Some(&format!("acct{b}-{k}")));
                    t.add(&ep("POST", "/api/login"), &w, req(at + k * 9_000 + b, 401));
                }
            }
            exp("/api/login", None)
        }
        A::AuthBypass => {
            let w = who("203.0.113.20", None);
            for k in 0..20 {
                let mut r = req(at + k * 1_000, 200);
                r.object = Some(3);
                r.params = vec![("path:id", Shape::Int)];
                t.add(&ep("GET", "/api/users/{id}"), &w, r);
            }
            exp("/api/users/{id}", Some("203.0.113.20"))
        }
        A::MaliciousIp => {
            let w = who("203.0.113.21", Some("tor-user"));
            t.add(&ep("GET", "/api/products"), &w, req(at, 200));
            exp("", Some("203.0.113.21"))
        }
        A::SuspiciousUserAgent => {
            let w = who("203.0.113.22", None);
            let e = ep("GET", "/api/products");
            t.add(&e, &w, req(at, 200));
            t.notable(
                &e,
                &w,
                at + 1,
                NotableKind::SuspiciousAgent,
                "agent:scanner:sqlmap",
                200,
            );
            let mut bot = who("203.0.113.23", None);
            bot.agent = Some("EvilBot/2.0".into());
            t.add(&e, &bot, req(at + WINDOW_MS, 200));
            exp("", Some("203.0.113.22"))
        }
    }
}

/// The intel the tests load.
pub fn intel() -> crate::intel::Intel {
    let (intel, errors) = crate::intel::Intel::parse("tor-exits.txt", "203.0.113.21\nua:evilbot\n");
    assert!(errors.is_empty());
    intel
}

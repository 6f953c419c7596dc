//! Suppression rules as operators create them: validation and creation. The rules reach the
//! engine through `picket_detect::Context` (the worker reads the tenant's unexpired rules for
//! each entry it analyzes); hits are added in the analysis transaction.

use crate::error::{Error, Result};
use crate::store::Db;
use crate::store::suppressions::Created;
use picket_detect::Suppression;
use picket_shared::TenantId;
use picket_shared::limits::{
    MAX_HOST_BYTES, MAX_METHOD_BYTES, MAX_PRINCIPAL_HEX, MAX_TEMPLATE_BYTES,
};
use picket_shared::net::Cidr;

/// Most suppression rules per tenant.
pub const MAX_RULES_PER_TENANT: usize = 1_000;
/// Longest rule comment, in bytes.
pub const MAX_COMMENT_BYTES: usize = 1024;

fn too_long(field: &str, v: &Option<String>, max: usize) -> Result<()> {
    match v {
        Some(s) if s.len() > max => Err(Error::invalid(format!(
            "{field} is {} bytes, the limit is {max}",
            s.len()
        ))),
        _ => Ok(()),
    }
}

/// Checks a rule an operator asks for (before its id and creation fields are set).
pub fn validate(rule: &Suppression, now_ms: i64) -> Result<()> {
    if !rule.is_narrowed() {
        return Err(Error::invalid(
            "a suppression rule needs at least one of cidr, principal, host, template, type",
        ));
    }
    if rule.method.is_some() && rule.template.is_none() {
        return Err(Error::invalid(
            "method narrows a template: give the template too",
        ));
    }
    if let Some(c) = &rule.cidr {
        c.parse::<Cidr>()
            .map_err(|e| Error::invalid(format!("cidr {c:?} is not an address or network: {e}")))?;
    }
    too_long("host", &rule.host, MAX_HOST_BYTES)?;
    too_long("method", &rule.method, MAX_METHOD_BYTES)?;
    too_long("template", &rule.template, MAX_TEMPLATE_BYTES)?;
    too_long("principal", &rule.principal, MAX_PRINCIPAL_HEX)?;
    if rule.comment.len() > MAX_COMMENT_BYTES {
        return Err(Error::invalid(format!(
            "comment is {} bytes, the limit is {MAX_COMMENT_BYTES}",
            rule.comment.len()
        )));
    }
    if let Some(e) = rule.expires_ms
        && e <= now_ms
    {
        return Err(Error::invalid(format!(
            "expires_ms {e} is not in the future"
        )));
    }
    Ok(())
}

/// A fresh rule id (16 hex).
fn new_id() -> Result<String> {
    let mut buf = [0u8; 8];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// Validates and stores a rule for `tenant`, created by `by` at `now_ms`; returns it as stored.
pub fn create(
    db: &Db,
    tenant: &TenantId,
    mut rule: Suppression,
    by: &str,
    now_ms: i64,
) -> Result<Suppression> {
    validate(&rule, now_ms)?;
    rule.id = new_id()?;
    rule.created_by = by.to_owned();
    rule.created_ms = now_ms;
    match db.create_suppression(tenant, &rule, MAX_RULES_PER_TENANT)? {
        Created::Stored => Ok(rule),
        Created::Full => Err(Error::ResourceExhausted(format!(
            "the tenant has {MAX_RULES_PER_TENANT} suppression rules, the limit"
        ))),
        Created::Exists => Err(Error::Internal("suppression id collision".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use picket_detect::AlertType;
    use std::sync::Arc;

    fn check(rule: Suppression, ok: bool) {
        assert_eq!(validate(&rule, 1_000).is_ok(), ok, "{rule:?}");
    }

    #[test]
    fn rules_are_validated() {
        let s = |f: fn(&mut Suppression)| {
            let mut r = Suppression::default();
            f(&mut r);
            r
        };
        check(s(|_| {}), false);
        check(s(|r| r.comment = "only a comment".into()), false);
        check(s(|r| r.cidr = Some("10.0.0.0/8".into())), true);
        check(s(|r| r.cidr = Some("203.0.113.7".into())), true);
        check(s(|r| r.cidr = Some("10.0.0.0/33".into())), false);
        check(s(|r| r.cidr = Some("nope".into())), false);
        check(s(|r| r.kind = Some(AlertType::Injection)), true);
        check(s(|r| r.method = Some("GET".into())), false);
        check(
            s(|r| {
                r.method = Some("GET".into());
                r.template = Some("/a".into());
            }),
            true,
        );
        check(
            s(|r| {
                r.host = Some("api".into());
                r.comment = "x".repeat(1025);
            }),
            false,
        );
        check(
            s(|r| {
                r.host = Some("api".into());
                r.comment = "x".repeat(1024);
            }),
            true,
        );
        check(
            s(|r| {
                r.host = Some("api".into());
                r.expires_ms = Some(999);
            }),
            false,
        );
    }

    #[test]
    fn at_most_max_rules_per_tenant() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let t = TenantId::new("a").unwrap();
        let rule = Suppression {
            host: Some("api".into()),
            ..Default::default()
        };
        for _ in 0..MAX_RULES_PER_TENANT {
            create(&db, &t, rule.clone(), "op", 5).unwrap();
        }
        let e = create(&db, &t, rule.clone(), "op", 5).unwrap_err();
        assert!(matches!(e, Error::ResourceExhausted(_)), "{e}");
        let other = TenantId::new("b").unwrap();
        let made = create(&db, &other, rule, "op", 5).unwrap();
        assert_eq!(made.created_by, "op");
        assert!(db.delete_suppression(&other, &made.id).unwrap());
        assert!(!db.delete_suppression(&other, &made.id).unwrap());
    }
}

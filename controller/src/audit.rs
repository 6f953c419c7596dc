//! Recording administrative and operator actions in the audit log (`store::audit_log`), the
//! one call every service makes after an action succeeds:
//! `audit::record(&db, &ctx, now_ms, "token.create", &id, detail)`. Blocking (a store
//! transaction and a flush): call it from a blocking task. A failed write is logged and
//! counted ([`FAILURES`]), never turned into a failure of the action, which already happened.

use crate::auth::AuthContext;
use crate::store::Db;
use crate::store::audit_log::AuditEntry;
use picket_shared::TenantId;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// How long entries are kept, in days (purged by the maintenance task).
pub const RETENTION_DAYS: i64 = 400;
/// Longest `detail` kept, in characters (longer ones are cut).
pub const MAX_DETAIL_CHARS: usize = 2048;
/// Longest `target` kept, in characters.
pub const MAX_TARGET_CHARS: usize = 256;

/// Audit entries that could not be written (`picket_controller_audit_failures_total`).
pub static FAILURES: AtomicU64 = AtomicU64::new(0);

/// Records that `ctx` did `action` on `target` in its own tenant.
pub fn record(db: &Db, ctx: &AuthContext, now_ms: i64, action: &str, target: &str, detail: String) {
    record_in(db, ctx, &ctx.tenant, now_ms, action, target, detail);
}

/// Records an action on `tenant` (the installation admin acting on another tenant).
pub fn record_in(
    db: &Db,
    ctx: &AuthContext,
    tenant: &TenantId,
    now_ms: i64,
    action: &str,
    target: &str,
    detail: String,
) {
    let entry = AuditEntry {
        time_ms: now_ms,
        tenant: tenant.clone(),
        actor_token_id: ctx.token_id.clone(),
        action: action.to_owned(),
        target: target.chars().take(MAX_TARGET_CHARS).collect(),
        detail: detail.chars().take(MAX_DETAIL_CHARS).collect(),
    };
    if let Err(e) = db.audit(&entry).and_then(|()| db.flush()) {
        FAILURES.fetch_add(1, Relaxed);
        tracing::error!(error = %e, action, target, tenant = %tenant, "writing the audit entry failed");
    }
}

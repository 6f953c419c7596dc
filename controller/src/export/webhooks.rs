//! Destination management behind the `Webhooks` RPCs: add (validated, capped, secret
//! generated or checked), list (with delivery status, never the secret), delete, and the
//! synchronous test delivery.

use super::event::{self, Filter, Meta, TEST_TYPE};
use super::http::{self, Deadlines};
use super::sign;
use super::url;
use super::{Exports, blocking};
use crate::error::{Error, Result};
use crate::store::webhooks::{DeliveryState, WebhookRecord};
use picket_detect::Severity;
use picket_shared::TenantId;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

/// Most destinations per tenant.
pub const MAX_WEBHOOKS_PER_TENANT: usize = 16;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 256;

/// A destination to add.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub min_severity: Severity,
    pub types: Vec<String>,
    /// Empty: generate one.
    pub secret: String,
    pub description: String,
}

/// A destination as listed: its record (whose secret callers must not show), its delivery
/// state and how many log entries wait behind its cursor.
#[derive(Debug, Clone)]
pub struct Listed {
    pub rec: WebhookRecord,
    pub state: DeliveryState,
    pub pending: u64,
}

/// What a test delivery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestOutcome {
    pub ok: bool,
    pub http_status: u16,
    pub error: String,
    pub event_id: String,
    pub duration_ms: u64,
}

fn random_id() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

impl Exports {
    /// Validates and stores a destination, starts its delivery at the log's current end and
    /// returns it with its secret (the one time the secret leaves the controller).
    pub fn add_webhook(
        self: &Arc<Self>,
        tenant: &TenantId,
        by: &str,
        w: NewWebhook,
        now_ms: i64,
    ) -> Result<WebhookRecord> {
        url::parse(&w.url, self.webhooks.allow_plain_http).map_err(Error::invalid)?;
        event::check_types(&w.types)?;
        if w.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(Error::invalid(format!(
                "description is {} bytes, the limit is {MAX_DESCRIPTION_BYTES}",
                w.description.len()
            )));
        }
        let secret = if w.secret.is_empty() {
            sign::generate_secret()?
        } else {
            sign::check_secret(&w.secret)?;
            w.secret
        };
        let rec = WebhookRecord {
            id: random_id()?,
            url: w.url,
            min_severity: w.min_severity,
            types: w.types,
            secret,
            description: w.description,
            created_by: by.to_owned(),
            created_ms: now_ms,
        };
        {
            let _one = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
            let db = &self.state.db;
            if db.list_webhooks(tenant, MAX_WEBHOOKS_PER_TENANT)?.len() >= MAX_WEBHOOKS_PER_TENANT {
                return Err(Error::ResourceExhausted(format!(
                    "the tenant has {MAX_WEBHOOKS_PER_TENANT} webhooks, the limit"
                )));
            }
            let start = db.add_webhook(tenant, &rec)?;
            db.flush()?;
            tracing::info!(%tenant, id = %rec.id, start, "webhook added");
        }
        self.spawn_delivery(tenant.clone(), rec.clone());
        Ok(rec)
    }

    /// The tenant's destinations with their delivery status.
    pub fn list_webhooks(&self, tenant: &TenantId) -> Result<Vec<Listed>> {
        let db = &self.state.db;
        let last = db.alert_log_bounds(tenant)?.last;
        db.list_webhooks(tenant, MAX_WEBHOOKS_PER_TENANT)?
            .into_iter()
            .map(|rec| {
                let state = db.delivery_state(tenant, &rec.id)?;
                let pending = last.saturating_sub(state.cursor);
                Ok(Listed {
                    rec,
                    state,
                    pending,
                })
            })
            .collect()
    }

    /// Deletes a destination and stops its delivery.
    pub fn delete_webhook(&self, tenant: &TenantId, id: &str) -> Result<()> {
        let _one = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        self.stop_delivery(tenant, id);
        if !self.state.db.delete_webhook(tenant, id)? {
            return Err(Error::NotFound(format!("no webhook {id:?}")));
        }
        self.state.db.flush()?;
        tracing::info!(%tenant, %id, "webhook deleted");
        Ok(())
    }

    /// Sends one `dev.picket.test` event to a destination now (one attempt, no retry).
    pub async fn test_webhook(&self, tenant: &TenantId, id: &str) -> Result<TestOutcome> {
        let (db, t, i) = (self.state.db.clone(), tenant.clone(), id.to_owned());
        let rec = blocking(move || {
            db.get_webhook(&t, &i)?
                .ok_or_else(|| Error::NotFound(format!("no webhook {i:?}")))
        })
        .await?;
        let now_ms = self.state.now_ms();
        let event_id = format!("test-{}", random_id()?);
        let meta = Meta {
            kind: TEST_TYPE,
            subject: rec.id.clone(),
            severity: Severity::Informational,
        };
        let data = serde_json::json!({"webhook_id": rec.id, "message": "test event from picketctl webhooks test"});
        let body = event::envelope(
            &event::source(&self.source, tenant),
            &event_id,
            &meta,
            now_ms,
            0,
            data,
        );
        let started = Instant::now();
        let res = self.post(&rec, body, now_ms).await;
        let mut out = TestOutcome {
            event_id,
            duration_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        };
        match res {
            Ok(a) => {
                out.http_status = a.status;
                out.ok = (200..300).contains(&a.status);
                if !out.ok {
                    out.error = format!("answered {}: {}", a.status, a.body_start);
                }
            }
            Err(e) => out.error = e,
        }
        Ok(out)
    }

    /// One signed POST of `body` to a destination. `Err` is the error text; non-2xx
    /// answers are `Ok` (callers decide).
    pub(crate) async fn post(
        &self,
        rec: &WebhookRecord,
        body: Vec<u8>,
        now_ms: i64,
    ) -> std::result::Result<http::Answer, String> {
        // Checked again at each attempt: the policy may have changed since the add.
        let target = url::parse(&rec.url, self.webhooks.allow_plain_http).inspect_err(|_| {
            self.stats.fail("refused_address");
        })?;
        let headers = [
            ("content-type", event::CONTENT_TYPE.to_owned()),
            (
                sign::SIGNATURE_HEADER,
                sign::sign(&rec.secret, now_ms.div_euclid(1000), &body),
            ),
        ];
        let d = Deadlines {
            connect: self.webhooks.connect_timeout(),
            total: self.webhooks.request_timeout(),
        };
        http::post(&target, &headers, body, d).await.map_err(|e| {
            self.stats.fail(e.reason());
            e.to_string()
        })
    }
}

/// The filter a destination's record describes.
pub(crate) fn filter_of(rec: &WebhookRecord) -> Filter {
    Filter {
        min_severity: rec.min_severity,
        types: rec.types.clone(),
    }
}

//! Alerts out, in the store: webhook destinations (with their signing secrets) and the
//! persisted cursors of the alert exports. The outbox of every export is the tenant's
//! `alert_log` itself; an export only keeps how far into it it got, so a restart (even a
//! `kill -9`) resumes from the last acknowledged entry and nothing is lost.
//!
//! Layout: `webhooks` maps `tenant 0 id` to a [`WebhookRecord`]; `export_cursors` maps
//! `tenant 0 w.<id>` to a destination's [`DeliveryState`] and `tenant 0 file` to the file
//! sink's cursor (be64).

use super::db::{Db, read_u64};
use super::records::{decode, encode};
use super::{Result, Tree, keys};
use picket_detect::Severity;
use picket_shared::TenantId;
use serde::{Deserialize, Serialize};

/// A webhook destination as stored. The secret signs deliveries; it is never listed back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecord {
    pub id: String,
    pub url: String,
    pub min_severity: Severity,
    /// Event types sent; empty: all.
    pub types: Vec<String>,
    pub secret: String,
    pub description: String,
    pub created_by: String,
    pub created_ms: i64,
}

/// Where a destination's delivery stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryState {
    /// The last alert-log cursor delivered (2xx) or filtered out.
    pub cursor: u64,
    /// Controller clock of the last 2xx answer (0: none).
    pub last_success_ms: i64,
    /// The last failed attempt's error (empty after a success).
    pub last_error: String,
    pub last_error_ms: i64,
    /// Failed attempts in a row for the event being delivered.
    pub failing_attempts: u32,
}

fn state_key(tenant: &TenantId, id: &str) -> Vec<u8> {
    keys::by_id(tenant, &format!("w.{id}"))
}

/// `export_cursors` key marking that the file sink ran once (global: no 0 byte, so it never
/// collides with a tenant's keys).
const FILE_STARTED: &[u8] = b"file.started";

fn file_key(tenant: &TenantId) -> Vec<u8> {
    keys::by_id(tenant, "file")
}

impl Db {
    /// Stores a new destination whose delivery starts at the tenant's current alert-log end
    /// (read in the same transaction, so no entry committed before it is sent and none after
    /// it is missed). Returns that cursor.
    pub fn add_webhook(&self, tenant: &TenantId, rec: &WebhookRecord) -> Result<u64> {
        let start = std::cell::Cell::new(0);
        self.kv.transact(&|txn| {
            let last = txn
                .get(Tree::Meta, &keys::meta_alert_log_last(tenant))?
                .map_or(0, |raw| read_u64(&raw));
            start.set(last);
            txn.put(Tree::Webhooks, &keys::by_id(tenant, &rec.id), &encode(rec))?;
            let state = DeliveryState {
                cursor: last,
                ..Default::default()
            };
            txn.put(
                Tree::ExportCursors,
                &state_key(tenant, &rec.id),
                &encode(&state),
            )
        })?;
        Ok(start.get())
    }

    /// The tenant's destinations, by id, at most `limit`.
    pub fn list_webhooks(&self, tenant: &TenantId, limit: usize) -> Result<Vec<WebhookRecord>> {
        self.kv
            .scan(Tree::Webhooks, &keys::tenant_prefix(tenant), None, limit)?
            .iter()
            .map(|(_, v)| decode(Tree::Webhooks, v))
            .collect()
    }

    pub fn get_webhook(&self, tenant: &TenantId, id: &str) -> Result<Option<WebhookRecord>> {
        self.kv
            .get(Tree::Webhooks, &keys::by_id(tenant, id))?
            .map(|v| decode(Tree::Webhooks, &v))
            .transpose()
    }

    /// Deletes a destination and its delivery state; false when there was none.
    pub fn delete_webhook(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        let found = std::cell::Cell::new(false);
        self.kv.transact(&|txn| {
            let key = keys::by_id(tenant, id);
            found.set(txn.get(Tree::Webhooks, &key)?.is_some());
            txn.delete(Tree::Webhooks, &key)?;
            txn.delete(Tree::ExportCursors, &state_key(tenant, id))
        })?;
        Ok(found.get())
    }

    pub fn delivery_state(&self, tenant: &TenantId, id: &str) -> Result<DeliveryState> {
        self.kv
            .get(Tree::ExportCursors, &state_key(tenant, id))?
            .map_or(Ok(DeliveryState::default()), |v| {
                decode(Tree::ExportCursors, &v)
            })
    }

    /// Stores a destination's delivery state, unless the destination was deleted meanwhile
    /// (so a delivery finishing after a delete leaves nothing behind). Returns whether the
    /// destination still exists.
    pub fn put_delivery_state(
        &self,
        tenant: &TenantId,
        id: &str,
        state: &DeliveryState,
    ) -> Result<bool> {
        let exists = std::cell::Cell::new(false);
        self.kv.transact(&|txn| {
            exists.set(txn.get(Tree::Webhooks, &keys::by_id(tenant, id))?.is_some());
            if exists.get() {
                txn.put(Tree::ExportCursors, &state_key(tenant, id), &encode(state))?;
            }
            Ok(())
        })?;
        Ok(exists.get())
    }

    /// The file sink's cursor for a tenant, if it has one.
    pub fn export_file_cursor(&self, tenant: &TenantId) -> Result<Option<u64>> {
        Ok(self
            .kv
            .get(Tree::ExportCursors, &file_key(tenant))?
            .map(|raw| read_u64(&raw)))
    }

    /// When the file sink first ran (ms), if it ever did.
    pub fn export_file_cursor_marker(&self) -> Result<Option<u64>> {
        Ok(self
            .kv
            .get(Tree::ExportCursors, FILE_STARTED)?
            .map(|raw| read_u64(&raw)))
    }

    /// Stores the file sink's cursors, all or none, with the first-run marker when `mark`.
    pub fn put_export_file_cursors(&self, cursors: &[(TenantId, u64)], mark: bool) -> Result<()> {
        let mut writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = cursors
            .iter()
            .map(|(t, c)| (file_key(t), Some(c.to_be_bytes().to_vec())))
            .collect();
        if mark {
            writes.push((FILE_STARTED.to_vec(), Some(1u64.to_be_bytes().to_vec())));
        }
        self.kv.apply(Tree::ExportCursors, &writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn rec(id: &str) -> WebhookRecord {
        WebhookRecord {
            id: id.into(),
            url: "http://127.0.0.1:9/x".into(),
            min_severity: Severity::Low,
            types: vec![],
            secret: "s".into(),
            description: String::new(),
            created_by: "t".into(),
            created_ms: 1,
        }
    }

    #[test]
    fn destinations_and_cursors_round_trip_per_tenant() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
        db.kv
            .put(
                Tree::Meta,
                &keys::meta_alert_log_last(&a),
                &7u64.to_be_bytes(),
            )
            .unwrap();
        assert_eq!(
            db.add_webhook(&a, &rec("w1")).unwrap(),
            7,
            "starts at the end"
        );
        assert_eq!(db.delivery_state(&a, "w1").unwrap().cursor, 7);
        assert_eq!(db.list_webhooks(&a, 10).unwrap().len(), 1);
        assert!(
            db.list_webhooks(&b, 10).unwrap().is_empty(),
            "tenant-scoped"
        );
        let st = DeliveryState {
            cursor: 9,
            ..Default::default()
        };
        assert!(db.put_delivery_state(&a, "w1", &st).unwrap());
        assert_eq!(db.delivery_state(&a, "w1").unwrap(), st);
        assert!(db.delete_webhook(&a, "w1").unwrap());
        assert!(!db.delete_webhook(&a, "w1").unwrap());
        assert!(
            !db.put_delivery_state(&a, "w1", &st).unwrap(),
            "no state resurrects a deleted destination"
        );
        assert_eq!(
            db.delivery_state(&a, "w1").unwrap(),
            DeliveryState::default()
        );
        assert_eq!(db.export_file_cursor(&b).unwrap(), None);
        assert_eq!(db.export_file_cursor_marker().unwrap(), None);
        db.put_export_file_cursors(&[(b.clone(), 3)], true).unwrap();
        assert_eq!(db.export_file_cursor(&b).unwrap(), Some(3));
        assert_eq!(db.export_file_cursor_marker().unwrap(), Some(1));
        assert_eq!(db.export_file_cursor(&a).unwrap(), None);
    }
}

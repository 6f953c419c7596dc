//! Suppression rules in the store: `suppressions` holds `tenant 0 id` → [`SuppressionRecord`]
//! (the rule and how many alerts it swallowed; hits are added by the analysis transaction).

use super::db::Db;
use super::records::{decode, encode};
use super::{Result, Tree, keys};
use picket_detect::Suppression;
use picket_shared::TenantId;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// A stored rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SuppressionRecord {
    pub rule: Suppression,
    /// Alerts suppressed by the rule so far.
    pub hits: u64,
}

/// Outcome of storing a new rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Stored,
    /// The tenant already has the maximum number of rules.
    Full,
    /// A rule with this id exists.
    Exists,
}

impl Db {
    /// Stores a new rule unless the tenant holds `max_rules` already.
    pub fn create_suppression(
        &self,
        tenant: &TenantId,
        rule: &Suppression,
        max_rules: usize,
    ) -> Result<Created> {
        let existing = self.suppression_count(tenant, max_rules)?;
        if existing >= max_rules {
            return Ok(Created::Full);
        }
        let key = keys::by_id(tenant, &rule.id);
        let value = encode(&SuppressionRecord {
            rule: rule.clone(),
            hits: 0,
        });
        let out = Cell::new(Created::Exists);
        self.kv.transact(&|txn| {
            out.set(Created::Exists);
            if txn.get(Tree::Suppressions, &key)?.is_none() {
                txn.put(Tree::Suppressions, &key, &value)?;
                out.set(Created::Stored);
            }
            Ok(())
        })?;
        Ok(out.get())
    }

    /// How many rules the tenant has, counting at most to `cap`.
    fn suppression_count(&self, tenant: &TenantId, cap: usize) -> Result<usize> {
        let rows = self
            .kv
            .scan(Tree::Suppressions, &keys::tenant_prefix(tenant), None, cap)?;
        Ok(rows.len())
    }

    /// A tenant's rules in id order (at most as many as a tenant may hold, so unpaged).
    pub fn suppressions(&self, tenant: &TenantId) -> Result<Vec<SuppressionRecord>> {
        self.scan_all(Tree::Suppressions, &keys::tenant_prefix(tenant))
    }

    /// Deletes a rule; false when there was none.
    pub fn delete_suppression(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        let key = keys::by_id(tenant, id);
        let found = Cell::new(false);
        self.kv.transact(&|txn| {
            found.set(txn.get(Tree::Suppressions, &key)?.is_some());
            txn.delete(Tree::Suppressions, &key)
        })?;
        Ok(found.get())
    }

    /// One rule.
    pub fn get_suppression(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<SuppressionRecord>> {
        self.kv
            .get(Tree::Suppressions, &keys::by_id(tenant, id))?
            .map(|raw| decode(Tree::Suppressions, &raw))
            .transpose()
    }
}

//! Imported API specs in the store. `specs` holds `tenant 0 api` → [`SpecMeta`] (small:
//! listings and quota checks read only these) and `spec_bundles` the same key →
//! [`SpecBundle`], the files as the client sent them. Both are written and deleted in one
//! transaction.
//!
//! The raw files are kept rather than the parsed model: they are the one source of truth,
//! the controller re-imports them when it first needs a tenant's specs (so importer fixes
//! reach specs imported before them), and the model needs no stable serialized form.

use super::db::Db;
use super::records::{decode, encode};
use super::{Result, Tree, keys};
use picket_shared::TenantId;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// What is kept of an imported spec besides its files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpecMeta {
    /// The API name the spec is kept under.
    pub api: String,
    /// Host for servers the document names none of (`ImportOptions::default_host`).
    pub host: Option<String>,
    /// The root file's name.
    pub root: String,
    /// Files in the bundle.
    pub files: u32,
    /// Bytes of all files.
    pub bytes: u64,
    pub imported_ms: i64,
    /// Who imported it (`token:<id>`).
    pub imported_by: String,
}

/// One file of a spec, as sent (names are `/`-separated, relative; content is UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecFileRecord {
    pub name: String,
    pub content: String,
}

/// The files of a spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpecBundle {
    pub files: Vec<SpecFileRecord>,
}

impl Db {
    /// A tenant's specs' metadata, by API name (a tenant holds few, so unpaged).
    pub fn spec_metas(&self, tenant: &TenantId) -> Result<Vec<SpecMeta>> {
        self.scan_all(Tree::Specs, &keys::tenant_prefix(tenant))
    }

    /// The files of one spec.
    pub fn spec_bundle(&self, tenant: &TenantId, api: &str) -> Result<Option<SpecBundle>> {
        self.kv
            .get(Tree::SpecBundles, &keys::by_id(tenant, api))?
            .map(|raw| decode(Tree::SpecBundles, &raw))
            .transpose()
    }

    /// Stores a spec, replacing the API's previous one. Quotas are the caller's to check.
    pub fn put_spec(&self, tenant: &TenantId, meta: &SpecMeta, bundle: &SpecBundle) -> Result<()> {
        let key = keys::by_id(tenant, &meta.api);
        let (meta, bundle) = (encode(meta), encode(bundle));
        self.kv.transact(&|txn| {
            txn.put(Tree::Specs, &key, &meta)?;
            txn.put(Tree::SpecBundles, &key, &bundle)
        })
    }

    /// Deletes a spec; false when there was none.
    pub fn delete_spec(&self, tenant: &TenantId, api: &str) -> Result<bool> {
        let key = keys::by_id(tenant, api);
        let found = Cell::new(false);
        self.kv.transact(&|txn| {
            found.set(txn.get(Tree::Specs, &key)?.is_some());
            txn.delete(Tree::Specs, &key)?;
            txn.delete(Tree::SpecBundles, &key)
        })?;
        Ok(found.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn meta(api: &str) -> SpecMeta {
        SpecMeta {
            api: api.into(),
            root: "openapi.yaml".into(),
            files: 1,
            bytes: 5,
            ..Default::default()
        }
    }

    fn bundle(text: &str) -> SpecBundle {
        SpecBundle {
            files: vec![SpecFileRecord {
                name: "openapi.yaml".into(),
                content: text.into(),
            }],
        }
    }

    #[test]
    fn specs_are_kept_per_tenant_and_replaced_and_deleted_whole() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
        db.put_spec(&a, &meta("pets"), &bundle("one")).unwrap();
        db.put_spec(&a, &meta("shop"), &bundle("two")).unwrap();
        db.put_spec(&b, &meta("pets"), &bundle("other")).unwrap();
        let apis = |t| {
            db.spec_metas(t)
                .unwrap()
                .into_iter()
                .map(|m| m.api)
                .collect::<Vec<_>>()
        };
        assert_eq!(apis(&a), ["pets", "shop"]);
        assert_eq!(apis(&b), ["pets"]);
        db.put_spec(&a, &meta("pets"), &bundle("three")).unwrap();
        assert_eq!(
            db.spec_bundle(&a, "pets").unwrap(),
            Some(bundle("three")),
            "replaced"
        );
        assert_eq!(db.spec_bundle(&b, "pets").unwrap(), Some(bundle("other")));
        assert!(db.delete_spec(&a, "pets").unwrap());
        assert!(!db.delete_spec(&a, "pets").unwrap());
        assert_eq!(db.spec_bundle(&a, "pets").unwrap(), None);
        assert_eq!(apis(&a), ["shop"]);
        assert_eq!(apis(&b), ["pets"]);
    }
}

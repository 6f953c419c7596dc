//! The per-tenant cache of parsed specs and the watch channels that carry their templates to
//! the tenant's ingest streams.
//!
//! A tenant's specs are parsed from the store the first time they are needed (a sensor
//! connects, an inventory listing, a spec RPC) and kept until the next import or delete
//! replaces them. Every change to the cache goes through one lock (`writes`), so a load
//! racing an import cannot install stale specs; imports are rare and the lock is held for one
//! store transaction and an index build, never for a parse of the imported document.

use super::bundle::check_quota;
use super::{LoadedSpec, Templates, TenantSpecs};
use crate::error::{Error, Result};
use crate::store::Db;
use crate::store::specs::{SpecBundle, SpecMeta};
use picket_openapi::Spec;
use picket_shared::TenantId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// The cache of every tenant's specs (tenants are few per installation, and each tenant's
/// specs are bounded by `bundle::MAX_TENANT_SPEC_BYTES`).
#[derive(Default)]
pub struct SpecRegistry {
    cache: Mutex<HashMap<TenantId, Arc<TenantSpecs>>>,
    templates: Mutex<HashMap<TenantId, watch::Sender<Templates>>>,
    writes: Mutex<()>,
}

/// The outcome of an import.
pub struct Imported {
    /// The tenant's specs after the import.
    pub specs: Arc<TenantSpecs>,
    /// Index of the imported spec in `specs.specs`.
    pub index: usize,
    /// Whether the API had a spec before.
    pub replaced: bool,
}

impl SpecRegistry {
    /// A tenant's specs, parsed from the store on first use.
    pub fn tenant(&self, db: &Db, tenant: &TenantId) -> Result<Arc<TenantSpecs>> {
        if let Some(t) = self.cached(tenant) {
            return Ok(t);
        }
        let _w = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        self.tenant_locked(db, tenant)
    }

    /// Subscribes to the templates of a tenant's specs (the current ones are marked seen:
    /// send `borrow()` first).
    pub fn watch_templates(
        &self,
        db: &Db,
        tenant: &TenantId,
    ) -> Result<watch::Receiver<Templates>> {
        let specs = self.tenant(db, tenant)?;
        let mut m = self
            .templates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(m.entry(tenant.clone())
            .or_insert_with(|| watch::channel(specs.templates.clone()).0)
            .subscribe())
    }

    /// Stores the spec `meta` and `bundle` describe, already imported as `spec`, replacing the
    /// API's previous one, within the tenant's quotas.
    pub fn import(
        &self,
        db: &Db,
        tenant: &TenantId,
        meta: SpecMeta,
        bundle: &SpecBundle,
        spec: Spec,
    ) -> Result<Imported> {
        let _w = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.tenant_locked(db, tenant)?;
        let existing = db.spec_metas(tenant)?;
        check_quota(&existing, &meta)?;
        let replaced = existing.iter().any(|m| m.api == meta.api);
        db.put_spec(tenant, &meta, bundle)?;
        db.flush()?;
        let api = meta.api.clone();
        let mut specs: Vec<LoadedSpec> = current
            .specs
            .iter()
            .filter(|s| s.meta.api != api)
            .cloned()
            .collect();
        specs.push(LoadedSpec {
            meta,
            parsed: Ok(Arc::new(spec)),
        });
        let specs = self.install(tenant, specs);
        let index = specs
            .find(&api)
            .map(|(i, _)| i)
            .ok_or_else(|| Error::Internal(format!("spec {api:?} missing after its import")))?;
        Ok(Imported {
            specs,
            index,
            replaced,
        })
    }

    /// Deletes the spec of `api`; false when there was none.
    pub fn delete(&self, db: &Db, tenant: &TenantId, api: &str) -> Result<bool> {
        let _w = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.tenant_locked(db, tenant)?;
        if !db.delete_spec(tenant, api)? {
            return Ok(false);
        }
        db.flush()?;
        let specs = current
            .specs
            .iter()
            .filter(|s| s.meta.api != api)
            .cloned()
            .collect();
        self.install(tenant, specs);
        Ok(true)
    }

    fn cached(&self, tenant: &TenantId) -> Option<Arc<TenantSpecs>> {
        let m = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(tenant).cloned()
    }

    /// [`Self::tenant`] with `writes` held.
    fn tenant_locked(&self, db: &Db, tenant: &TenantId) -> Result<Arc<TenantSpecs>> {
        if let Some(t) = self.cached(tenant) {
            return Ok(t);
        }
        let mut specs = Vec::new();
        for meta in db.spec_metas(tenant)? {
            let bundle = db.spec_bundle(tenant, &meta.api)?.unwrap_or_default();
            let loaded = LoadedSpec::load(meta, &bundle);
            if let Err(e) = &loaded.parsed {
                tracing::warn!(tenant = %tenant, api = %loaded.meta.api, error = %e, "a stored spec no longer imports; it documents nothing until imported again");
            }
            specs.push(loaded);
        }
        Ok(self.install(tenant, specs))
    }

    /// Indexes `specs` as the tenant's, caches them and tells the tenant's streams of changed
    /// templates. Called with `writes` held.
    fn install(&self, tenant: &TenantId, specs: Vec<LoadedSpec>) -> Arc<TenantSpecs> {
        let built = Arc::new(TenantSpecs::build(specs));
        if built.templates_dropped > 0 {
            tracing::warn!(tenant = %tenant, dropped = built.templates_dropped, kept = built.templates.len(), "spec templates beyond the directive's byte limit are not sent to sensors");
        }
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.clone(), built.clone());
        let mut m = self
            .templates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let new = built.templates.clone();
        match m.get(tenant) {
            Some(tx) => {
                tx.send_if_modified(|cur| {
                    let changed = **cur != *new;
                    *cur = new;
                    changed
                });
            }
            None => {
                m.insert(tenant.clone(), watch::channel(new).0);
            }
        }
        built
    }
}

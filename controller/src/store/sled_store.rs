//! sled-backed [`Store`]: one sled tree per [`Tree`], multi-tree transactions, explicit flush
//! for durability before acknowledgements.

use super::{Result, Store, StoreError, Tree, Txn};
use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionalTree, UnabortableTransactionError,
};
use std::cell::RefCell;
use std::path::Path;

pub struct SledStore {
    db: sled::Db,
    /// Indexed by `Tree as usize`.
    trees: Vec<sled::Tree>,
}

/// Page-cache capacity of [`SledStore::open`]: the controller's default (`limits.store_cache_mib`).
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SledStore {
    /// Opens (or creates) the store under `dir` with sled's default page cache.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store under `dir` with a page cache of `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(backend)?;
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()).map_err(backend))
            .collect::<Result<Vec<_>>>()?;
        debug_assert!(Tree::ALL.iter().enumerate().all(|(i, t)| *t as usize == i));
        Ok(Self { db, trees })
    }

    fn tree(&self, t: Tree) -> &sled::Tree {
        &self.trees[t as usize]
    }
}

struct SledTxn<'a> {
    trees: &'a [TransactionalTree],
    /// sled's own error, kept so the closure can hand it back (conflicts make sled retry).
    failure: &'a RefCell<Option<UnabortableTransactionError>>,
}

impl SledTxn<'_> {
    fn fail(&self, e: UnabortableTransactionError) -> StoreError {
        *self.failure.borrow_mut() = Some(e);
        StoreError::Conflict
    }
}

impl Txn for SledTxn<'_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.trees[tree as usize].get(key) {
            Ok(v) => Ok(v.map(|iv| iv.to_vec())),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn put(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        match self.trees[tree as usize].insert(key, value) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn delete(&mut self, tree: Tree, key: &[u8]) -> Result<()> {
        match self.trees[tree as usize].remove(key) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }
}

impl Store for SledStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tree(tree)
            .get(key)
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        self.tree(tree).insert(key, value).map_err(backend)?;
        Ok(())
    }

    fn delete(&self, tree: Tree, key: &[u8]) -> Result<()> {
        self.tree(tree).remove(key).map_err(backend)?;
        Ok(())
    }

    fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let t = self.tree(tree);
        let iter = match after {
            Some(a) if a >= prefix => {
                t.range::<&[u8], _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
            }
            _ => t.range::<&[u8], _>(prefix..),
        };
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item.map_err(backend)?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn transact(&self, f: &dyn Fn(&mut dyn Txn) -> Result<()>) -> Result<()> {
        let refs: Vec<&sled::Tree> = self.trees.iter().collect();
        let result = refs
            .as_slice()
            .transaction(|views: &Vec<TransactionalTree>| {
                let failure = RefCell::new(None);
                let mut txn = SledTxn {
                    trees: views,
                    failure: &failure,
                };
                match f(&mut txn) {
                    Ok(()) => Ok(()),
                    Err(err) => match failure.into_inner() {
                        Some(sled_err) => Err(ConflictableTransactionError::from(sled_err)),
                        None => Err(ConflictableTransactionError::Abort(err)),
                    },
                }
            });
        result.map_err(|e| match e {
            sled::transaction::TransactionError::Abort(err) => err,
            sled::transaction::TransactionError::Storage(e) => backend(e),
        })
    }

    fn apply(&self, tree: Tree, writes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in writes {
            match v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
        }
        self.tree(tree).apply_batch(batch).map_err(backend)
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(backend)?;
        Ok(())
    }
}

//! In-memory [`Store`] for unit tests: one mutex over ordered maps; transactions buffer their
//! writes and apply them only when the closure succeeds.

use super::{Result, Store, Tree, Txn};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Default)]
pub struct MemoryStore {
    trees: Mutex<HashMap<Tree, Map>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

struct MemTxn<'a> {
    trees: &'a HashMap<Tree, Map>,
    /// `None` deletes.
    writes: Vec<(Tree, Vec<u8>, Option<Vec<u8>>)>,
}

impl Txn for MemTxn<'_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some((_, _, v)) = self
            .writes
            .iter()
            .rev()
            .find(|(t, k, _)| *t == tree && k == key)
        {
            return Ok(v.clone());
        }
        Ok(self.trees.get(&tree).and_then(|m| m.get(key)).cloned())
    }

    fn put(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        self.writes.push((tree, key.to_vec(), Some(value.to_vec())));
        Ok(())
    }

    fn delete(&mut self, tree: Tree, key: &[u8]) -> Result<()> {
        self.writes.push((tree, key.to_vec(), None));
        Ok(())
    }
}

impl Store for MemoryStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let trees = self.trees.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(trees.get(&tree).and_then(|m| m.get(key)).cloned())
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        let mut trees = self.trees.lock().unwrap_or_else(PoisonError::into_inner);
        trees
            .entry(tree)
            .or_default()
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&self, tree: Tree, key: &[u8]) -> Result<()> {
        let mut trees = self.trees.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = trees.get_mut(&tree) {
            m.remove(key);
        }
        Ok(())
    }

    fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let trees = self.trees.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(map) = trees.get(&tree) else {
            return Ok(Vec::new());
        };
        Ok(map
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| after.is_none_or(|a| k.as_slice() > a))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn transact(&self, f: &dyn Fn(&mut dyn Txn) -> Result<()>) -> Result<()> {
        let mut trees = self.trees.lock().unwrap_or_else(PoisonError::into_inner);
        let mut txn = MemTxn {
            trees: &trees,
            writes: Vec::new(),
        };
        f(&mut txn)?;
        let writes = txn.writes;
        for (tree, k, v) in writes {
            let map = trees.entry(tree).or_default();
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }

    fn apply(&self, tree: Tree, writes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let mut trees = self.trees.lock().unwrap_or_else(PoisonError::into_inner);
        let map = trees.entry(tree).or_default();
        for (k, v) in writes {
            match v {
                Some(v) => map.insert(k.clone(), v.clone()),
                None => map.remove(k),
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

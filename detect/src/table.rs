//! A persisted map with dirty tracking: every entry is one state key (`prefix 0x00 key`), its
//! value JSON. Only entries touched since the last flush are written, and removed entries are
//! written as deletions, so an analysis writes in proportion to what its input touched.

use crate::StateError;
use foldhash::HashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;

/// One persisted map.
#[derive(Debug, Clone)]
pub struct Table<V> {
    prefix: &'static str,
    map: HashMap<String, V>,
    dirty: BTreeSet<String>,
}

impl<V: Serialize + DeserializeOwned> Table<V> {
    pub fn new(prefix: &'static str) -> Table<V> {
        Table {
            prefix,
            map: HashMap::default(),
            dirty: BTreeSet::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The entry for writing (marks it dirty).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let v = self.map.get_mut(key)?;
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_owned());
        }
        Some(v)
    }

    /// The entry for writing, created with `make` when absent (marks it dirty).
    pub fn entry(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_owned());
        }
        self.map.entry(key.to_owned()).or_insert_with(make)
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let v = self.map.remove(key)?;
        self.dirty.insert(key.to_owned());
        Some(v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.map.iter()
    }

    /// Removes the `n` entries with the smallest `age` (ties by key, so the choice is
    /// deterministic); returns how many went.
    pub fn evict_oldest(&mut self, n: usize, age: impl Fn(&V) -> i64) -> usize {
        let mut keys: Vec<(i64, String)> =
            self.map.iter().map(|(k, v)| (age(v), k.clone())).collect();
        keys.sort_unstable();
        let mut gone = 0;
        for (_, k) in keys.into_iter().take(n) {
            self.remove(&k);
            gone += 1;
        }
        gone
    }

    /// Whether `key` (a full state key) belongs to this table; returns the map key.
    fn own<'k>(&self, key: &'k [u8]) -> Option<&'k [u8]> {
        let p = self.prefix.as_bytes();
        (key.len() > p.len() && key.starts_with(p) && key[p.len()] == 0)
            .then(|| &key[p.len() + 1..])
    }

    /// Takes `(key, value)` if it belongs here; `Ok(false)` when it does not.
    pub fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<bool, StateError> {
        let Some(k) = self.own(key) else {
            return Ok(false);
        };
        let name = String::from_utf8(k.to_vec()).map_err(|_| StateError {
            key: String::from_utf8_lossy(key).into_owned(),
            detail: "key is not UTF-8".into(),
        })?;
        let v = serde_json::from_slice(value).map_err(|e| StateError {
            key: name.clone(),
            detail: e.to_string(),
        })?;
        self.map.insert(name, v);
        Ok(true)
    }

    /// The writes for every entry touched since the last flush, in key order.
    pub fn flush(&mut self, out: &mut Vec<crate::StateWrite>) {
        for k in std::mem::take(&mut self.dirty) {
            let mut key = Vec::with_capacity(self.prefix.len() + 1 + k.len());
            key.extend_from_slice(self.prefix.as_bytes());
            key.push(0);
            key.extend_from_slice(k.as_bytes());
            // Serializing plain data structs (strings, numbers, maps with string or integer
            // keys) cannot fail; a failure would drop the write, never panic.
            let value = self.map.get(&k).and_then(|v| serde_json::to_vec(v).ok());
            out.push(crate::StateWrite { key, value });
        }
    }
}

/// FNV-1a, 64-bit: a hash that stays the same across builds and versions (alert ids and
/// stored hashes depend on it).
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

//! A persisted map with dirty tracking: every entry is one state key (`prefix 0x00 key`), its
//! value in postcard (a compact binary serde format: state is written on every analysis that
//! touches it, so its encoding is on the hot path). Only entries touched since the last flush
//! are written, and removed entries are written as deletions, so an analysis writes in
//! proportion to what its input touched — and when several analyses run before one flush, an
//! entry they all touched is encoded and written once.

use crate::StateError;
use foldhash::HashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One entry and whether it changed since the last flush.
#[derive(Debug, Clone)]
struct Slot<V> {
    value: V,
    dirty: bool,
}

/// One persisted map.
#[derive(Debug, Clone)]
pub struct Table<V> {
    prefix: &'static str,
    map: HashMap<String, Slot<V>>,
    /// Keys whose entry changed or went since the last flush (each once; an entry removed
    /// then re-created may appear twice, which `flush` tolerates).
    touched: Vec<String>,
}

impl<V: Serialize + DeserializeOwned> Table<V> {
    pub fn new(prefix: &'static str) -> Table<V> {
        Table {
            prefix,
            map: HashMap::default(),
            touched: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Marks a present slot dirty, remembering its key the first time.
    fn mark(touched: &mut Vec<String>, key: &str, slot: &mut Slot<V>) {
        if !slot.dirty {
            slot.dirty = true;
            touched.push(key.to_owned());
        }
    }

    /// The entry for writing (marks it dirty).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let slot = self.map.get_mut(key)?;
        Self::mark(&mut self.touched, key, slot);
        Some(&mut slot.value)
    }

    /// The entry for writing, created with `make` when absent (marks it dirty). The key is
    /// copied only when the entry is new or first touched since the last flush.
    pub fn entry(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(key) {
            self.touched.push(key.to_owned());
            self.map.insert(
                key.to_owned(),
                Slot {
                    value: make(),
                    dirty: true,
                },
            );
        }
        // Present: inserted above when it was not.
        let slot = self.map.get_mut(key).expect("entry present");
        Self::mark(&mut self.touched, key, slot);
        &mut slot.value
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let slot = self.map.remove(key)?;
        if !slot.dirty {
            self.touched.push(key.to_owned());
        }
        Some(slot.value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.map.iter().map(|(k, s)| (k, &s.value))
    }

    /// Removes the `n` entries with the smallest `age` (ties by key, so the choice is
    /// deterministic); returns how many went.
    pub fn evict_oldest(&mut self, n: usize, age: impl Fn(&V) -> i64) -> usize {
        let mut keys: Vec<(i64, String)> = self
            .map
            .iter()
            .map(|(k, s)| (age(&s.value), k.clone()))
            .collect();
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
        let value = decode(&name, value)?;
        self.map.insert(
            name,
            Slot {
                value,
                dirty: false,
            },
        );
        Ok(true)
    }

    /// The writes for every entry touched since the last flush, in key order.
    pub fn flush(&mut self, out: &mut Vec<crate::StateWrite>) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        out.reserve(touched.len());
        for k in touched {
            let mut key = Vec::with_capacity(self.prefix.len() + 1 + k.len());
            key.extend_from_slice(self.prefix.as_bytes());
            key.push(0);
            key.extend_from_slice(k.as_bytes());
            let value = self.map.get_mut(&k).and_then(|slot| {
                slot.dirty = false;
                encode(&slot.value)
            });
            out.push(crate::StateWrite { key, value });
        }
    }
}

/// A state value's bytes. Serializing plain data structs (strings, numbers, maps, sequences)
/// into a growable buffer cannot fail; a failure would write a deletion, never panic.
pub fn encode<V: Serialize>(value: &V) -> Option<Vec<u8>> {
    postcard::to_stdvec(value).ok()
}

/// A state value from its bytes, or an error naming the key.
pub fn decode<V: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<V, StateError> {
    postcard::from_bytes(bytes).map_err(|e| StateError {
        key: key.to_owned(),
        detail: e.to_string(),
    })
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

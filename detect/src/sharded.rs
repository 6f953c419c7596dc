//! A persisted map for many small entries (actors, actor-endpoint pairs), written as shards:
//! each entry belongs to one of [`SHARDS`] shards by a stable hash of its key, and a shard is
//! one state key (`prefix 0x00 shard(be16)`) whose value is its entries, sorted, in postcard.
//!
//! Why: on sparse traffic nearly every request touches an actor-endpoint pair nobody touched
//! since the last checkpoint, so writing one store key per entry made the store's per-key cost
//! (a tree descent and a page rewrite each) the largest part of analysis. A shard amortizes it
//! over every entry it holds; the price is rewriting a whole shard for one changed entry,
//! which [`SHARDS`] keeps small (a few KiB at the entry caps).

use crate::StateError;
use crate::table::{decode, encode};
use foldhash::HashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Shards per table: at `MAX_ACTOR_ENDPOINTS` entries of about 80 bytes, about 8 KiB each.
pub const SHARDS: usize = 4_096;

/// One persisted, sharded map.
#[derive(Debug, Clone)]
pub struct Sharded<V> {
    prefix: &'static str,
    /// The entries, by shard (an empty map allocates nothing).
    shards: Vec<HashMap<String, V>>,
    len: usize,
    /// Shards changed since the last flush, each once.
    dirty: Vec<u16>,
    is_dirty: Vec<bool>,
}

/// The shard of a key. A fast hash with a fixed seed: the assignment must hold within a
/// process, not across versions (`restore` re-shards what it reads).
fn shard_of(key: &str) -> usize {
    use std::hash::BuildHasher;
    const SHARDING: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x5eed);
    (SHARDING.hash_one(key) % SHARDS as u64) as usize
}

impl<V: Serialize + DeserializeOwned> Sharded<V> {
    pub fn new(prefix: &'static str) -> Sharded<V> {
        Sharded {
            prefix,
            shards: (0..SHARDS).map(|_| HashMap::default()).collect(),
            len: 0,
            dirty: Vec::new(),
            is_dirty: vec![false; SHARDS],
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn mark(&mut self, s: usize) {
        if !self.is_dirty[s] {
            self.is_dirty[s] = true;
            self.dirty.push(s as u16);
        }
    }

    /// The entry for writing, created with `make` when absent (marks its shard dirty).
    pub fn entry(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let s = shard_of(key);
        self.mark(s);
        let shard = &mut self.shards[s];
        if !shard.contains_key(key) {
            shard.insert(key.to_owned(), make());
            self.len += 1;
        }
        // Present: inserted above when it was not.
        shard.get_mut(key).expect("entry present")
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let s = shard_of(key);
        let v = self.shards[s].remove(key)?;
        self.len -= 1;
        self.mark(s);
        Some(v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.shards.iter().flat_map(|m| m.iter())
    }

    /// Removes the `n` entries with the smallest `age` (ties by key, so the choice is
    /// deterministic); returns how many went.
    pub fn evict_oldest(&mut self, n: usize, age: impl Fn(&V) -> i64) -> usize {
        let mut keys: Vec<(i64, String)> = self.iter().map(|(k, v)| (age(v), k.clone())).collect();
        keys.sort_unstable();
        let mut gone = 0;
        for (_, k) in keys.into_iter().take(n) {
            self.remove(&k);
            gone += 1;
        }
        gone
    }

    /// The state key of shard `s`.
    fn key_of(&self, s: usize) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 3);
        key.extend_from_slice(self.prefix.as_bytes());
        key.push(0);
        key.extend_from_slice(&(s as u16).to_be_bytes());
        key
    }

    /// Takes `(key, value)` if it is one of this table's shards; `Ok(false)` when it is not.
    pub fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<bool, StateError> {
        let p = self.prefix.as_bytes();
        if key.len() != p.len() + 3 || !key.starts_with(p) || key[p.len()] != 0 {
            return Ok(false);
        }
        let name = String::from_utf8_lossy(key).into_owned();
        let entries: Vec<(String, V)> = decode(&name, value)?;
        let from = usize::from(u16::from_be_bytes([key[p.len() + 1], key[p.len() + 2]]));
        for (k, v) in entries {
            // Entries land in the shard their key hashes to, whatever shard held them (another
            // version may shard differently): then both shards are rewritten at the next
            // flush, so the store never keeps a stale copy.
            let to = shard_of(&k);
            if to != from && from < SHARDS {
                self.mark(from);
                self.mark(to);
            }
            if self.shards[to].insert(k, v).is_none() {
                self.len += 1;
            }
        }
        Ok(true)
    }

    /// The writes of every shard changed since the last flush, in shard order (a shard left
    /// empty is written as a deletion).
    pub fn flush(&mut self, out: &mut Vec<crate::StateWrite>) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        for s in dirty {
            let s = usize::from(s);
            self.is_dirty[s] = false;
            let mut entries: Vec<(&String, &V)> = self.shards[s].iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let value = if entries.is_empty() {
                None
            } else {
                encode(&entries)
            };
            out.push(crate::StateWrite {
                key: self.key_of(s),
                value,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a table's flushed writes restore to.
    fn reload(writes: &[crate::StateWrite]) -> Sharded<u64> {
        let mut t = Sharded::new("x");
        for w in writes {
            if let Some(v) = &w.value {
                assert!(t.restore(&w.key, v).unwrap());
            }
        }
        t
    }

    #[test]
    fn flushed_shards_restore_every_entry_and_deletions_empty_them() {
        let mut t: Sharded<u64> = Sharded::new("x");
        for i in 0..10_000u64 {
            *t.entry(&format!("k{i}"), || 0) += i;
        }
        let mut writes = Vec::new();
        t.flush(&mut writes);
        assert!(writes.len() <= SHARDS && writes.len() > SHARDS / 2);
        let back = reload(&writes);
        assert_eq!(back.len(), 10_000);
        assert_eq!(back.shards[shard_of("k77")].get("k77"), Some(&77));
        // Nothing changed: nothing to write.
        let mut again = Vec::new();
        t.flush(&mut again);
        assert!(again.is_empty());
        // One change rewrites one shard; removing a shard's only entry deletes it.
        let mut small: Sharded<u64> = Sharded::new("x");
        small.entry("only", || 1);
        small.flush(&mut Vec::new());
        small.remove("only");
        let mut del = Vec::new();
        small.flush(&mut del);
        assert_eq!(del.len(), 1);
        assert_eq!(del[0].value, None);
        *t.entry("k5", || 0) = 500;
        let mut one = Vec::new();
        t.flush(&mut one);
        assert_eq!(one.len(), 1);
        let mut store: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = writes
            .into_iter()
            .filter_map(|w| Some((w.key, w.value?)))
            .collect();
        store.insert(one[0].key.clone(), one[0].value.clone().unwrap());
        let mut back = Sharded::<u64>::new("x");
        for (k, v) in &store {
            back.restore(k, v).unwrap();
        }
        assert_eq!(back.shards[shard_of("k5")].get("k5"), Some(&500));
        assert_eq!(back.len(), 10_000);
    }

    /// A shard written under another assignment is re-sharded and both shards are rewritten.
    #[test]
    fn entries_under_a_foreign_shard_move_and_both_shards_rewrite() {
        let k = "moved";
        let home = shard_of(k);
        let other = (home + 1) % SHARDS;
        let mut key = b"x\0".to_vec();
        key.extend_from_slice(&(other as u16).to_be_bytes());
        let value = encode(&vec![(k.to_owned(), 7u64)]).unwrap();
        let mut t: Sharded<u64> = Sharded::new("x");
        assert!(t.restore(&key, &value).unwrap());
        assert_eq!(t.shards[home].get(k), Some(&7));
        let mut writes = Vec::new();
        t.flush(&mut writes);
        let keys: Vec<&[u8]> = writes.iter().map(|w| &w.key[2..]).collect();
        assert_eq!(writes.len(), 2);
        assert!(keys.contains(&&(home as u16).to_be_bytes()[..]));
        let stale = writes
            .iter()
            .find(|w| w.key == key)
            .expect("the foreign shard is rewritten");
        assert_eq!(stale.value, None, "it held only the moved entry");
    }

    #[test]
    fn foreign_keys_are_not_taken() {
        let mut t: Sharded<u64> = Sharded::new("x");
        assert!(!t.restore(b"e\0abc", b"").unwrap());
        assert!(!t.restore(b"x\0abcdef", b"").unwrap());
        assert!(
            t.restore(b"x\0\0\x01", b"\x05\xff").is_err(),
            "a torn shard is an error"
        );
    }
}

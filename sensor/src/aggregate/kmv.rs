//! A k-minimum-values sample of object references: the smallest distinct 32-bit keyed hashes
//! seen, at most [`MAX_REF_SAMPLE`], ascending. Fixed-size and allocation-free; once full, a
//! value above the current maximum (nearly every value, after a few dozen) costs one compare.
//! The controller merges samples across windows and clients to estimate distinct references.

pub use picket_shared::limits::MAX_REF_SAMPLE;

/// The 32-bit sample value of a 64-bit keyed object-reference hash (its high half; the hash is
/// uniform, so the half is too).
pub(super) fn ref_value(ref_hash: u64) -> u32 {
    (ref_hash >> 32) as u32
}

/// The `k` smallest distinct values inserted, ascending.
#[derive(Clone, Copy, Default)]
pub(super) struct RefSample {
    len: u8,
    values: [u32; MAX_REF_SAMPLE],
}

const _: () = assert!(MAX_REF_SAMPLE <= u8::MAX as usize && MAX_REF_SAMPLE > 0);

impl RefSample {
    /// Adds `v` unless it is already sampled or larger than every sampled value of a full
    /// sample.
    pub(super) fn insert(&mut self, v: u32) {
        let n = usize::from(self.len);
        if n == MAX_REF_SAMPLE && v >= self.values[n - 1] {
            return;
        }
        let Err(at) = self.values[..n].binary_search(&v) else {
            return;
        };
        let end = n.min(MAX_REF_SAMPLE - 1);
        // Shift the larger values one place right; a full sample drops its largest.
        self.values.copy_within(at..end, at + 1);
        self.values[at] = v;
        self.len = (end + 1) as u8;
        debug_assert!(self.values[..usize::from(self.len)].is_sorted());
    }

    /// The sampled values, ascending.
    pub(super) fn values(&self) -> &[u32] {
        &self.values[..usize::from(self.len)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(values: &[u32]) -> Vec<u32> {
        let mut v = values.to_vec();
        v.sort_unstable();
        v.dedup();
        v.truncate(MAX_REF_SAMPLE);
        v
    }

    #[test]
    fn keeps_the_smallest_distinct() {
        let mut s = RefSample::default();
        assert!(s.values().is_empty());
        for v in [5, 3, 5, 9, 3, 1] {
            s.insert(v);
        }
        assert_eq!(s.values(), [1, 3, 5, 9]);
        for v in (100..200).rev() {
            s.insert(v);
        }
        s.insert(0);
        s.insert(u32::MAX);
        let mut want = vec![0, 1, 3, 5, 9];
        want.extend(100..111);
        assert_eq!(s.values(), want);
    }

    proptest! {
        #[test]
        fn equals_the_k_smallest_distinct(
            values in prop::collection::vec(prop_oneof![0u32..40, any::<u32>()], 0..200),
            seed in any::<u64>(),
        ) {
            let mut s = RefSample::default();
            for &v in &values {
                s.insert(v);
            }
            let want = reference(&values);
            prop_assert_eq!(s.values(), want.as_slice());
            // Order and repetitions do not matter.
            let mut shuffled: Vec<u32> = values.iter().chain(&values).copied().collect();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut t = RefSample::default();
            for &v in &shuffled {
                t.insert(v);
            }
            prop_assert_eq!(t.values(), s.values());
        }
    }
}

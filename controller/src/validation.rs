//! What ingest validation drops from an accepted batch, by reason. Validation drops the
//! offending field, map entry or list item and counts it here; an endpoint summary itself is
//! never dropped (an unattributable key is folded into a placeholder key, see
//! `grpc::convert`), so its request count and its billing survive. A leaf module: the gRPC
//! conversion fills [`Drops`], the shared state keeps [`DropCounters`] for the metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why something was dropped from a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A summary's host was invalid: the summary moved to the host [`INVALID_HOST`].
    Host,
    /// A summary's method was invalid: the summary moved to the method [`INVALID_METHOD`].
    Method,
    /// A summary's path template was invalid: moved to the template [`INVALID_TEMPLATE`].
    Template,
    /// `first_seen_ms` after `last_seen_ms`: the range was reordered.
    SeenRange,
    /// A status code of 1000 or more (its count is dropped, the requests stay).
    Status,
    /// A histogram bucket out of range.
    HistogramBucket,
    /// A label (sensitive class, injection rule, agent label, auth scheme) that is not
    /// printable text within its length bound, or beyond the entry cap.
    Label,
    /// A parameter with an unknown location, an invalid name, or beyond the cap.
    Param,
    /// A top client beyond the cap, or a client principal that is not hex.
    Client,
    /// A notable event that is invalid as a whole, or beyond the cap.
    Notable,
    /// An actor summary that is invalid as a whole, or beyond the cap.
    Actor,
}

impl DropReason {
    pub const ALL: [DropReason; 11] = [
        DropReason::Host,
        DropReason::Method,
        DropReason::Template,
        DropReason::SeenRange,
        DropReason::Status,
        DropReason::HistogramBucket,
        DropReason::Label,
        DropReason::Param,
        DropReason::Client,
        DropReason::Notable,
        DropReason::Actor,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Host => "host",
            DropReason::Method => "method",
            DropReason::Template => "template",
            DropReason::SeenRange => "seen_range",
            DropReason::Status => "status",
            DropReason::HistogramBucket => "histogram_bucket",
            DropReason::Label => "label",
            DropReason::Param => "param",
            DropReason::Client => "client",
            DropReason::Notable => "notable",
            DropReason::Actor => "actor",
        }
    }
}

/// Host of the summaries whose host could not be attributed.
pub const INVALID_HOST: &str = "invalid.picket";
/// Method of the summaries whose method could not be attributed.
pub const INVALID_METHOD: &str = "INVALID";
/// Template of the summaries whose path template could not be attributed.
pub const INVALID_TEMPLATE: &str = "/{invalid}";

/// Drops of one batch, per reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drops([u64; DropReason::ALL.len()]);

impl Drops {
    pub fn add(&mut self, reason: DropReason, n: u64) {
        let slot = &mut self.0[reason as usize];
        *slot = slot.saturating_add(n);
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().fold(0, |a, b| a.saturating_add(*b))
    }

    /// The non-zero reasons, for logs.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        DropReason::ALL
            .iter()
            .filter(|r| self.get(**r) > 0)
            .map(|r| (r.as_str(), self.get(*r)))
            .collect()
    }
}

/// Drops since start, per reason (read by the metrics at scrape time).
#[derive(Debug, Default)]
pub struct DropCounters([AtomicU64; DropReason::ALL.len()]);

impl DropCounters {
    pub fn add(&self, d: &Drops) {
        for (slot, n) in self.0.iter().zip(d.0) {
            if n > 0 {
                slot.fetch_add(n, Relaxed);
            }
        }
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize].load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_shared::limits;

    #[test]
    fn placeholders_are_valid_keys_and_reasons_are_indexed_in_order() {
        assert!(limits::valid_host(INVALID_HOST));
        assert!(limits::valid_method(INVALID_METHOD));
        assert!(limits::valid_template(INVALID_TEMPLATE));
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        let mut d = Drops::default();
        d.add(DropReason::Status, 2);
        d.add(DropReason::Status, u64::MAX);
        assert_eq!(d.get(DropReason::Status), u64::MAX);
        assert_eq!(d.nonzero(), vec![("status", u64::MAX)]);
        let c = DropCounters::default();
        c.add(&d);
        assert_eq!(c.get(DropReason::Status), u64::MAX);
    }
}

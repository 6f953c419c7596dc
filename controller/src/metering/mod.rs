//! Plans, billing cycles and metering arithmetic. Pure functions over integers: money is
//! micro-dollars (`u64`), products go through `u128`, nothing is a float.
//!
//! **Counting rule** (one place, [`counts_as_call`]): one API call is one request observed by
//! any of the tenant's sensors on an onboarded API; requests to APIs that are not onboarded are
//! counted separately as unprotected traffic and never billed or analyzed.
//!
//! **Cycle**: the calendar month in UTC; usage counters belong to the cycle in which the
//! controller commits the batch that carries them (ingest time, not request time), so late or
//! replayed traffic is billed when it is processed.
//!
//! **Proration**: a plan change applies from the moment it is made. Within a cycle, the monthly
//! fee and the included calls of each plan count in proportion to the seconds the plan was in
//! effect (the current plan is assumed to run to the cycle's end). Overage = calls above the
//! prorated entitlement, priced at the overage rate of the plan in effect when it is computed.

pub mod account;
pub mod clock;
pub mod cycle;
pub mod plans;
pub mod policy;
pub mod report;
pub mod usage;

pub use account::{BillingAccount, Enforcement};
pub use clock::{Clock, ManualClock, SystemClock};
pub use cycle::Cycle;
pub use plans::{Catalogue, Plan};
pub use policy::MeterPolicy;

/// An API's onboarding state (Defender for APIs' two-step model): traffic of a *discovered*
/// API is counted as unprotected, neither billed nor analyzed, until it is *onboarded*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiState {
    Discovered,
    Onboarded,
}

impl ApiState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiState::Discovered => "discovered",
            ApiState::Onboarded => "onboarded",
        }
    }
}

/// Whether requests to an API in `state` count as billable, analyzed calls: only onboarded
/// APIs do. The state is read in the transaction that meters the batch.
pub fn counts_as_call(state: ApiState) -> bool {
    state == ApiState::Onboarded
}

//! The metering policy: catalogue, defaults for new tenants, thresholds, retention.

use super::account::{BillingAccount, Enforcement};
use super::plans::{Catalogue, Plan};

/// How the controller meters and bills.
#[derive(Debug, Clone)]
pub struct MeterPolicy {
    pub catalogue: Catalogue,
    /// Plan of tenants that never chose one (must be in the catalogue).
    pub default_plan: String,
    pub default_enforcement: Enforcement,
    /// Budget thresholds in percent of the entitlement, ascending.
    pub thresholds_pct: Vec<u32>,
    /// Billing cycles of usage history kept (13 = the current month and the 12 before it).
    pub history_cycles: u32,
}

impl Default for MeterPolicy {
    fn default() -> Self {
        Self {
            catalogue: Catalogue::defaults(),
            default_plan: "P1".into(),
            default_enforcement: Enforcement::Overage,
            thresholds_pct: vec![80, 100],
            history_cycles: 13,
        }
    }
}

impl MeterPolicy {
    /// The plan used when an account names a plan the catalogue no longer has.
    pub fn fallback_plan(&self) -> &Plan {
        // Config validation guarantees the default plan exists; the first plan is a safe
        // stand-in should that ever be violated (the catalogue is never empty).
        self.catalogue
            .get(&self.default_plan)
            .unwrap_or(&self.catalogue.plans()[0])
    }

    /// The account of a tenant that never chose a plan.
    pub fn default_account(&self) -> BillingAccount {
        BillingAccount::new(&self.default_plan, self.default_enforcement)
    }
}

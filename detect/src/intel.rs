//! Threat intelligence: address lists and user-agent patterns loaded from files.

/// Loaded threat-intelligence lists.
#[derive(Debug, Clone, Default)]
pub struct Intel {}

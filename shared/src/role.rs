//! Token roles and what each may do.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a token may do. `Reader < Operator < Admin` form a ladder; `Sensor` stands apart and
/// may only ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Sensor,
    Reader,
    Operator,
    Admin,
}

impl Role {
    /// Whether a token with role `self` may call an RPC that requires `required`.
    pub fn allows(self, required: Role) -> bool {
        match (self, required) {
            (Role::Sensor, Role::Sensor) => true,
            (Role::Sensor, _) | (_, Role::Sensor) => false,
            (have, need) => have.rank() >= need.rank(),
        }
    }

    fn rank(self) -> u8 {
        match self {
            Role::Sensor => 0,
            Role::Reader => 1,
            Role::Operator => 2,
            Role::Admin => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sensor => "sensor",
            Role::Reader => "reader",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses a lower-case role name.
    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "sensor" => Some(Role::Sensor),
            "reader" => Some(Role::Reader),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Role::*;
    use super::*;

    fn check(have: Role, need: Role, ok: bool) {
        assert_eq!(have.allows(need), ok, "{have} for {need}");
    }

    #[test]
    fn ladder_and_sensor_apart() {
        check(Reader, Reader, true);
        check(Operator, Reader, true);
        check(Admin, Operator, true);
        check(Reader, Operator, false);
        check(Sensor, Sensor, true);
        check(Sensor, Reader, false);
        check(Admin, Sensor, false);
        for r in [Sensor, Reader, Operator, Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}

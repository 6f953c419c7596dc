//! `picketctl tokens …`: create (with an optional lifetime), list (with expiry and last use),
//! revoke and rotate.

use crate::client::Authed;
use crate::output::{Format, Listing, json, role_name, when};
use crate::{CliError, TokensCmd};
use picket_proto::v1 as pb;
use picket_shared::Role;
use serde_json::json as j;

/// Parses a duration like `90s`, `15m`, `12h` or `30d` into seconds.
pub fn parse_duration_secs(text: &str) -> Result<u64, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "expected a number with unit s, m, h or d (like 30d), found {text:?}"
        ))
    };
    let t = text.trim();
    let unit = t.chars().last().ok_or_else(bad)?;
    let scale: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
    n.checked_mul(scale).ok_or_else(bad)
}

fn token_object(t: &pb::Token) -> serde_json::Value {
    j!({"id": t.id, "tenant": t.tenant, "role": role_name(t.role), "description": t.description,
        "created": when(t.created_ms), "revoked": t.revoked_ms > 0,
        "installation_admin": t.installation_admin, "expires": when(t.expires_ms),
        "last_used": when(t.last_used_ms), "rotated": when(t.rotated_ms),
        "previous_secret_valid_until": when(t.previous_valid_until_ms)})
}

fn pb_role(role: &str) -> Result<pb::Role, CliError> {
    let role = Role::parse(role).ok_or_else(|| {
        CliError::Usage(format!(
            "role must be sensor, reader, operator or admin, found {role:?}"
        ))
    })?;
    Ok(match role {
        Role::Sensor => pb::Role::Sensor,
        Role::Reader => pb::Role::Reader,
        Role::Operator => pb::Role::Operator,
        Role::Admin => pb::Role::Admin,
    })
}

/// A new secret, as `create` and `rotate` print it.
fn secret_output(fmt: Format, verb: &str, r: pb::CreateTokenResponse) -> String {
    let t = r.token.unwrap_or_default();
    match fmt {
        Format::Json => {
            let mut obj = token_object(&t);
            obj["token"] = j!(r.secret);
            json(&obj)
        }
        Format::Table => format!(
            "{verb} token {} (tenant {}, role {}, expires {})\n{}\nstore it now: the secret is not shown again\n",
            t.id,
            t.tenant,
            role_name(t.role),
            when(t.expires_ms),
            r.secret
        ),
    }
}

pub async fn run(svc: Authed, fmt: Format, cmd: &TokensCmd) -> Result<String, CliError> {
    let mut c = pb::admin_client::AdminClient::new(svc);
    match cmd {
        TokensCmd::Create {
            tenant,
            role,
            description,
            ttl,
        } => {
            let ttl_secs = ttl.as_deref().map(parse_duration_secs).transpose()?;
            let r = c
                .create_token(pb::CreateTokenRequest {
                    tenant: tenant.clone().unwrap_or_default(),
                    role: pb_role(role)? as i32,
                    description: description.clone(),
                    ttl_secs: ttl_secs.unwrap_or(0),
                })
                .await?
                .into_inner();
            Ok(secret_output(fmt, "created", r))
        }
        TokensCmd::List { tenant } => {
            let r = c
                .list_tokens(pb::ListTokensRequest {
                    tenant: tenant.clone().unwrap_or_default(),
                })
                .await?
                .into_inner();
            let mut l = Listing::new(&[
                "ID",
                "TENANT",
                "ROLE",
                "CREATED",
                "EXPIRES",
                "LAST USED",
                "REVOKED",
                "DESCRIPTION",
            ]);
            for t in &r.tokens {
                l.push(
                    vec![
                        t.id.clone(),
                        t.tenant.clone(),
                        role_name(t.role).into(),
                        when(t.created_ms),
                        when(t.expires_ms),
                        when(t.last_used_ms),
                        when(t.revoked_ms),
                        t.description.clone(),
                    ],
                    token_object(t),
                );
            }
            Ok(l.render(fmt))
        }
        TokensCmd::Revoke { id } => {
            let t = c
                .revoke_token(pb::RevokeTokenRequest { id: id.clone() })
                .await?
                .into_inner();
            Ok(match fmt {
                Format::Json => json(&token_object(&t)),
                Format::Table => format!("revoked token {} (tenant {})\n", t.id, t.tenant),
            })
        }
        TokensCmd::Rotate { id, grace } => {
            let grace_secs = parse_duration_secs(grace)?;
            let r = c
                .rotate_token(pb::RotateTokenRequest {
                    id: id.clone(),
                    grace_secs: Some(grace_secs),
                })
                .await?
                .into_inner();
            let until = r.token.as_ref().map_or(0, |t| t.previous_valid_until_ms);
            let mut out = secret_output(fmt, "rotated", r);
            if fmt == Format::Table {
                out.push_str(&format!("the old secret works until {}\n", when(until)));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        for (text, want) in [
            ("30d", 2_592_000),
            ("90s", 90),
            ("15m", 900),
            ("0s", 0),
            ("2h", 7200),
        ] {
            assert_eq!(parse_duration_secs(text).unwrap(), want, "{text}");
        }
        for bad in ["", "30", "d", "-1d", "1w", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration_secs(bad).is_err(), "{bad}");
        }
    }
}

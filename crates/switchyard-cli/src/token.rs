//! `switchyard token create|list|revoke`: the API tokens of a data directory, and the
//! credential the CLI itself sends to a running server.

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use switchyard_auth::{Scope, TokenStore};

/// How long the token a CLI mints for itself lasts.
const LOCAL_TOKEN_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Mint a token; it is printed once, alone on the last line, and never stored.
    Create {
        /// Whose data it opens.
        #[arg(long, value_parser = crate::user_id)]
        user: String,
        /// What it may do: `read` (own data), `write` (also send events and delete own
        /// data), `admin` (every user, operator routes).
        #[arg(long, default_value = "write")]
        scope: Scope,
        /// How long it lasts, e.g. `90d`, `12h`, `30m`, `3600s` [default: no expiry].
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<chrono::TimeDelta>,
        /// A note shown by `token list`.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (never their secret).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The id shown by `token create` and `token list`.
        id: String,
    },
}

fn parse_ttl(text: &str) -> Result<chrono::TimeDelta, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("invalid ttl `{text}`: use e.g. 90d, 12h, 30m or 3600s"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("invalid ttl unit `{unit}`: use s, m, h or d")),
    };
    if number <= 0 {
        return Err("the ttl must be positive".to_string());
    }
    Ok(chrono::TimeDelta::seconds(number.saturating_mul(seconds)))
}

/// Runs a token command on the data directory `data_dir`.
pub fn run(data_dir: &Path, command: TokenCommand) -> anyhow::Result<()> {
    let store = TokenStore::in_data_dir(data_dir);
    let failed = || format!("failed to update the tokens in {}", store.path().display());
    match command {
        TokenCommand::Create {
            user,
            scope,
            ttl,
            label,
        } => {
            let (info, token) = store
                .create(&user, scope, ttl, &label)
                .with_context(failed)?;
            let expiry = info
                .expires_at
                .map_or("never".to_string(), |at| at.to_rfc3339());
            println!(
                "token {} for user {} (scope {}, expires {expiry}); it is shown only now:",
                info.id, info.user_id, info.scope
            );
            println!("{token}");
        }
        TokenCommand::List => {
            for info in store.list().with_context(failed)? {
                println!("{}", serde_json::to_string(&info)?);
            }
        }
        TokenCommand::Revoke { id } => {
            anyhow::ensure!(
                store.revoke(&id).with_context(failed)?,
                "no token with id `{id}`"
            );
            println!("revoked token {id}");
        }
    }
    Ok(())
}

/// The credential a CLI sends to the server of `data_dir`: `given` (`--token`,
/// `SWITCHYARD_TOKEN`), else a short-lived admin token minted in the data directory —
/// whoever can write the data directory can read all of it anyway.
pub fn client_credential(data_dir: &Path, given: Option<&str>) -> anyhow::Result<String> {
    if let Some(token) = given {
        return Ok(token.to_string());
    }
    let store = TokenStore::in_data_dir(data_dir);
    let (_, token) = store
        .create(
            "operator",
            Scope::Admin,
            Some(LOCAL_TOKEN_TTL),
            "cli (local)",
        )
        .with_context(|| {
            format!(
                "the server needs a credential: set {} (see `switchyard token create`), \
                 or run as a user who can write {}",
                crate::env_vars::TOKEN,
                store.path().display()
            )
        })?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_take_units() {
        assert_eq!(parse_ttl("90d"), Ok(chrono::TimeDelta::days(90)));
        assert_eq!(parse_ttl("12h"), Ok(chrono::TimeDelta::hours(12)));
        assert_eq!(parse_ttl("30m"), Ok(chrono::TimeDelta::minutes(30)));
        assert_eq!(parse_ttl("45"), Ok(chrono::TimeDelta::seconds(45)));
        assert!(parse_ttl("0d").is_err());
        assert!(parse_ttl("3w").is_err());
        assert!(parse_ttl("h").is_err());
    }
}

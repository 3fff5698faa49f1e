//! `arkisto token`: API bearer tokens.

use std::io::Write;

use anyhow::Result;
use arkisto::archive::Archive;
use arkisto::auth::{self, Role, TokenId};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Issue a token for the HTTP API. The secret is printed once and stored only hashed.
    /// Roles: operator (runs, progress, metrics), records-officer (search and retrieve
    /// records, each read logged with its purpose), auditor (runs, metrics, the ledger).
    Create {
        /// operator, records-officer or auditor.
        #[arg(long)]
        role: Role,
        /// Who or what holds it (shown in logs and the ledger as the actor).
        #[arg(long)]
        name: String,
        /// Who issues it (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
    /// List tokens (ids, holders, roles; never secrets).
    List,
    /// Revoke a token by id; it stops working at once, on every instance.
    Revoke {
        /// Token id (from `token list`).
        id: String,
        /// Who revokes it (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
}

pub(crate) async fn run(a: &Archive, cmd: &TokenCommand, actor_default: String, json: bool, out: &mut impl Write) -> Result<u8> {
    match cmd {
        TokenCommand::Create { role, name, actor } => {
            let (row, secret) = auth::create(a, *role, name, &actor.clone().unwrap_or(actor_default)).await?;
            if json {
                writeln!(out, "{}", serde_json::json!({ "token_id": row.token_id, "role": row.role, "name": row.name, "token": secret }))?;
            } else {
                writeln!(out, "token {} for {} ({}):\n\n  {secret}\n", row.token_id, row.name, row.role)?;
                writeln!(out, "Shown this once; arkisto keeps only its hash. Send it as `Authorization: Bearer <token>`.")?;
            }
        }
        TokenCommand::List => {
            let tokens = a.index.tokens().await?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&tokens)?)?;
            } else {
                for t in &tokens {
                    let state = t.revoked_at.as_deref().map(|r| format!("revoked {r}")).unwrap_or_else(|| "live".into());
                    writeln!(
                        out,
                        "{}  {:<16} {}  (created {} by {}; {state})",
                        t.token_id,
                        t.role.as_str(),
                        t.name,
                        t.created_at,
                        t.created_by
                    )?;
                }
            }
        }
        TokenCommand::Revoke { id, actor } => {
            auth::revoke(a, &TokenId(id.clone()), &actor.clone().unwrap_or(actor_default)).await?;
            if json {
                writeln!(out, "{}", serde_json::json!({ "revoked": id }))?;
            } else {
                writeln!(out, "token {id} revoked")?;
            }
        }
    }
    Ok(0)
}

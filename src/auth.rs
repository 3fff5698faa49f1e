//! API bearer tokens and roles. A token is shown once, when created; the index keeps only
//! its SHA-256 (tokens are 256 random bits, so a fast hash is enough: there is nothing to
//! guess from it), and every API request is checked against a role.

use crate::digest::Sha256;

pub use crate::credential::{Role, TokenId, TokenRow};

/// Prefix that makes an arkisto token recognisable (e.g. to secret scanners).
pub const TOKEN_PREFIX: &str = "ark_";

/// A new secret and its id: `ark_<id>_<64 hex>`; only `hash_token` of it is stored.
pub fn new_token() -> Result<(TokenId, String), std::io::Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| std::io::Error::other(e.to_string()))?;
    let id = TokenId(crate::ids::RunId::generate().to_string()[..16].to_string());
    let token = format!("{TOKEN_PREFIX}{}_{}", id.0, hex::encode(secret));
    Ok((id, token))
}

/// Issue a token: stored hashed, logged in the ledger (so that an index rebuild restores
/// it). Returns the row and the secret, which is shown this once and kept nowhere.
pub async fn create(archive: &crate::archive::Archive, role: Role, name: &str, actor: &str) -> Result<(TokenRow, String), AuthError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(AuthError::Name);
    }
    let (token_id, secret) = new_token().map_err(AuthError::Random)?;
    let now = crate::archive::now();
    let row = TokenRow {
        token_id,
        name: name.into(),
        role,
        sha256: hash_token(&secret),
        created_at: now.clone(),
        created_by: actor.into(),
        revoked_at: None,
    };
    let event = crate::ledger::NewEvent {
        event_type: crate::ledger::TOKEN_CREATED.into(),
        actor: actor.into(),
        purpose: None,
        object: row.token_id.to_string(),
        outcome: "success".into(),
        detail: serde_json::json!({ "token": row }),
    };
    archive.index.add_token(&row, vec![event], &now).await?;
    archive.flush_ledger().await.map_err(|e| AuthError::Archive(e.to_string()))?;
    Ok((row, secret))
}

/// Revoke a token by id; logged.
pub async fn revoke(archive: &crate::archive::Archive, id: &TokenId, actor: &str) -> Result<(), AuthError> {
    let now = crate::archive::now();
    let mut row =
        archive.index.tokens().await?.into_iter().find(|t| &t.token_id == id).ok_or_else(|| AuthError::NoSuchToken(id.clone()))?;
    row.revoked_at = Some(now.clone());
    let event = crate::ledger::NewEvent {
        event_type: crate::ledger::TOKEN_REVOKED.into(),
        actor: actor.into(),
        purpose: None,
        object: id.to_string(),
        outcome: "success".into(),
        detail: serde_json::json!({ "token": row }),
    };
    if !archive.index.revoke_token(id, &now, vec![event], &now).await? {
        return Err(AuthError::NoSuchToken(id.clone()));
    }
    archive.flush_ledger().await.map_err(|e| AuthError::Archive(e.to_string()))?;
    Ok(())
}

/// Token administration failures.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A name that cannot be shown in logs.
    #[error("give the token a name of 1-200 printable characters (who or what holds it)")]
    Name,
    /// No randomness.
    #[error("no secure random source: {0}")]
    Random(std::io::Error),
    /// Unknown or already revoked.
    #[error("no live token {0} (`arkisto token list`)")]
    NoSuchToken(TokenId),
    /// Index failure.
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    /// Ledger flush failure.
    #[error("{0}")]
    Archive(String),
}

impl AuthError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Name => "token-name",
            AuthError::Random(_) => "token-random",
            AuthError::NoSuchToken(_) => "token-unknown",
            AuthError::Index(_) => "token-index",
            AuthError::Archive(_) => "token-archive",
        }
    }
}

/// The stored form of a presented token.
pub fn hash_token(token: &str) -> Sha256 {
    Sha256::of(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_only_their_hash_matches() {
        let (a_id, a) = new_token().unwrap();
        let (_, b) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("{TOKEN_PREFIX}{a_id}_")));
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert!(!hash_token(&a).to_string().contains(&a[20..]));
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("admin".parse::<Role>().is_err());
    }
}

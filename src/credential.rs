//! What the index stores about API credentials: roles, token ids and token rows (never a
//! secret). Below both the index, which keeps them, and `auth`, which issues and checks them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256;

/// Who a token belongs to, by what they may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// IT staff: runs, progress, metrics; no personal data.
    Operator,
    /// Records officer: searches and retrieves records (each read is logged with a purpose).
    RecordsOfficer,
    /// Auditor: runs, metrics, the ledger and its verification; no personal data.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Operator, Role::RecordsOfficer, Role::Auditor];

    /// The name used in config, CLI and API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::RecordsOfficer => "records-officer",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s || r.as_str().replace('-', "_") == s)
            .ok_or_else(|| format!("unknown role {s:?} (operator, records-officer, auditor)"))
    }
}

/// A token's public id (shown in lists, logs and the ledger; never the secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenId(pub String);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored token: everything but the secret.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenRow {
    /// Public id.
    pub token_id: TokenId,
    /// Who or what holds it ("prometheus", "Liisa Records").
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the secret.
    pub sha256: Sha256,
    /// When created.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// When revoked, if it was.
    pub revoked_at: Option<String>,
}

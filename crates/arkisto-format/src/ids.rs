//! Identifier newtypes: a record is named by the SHA-256 of its original bytes; packs and
//! runs by random ULIDs; a source document by its own id (OID root and extension).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256;

/// A record's identity: the SHA-256 of its original bytes (DESIGN principle 4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct RecordId(pub Sha256);

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! ulid_id {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(pub ulid::Ulid);

        impl $name {
            /// A new random, time-ordered id.
            pub fn generate() -> Self {
                Self(ulid::Ulid::new())
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.to_string().to_lowercase())
            }
        }
        impl FromStr for $name {
            type Err = ulid::DecodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ulid::Ulid::from_string(s).map(Self)
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

ulid_id!(PackId, "A pack's id: random, never derived from content, so packs never collide.");
ulid_id!(RunId, "An ingest run's id.");

/// A document's own identifier as the source system gave it: `root` or `root^extension`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct DocumentId(pub String);

impl DocumentId {
    /// Join an HL7 II (root, optional extension) into one id.
    pub fn from_ii(root: &str, extension: Option<&str>) -> Self {
        match extension {
            Some(e) if !e.is_empty() => Self(format!("{root}^{e}")),
            _ => Self(root.to_string()),
        }
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subject (person) identifier: the pair (OID, value), e.g. (`1.2.246.21`, a henkilötunnus).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Debug)]
pub struct SubjectId {
    /// Identifier scheme OID (`1.2.246.21` = henkilötunnus).
    pub root: String,
    /// The identifier itself, all characters kept.
    pub value: String,
}

/// OID of the Finnish henkilötunnus.
pub const HETU_OID: &str = "1.2.246.21";

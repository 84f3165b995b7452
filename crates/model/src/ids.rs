//! Identifiers: member (device signing key), circle, operation, entry and document ids.

use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a textual identifier could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid {kind}: expected {len} hex characters")]
pub struct IdParseError {
    kind: &'static str,
    len: usize,
}

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:expr, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Full lowercase hex form.
            pub fn to_hex(&self) -> String {
                HEXLOWER.encode(&self.0)
            }

            /// Short hex prefix for people to read and type.
            pub fn short(&self) -> String {
                HEXLOWER.encode(&self.0[..4])
            }

            /// Whether `prefix` (hex, any case) is a prefix of this id.
            pub fn matches_prefix(&self, prefix: &str) -> bool {
                !prefix.is_empty() && self.to_hex().starts_with(&prefix.to_ascii_lowercase())
            }

            /// Parses the full hex form.
            pub fn from_hex(s: &str) -> Result<Self, IdParseError> {
                let err = IdParseError { kind: $kind, len: $len * 2 };
                let bytes = HEXLOWER
                    .decode(s.trim().to_ascii_lowercase().as_bytes())
                    .map_err(|_| err.clone())?;
                let arr: [u8; $len] = bytes.try_into().map_err(|_| err)?;
                Ok(Self(arr))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

impl Clone for IdParseError {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind,
            len: self.len,
        }
    }
}

byte_id!(
    /// A member's device signing key (ed25519 public key); also its iroh endpoint id.
    MemberId, 32, "member id"
);
byte_id!(
    /// A circle: the hash of its signed genesis operation.
    CircleId, 32, "circle id"
);
byte_id!(
    /// The hash of a signed membership operation's body.
    OpHash, 32, "operation hash"
);
byte_id!(
    /// The hash of a signed entry's body.
    EntryHash, 32, "entry hash"
);
byte_id!(
    /// An Automerge document within a circle (the circle document or a gathering).
    DocId, 16, "document id"
);

impl Default for DocId {
    /// The circle document.
    fn default() -> Self {
        DocId::CIRCLE
    }
}

impl DocId {
    /// The circle's shared document (charter, profiles, schedule, goals, contracts).
    pub const CIRCLE: DocId = DocId([0; 16]);

    /// Whether this is the circle's shared document.
    pub fn is_circle(&self) -> bool {
        *self == Self::CIRCLE
    }
}

/// Domain-separated hash of bytes, used for operation and entry ids.
pub fn hash_bytes(domain: &str, bytes: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(domain);
    hasher.update(bytes);
    *hasher.finalize().as_bytes()
}

impl OpHash {
    /// Hash of a signed operation body.
    pub fn of_body(body: &[u8]) -> Self {
        Self(hash_bytes("circlekeep v1 membership operation", body))
    }
}

impl EntryHash {
    /// Hash of a signed entry body.
    pub fn of_body(body: &[u8]) -> Self {
        Self(hash_bytes("circlekeep v1 entry", body))
    }
}

impl From<OpHash> for CircleId {
    fn from(genesis: OpHash) -> Self {
        CircleId(genesis.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_prefix() {
        let id = MemberId([0xab; 32]);
        assert_eq!(MemberId::from_hex(&id.to_hex()), Ok(id));
        assert!(id.matches_prefix("ABAB"));
        assert!(!id.matches_prefix(""));
        assert!(MemberId::from_hex("abcd").is_err());
        assert!(MemberId::from_hex(&"zz".repeat(32)).is_err());
    }
}

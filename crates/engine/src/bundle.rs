//! Bundle files: the offline transport. A bundle carries a circle's signed
//! membership operations, the entries the receiver lacks, and what the
//! exporter holds (so the receiver can answer with just what is missing).
//! Everything inside is already signed and sealed; the framing reveals the
//! circle id, public keys and counts, nothing else.

use circlekeep_model::{CircleId, MemberId};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8] = b"circlekeep bundle ";
const VERSION: &[u8] = b"v1\n";
/// Largest bundle file accepted.
pub const MAX_BUNDLE_BYTES: usize = 1 << 30;

/// The contents of a bundle file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// The circle.
    pub circle: CircleId,
    /// Who exported it.
    pub from: MemberId,
    /// The exporter's version vector: author → last sequence number held.
    pub have: Vec<(MemberId, u64)>,
    /// Signed membership operations.
    pub ops: Vec<Vec<u8>>,
    /// Signed entries.
    pub entries: Vec<Vec<u8>>,
}

/// Why a file is not a usable bundle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// Not a Circlekeep bundle at all.
    #[error("not a Circlekeep bundle")]
    NotABundle,
    /// A bundle from a newer version.
    #[error("bundle format {0} is not supported by this version")]
    UnsupportedVersion(String),
    /// Truncated or damaged.
    #[error("the bundle is truncated or damaged")]
    Corrupt,
    /// Over [`MAX_BUNDLE_BYTES`].
    #[error("the bundle is too large")]
    TooLarge,
}

impl Bundle {
    /// The file bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(VERSION);
        // Serialising plain data into memory cannot fail.
        #[allow(clippy::expect_used)]
        out.extend(postcard::to_stdvec(self).expect("bundle serialises"));
        out
    }

    /// Parses file bytes.
    pub fn decode(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge);
        }
        let rest = bytes.strip_prefix(MAGIC).ok_or(BundleError::NotABundle)?;
        let Some(body) = rest.strip_prefix(VERSION) else {
            let version = rest
                .split(|b| *b == b'\n')
                .next()
                .map(|v| String::from_utf8_lossy(&v[..v.len().min(16)]).into_owned())
                .unwrap_or_default();
            return Err(BundleError::UnsupportedVersion(version));
        };
        let (bundle, rest) =
            postcard::take_from_bytes::<Bundle>(body).map_err(|_| BundleError::Corrupt)?;
        if !rest.is_empty() {
            return Err(BundleError::Corrupt);
        }
        Ok(bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bundle {
        Bundle {
            circle: CircleId([1; 32]),
            from: MemberId([2; 32]),
            have: vec![(MemberId([2; 32]), 3)],
            ops: vec![vec![1, 2, 3]],
            entries: vec![vec![4; 100], vec![5; 50]],
        }
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let bytes = sample().encode();
        assert_eq!(Bundle::decode(&bytes), Ok(sample()));
        for cut in [0, 5, MAGIC.len() + 3, bytes.len() / 2, bytes.len() - 1] {
            assert!(Bundle::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Bundle::decode(&longer), Err(BundleError::Corrupt));
        assert_eq!(Bundle::decode(b"hello"), Err(BundleError::NotABundle));
        assert_eq!(
            Bundle::decode(b"circlekeep bundle v9\n..."),
            Err(BundleError::UnsupportedVersion("v9".into()))
        );
    }
}

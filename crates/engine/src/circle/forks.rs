//! Forked logs (equivocation): an author who signed two records that
//! contradict each other (`circlekeep_model::fork`) is flagged, with the
//! two records kept as the proof, one per author. A proof is found when a
//! record arrives that contradicts one held here (by sync or bundle), or
//! when a peer whose announced tip differs from ours at the same height is
//! sent our record there; proofs are handed on to every member's device,
//! which checks them alone, so every honest device that meets either side
//! of the fork ends up flagging the author.

use super::{CircleRuntime, Ctx};
use crate::error::EngineError;
use circlekeep_model::entry::Entry;
use circlekeep_model::fork::contradiction;
use circlekeep_model::{CircleId, MemberId};
use circlekeep_seal::signed::verify_entry;
use circlekeep_store::{BlobKind, Store};
use std::collections::BTreeMap;

/// Most records a peer is sent, at once, to show it our side of forks.
const MAX_EVIDENCE: usize = 16;

/// Where proofs are stored: circle, then author.
fn proof_key(circle: &CircleId, author: &MemberId) -> Vec<u8> {
    [circle.0.as_slice(), author.0.as_slice()].concat()
}

/// The two records, verified, and where they contradict each other.
fn check_proof(circle: &CircleId, records: &[Vec<u8>]) -> Option<(Entry, Entry, u64)> {
    let [a, b] = records else {
        return None;
    };
    let (a, b) = (verify_entry(a).ok()?, verify_entry(b).ok()?);
    if a.body.circle != *circle {
        return None;
    }
    let at = contradiction(&a, &b)?;
    Some((a, b, at))
}

/// The forks proven by stored proofs: author → where its log forks.
pub(super) fn load<S: Store>(
    ctx: &Ctx<'_, S>,
    circle: &CircleId,
) -> Result<BTreeMap<MemberId, u64>, EngineError> {
    let rows = ctx
        .store
        .blobs(BlobKind::Fork, &circle.0)
        .map_err(EngineError::store)?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, bytes)| postcard::from_bytes::<Vec<Vec<u8>>>(&bytes).ok())
        .filter_map(|records| check_proof(circle, &records))
        .map(|(a, _, at)| (a.body.author, at))
        .collect())
}

impl CircleRuntime {
    /// Authors whose logs are proven forked here, and where.
    pub fn forks(&self) -> &BTreeMap<MemberId, u64> {
        &self.forks
    }

    /// Flags `a`'s author if `a` and `b` contradict each other and the
    /// author is (or was) a device of this circle; keeps the proof.
    /// Returns whether this is news.
    fn note_fork<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        a: &Entry,
        b: &Entry,
    ) -> Result<bool, EngineError> {
        let author = a.body.author;
        if self.forks.contains_key(&author) || self.membership.owner(&author).is_none() {
            return Ok(false);
        }
        let Some(at) = contradiction(a, b) else {
            return Ok(false);
        };
        // Serialising two byte strings into memory cannot fail.
        #[allow(clippy::expect_used)]
        let proof = postcard::to_stdvec(&[&a.signed, &b.signed][..]).expect("proof serialises");
        ctx.store
            .put_blob(BlobKind::Fork, &proof_key(&self.id, &author), Some(&proof))
            .and_then(|()| ctx.store.flush())
            .map_err(EngineError::store)?;
        tracing::warn!(circle = %self.id.short(), author = %author.short(), at, "an author's log is forked: it signed two different records for one place");
        self.forks.insert(author, at);
        ctx.changed(self.id);
        Ok(true)
    }

    /// `entry` contradicts what this device holds at `at` (a fork, or a
    /// chain that does not meet ours): keeps the proof if the stored
    /// record there shows it. Trouble reading is logged, not raised: the
    /// entry is refused either way.
    pub(super) fn fork_with_held<S: Store>(&mut self, ctx: &Ctx<'_, S>, entry: &Entry, at: u64) {
        if self.forks.contains_key(&entry.body.author) {
            return;
        }
        let held = ctx.store.entry(&self.id, &entry.body.author, at);
        let Ok(Some(held)) = held else {
            return;
        };
        let Ok(held) = verify_entry(&held) else {
            return;
        };
        if let Err(e) = self.note_fork(ctx, &held, entry) {
            tracing::warn!(circle = %self.id.short(), "cannot keep a fork proof: {e}");
        }
    }

    /// A proof a peer handed over: the author it flags, if it holds.
    pub fn take_fork_proof<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        records: &[Vec<u8>],
    ) -> Result<Option<MemberId>, EngineError> {
        let Some((a, b, _)) = check_proof(&self.id, records) else {
            return Ok(None);
        };
        self.note_fork(ctx, &a, &b)?;
        let author = a.body.author;
        Ok(self.forks.contains_key(&author).then_some(author))
    }

    /// The proof kept for `author`'s fork.
    pub fn fork_proof<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        author: &MemberId,
    ) -> Result<Option<Vec<Vec<u8>>>, EngineError> {
        let bytes = ctx
            .store
            .blob(BlobKind::Fork, &proof_key(&self.id, author))
            .map_err(EngineError::store)?;
        Ok(bytes.and_then(|b| postcard::from_bytes(&b).ok()))
    }

    /// Our records where a peer announced a different record at the very
    /// height we hold (which sync alone never sends, as neither lacks
    /// anything): sent to it, they show it the fork.
    pub fn fork_evidence<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        announced: &circlekeep_sync::Summary,
    ) -> Result<Vec<Vec<u8>>, EngineError> {
        let mut evidence = Vec::new();
        for (author, hash) in &announced.tips {
            let (Some(&seq), Some(ours)) = (announced.have.get(author), self.tips.get(author))
            else {
                continue;
            };
            let differs = ours.seq == seq && ours.hash != *hash;
            if !differs || self.forks.contains_key(author) || evidence.len() >= MAX_EVIDENCE {
                continue;
            }
            if let Some(bytes) = ctx
                .store
                .entry(&self.id, author, seq)
                .map_err(EngineError::store)?
            {
                evidence.push(bytes);
            }
        }
        Ok(evidence)
    }
}

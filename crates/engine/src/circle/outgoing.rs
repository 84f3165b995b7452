//! What leaves this device: the records a peer lacks, and bundles.

use super::{CircleRuntime, Ctx};
use crate::bundle::Bundle;
use crate::error::EngineError;
use circlekeep_model::MemberId;
use circlekeep_store::Store;
use std::collections::BTreeMap;

impl CircleRuntime {
    /// Records the holder of `known` lacks: every missing operation, then
    /// entries author by author, stopping once `budget` bytes are reached.
    pub fn records_since<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        known: &circlekeep_sync::Summary,
        budget: usize,
    ) -> Result<circlekeep_sync::Records, EngineError> {
        let mut records = circlekeep_sync::Records::default();
        for op in self.membership.ops() {
            if !known.ops.contains(&op.hash) {
                records.ops.push((op.hash, op.signed.clone()));
            }
        }
        let mut bytes = records.byte_len();
        for author in self.tips.keys() {
            if bytes >= budget {
                break;
            }
            let after = known.have.get(author).copied().unwrap_or(0);
            for (seq, entry) in self.log_records(ctx, author, after, budget - bytes)? {
                bytes += entry.len();
                records.entries.push((*author, seq, entry));
            }
        }
        Ok(records)
    }

    /// A bundle of all operations and the entries beyond `since`.
    pub fn export<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        since: &BTreeMap<MemberId, u64>,
    ) -> Result<Bundle, EngineError> {
        let mut entries = Vec::new();
        for author in self.tips.keys() {
            let after = since.get(author).copied().unwrap_or(0);
            for (_, bytes) in self.log_records(ctx, author, after, usize::MAX)? {
                entries.push(bytes);
            }
        }
        Ok(Bundle {
            circle: self.id,
            from: ctx.device_id(),
            have: self.version_vector(),
            ops: self
                .membership
                .ops()
                .iter()
                .map(|op| op.signed.clone())
                .collect(),
            entries,
        })
    }
}

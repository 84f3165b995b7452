//! Bundles, the offline transport: what a member lacks (as far as its
//! last bundle said), and importing one.

use crate::bundle::Bundle;
use crate::views::ImportReport;
use crate::MemberId;
use crate::{CircleId, Engine, EngineError, Store};
use circlekeep_store::BlobKind;
use std::collections::BTreeMap;

impl<S: Store> Engine<S> {
    /// A bundle of what `for_member` lacks (as far as this device knows from
    /// their last bundle), or of everything.
    pub fn export_bundle(
        &self,
        id: CircleId,
        for_member: Option<MemberId>,
    ) -> Result<Vec<u8>, EngineError> {
        let since = match for_member {
            Some(member) => self.peer_versions(id, member)?,
            None => BTreeMap::new(),
        };
        let bundle = self.with_circle(id, |c, ctx| {
            if let Some(member) = for_member {
                if !c.membership.is_member(&member) {
                    return Err(EngineError::UnknownMember(member.short()));
                }
            }
            c.export(ctx, &since)
        })?;
        Ok(bundle.encode())
    }

    /// Checks and imports a bundle. Valid records are stored (flushed) and
    /// applied; invalid ones are listed in the report and never applied.
    pub fn import_bundle(&self, bytes: &[u8]) -> Result<ImportReport, EngineError> {
        let bundle = Bundle::decode(bytes)?;
        let id = bundle.circle;
        let (report, _) = self.receive(id, &bundle.ops, &bundle.entries)?;
        self.with_circle(id, |c, ctx| {
            let from_is_member = c.membership.owner(&bundle.from).is_some();
            if from_is_member && bundle.from != ctx.me.device_id() {
                let mut key = id.as_bytes().to_vec();
                key.extend_from_slice(bundle.from.as_bytes());
                let value = postcard::to_stdvec(&bundle.have)
                    .map_err(|e| EngineError::Corrupt(e.to_string()))?;
                ctx.store
                    .put_blob(BlobKind::PeerVersions, &key, Some(&value))
                    .map_err(EngineError::store)?;
            }
            Ok(())
        })?;
        Ok(report)
    }

    fn peer_versions(
        &self,
        id: CircleId,
        member: MemberId,
    ) -> Result<BTreeMap<MemberId, u64>, EngineError> {
        let mut key = id.as_bytes().to_vec();
        key.extend_from_slice(member.as_bytes());
        let Some(bytes) = self
            .store
            .blob(BlobKind::PeerVersions, &key)
            .map_err(EngineError::store)?
        else {
            return Ok(BTreeMap::new());
        };
        let have: Vec<(MemberId, u64)> = postcard::from_bytes(&bytes).unwrap_or_default();
        Ok(have.into_iter().collect())
    }
}

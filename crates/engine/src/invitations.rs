//! Consent: a circle that adds this device waits as an invitation until the
//! member accepts it. Until then it is held and readable but not synced,
//! not written to, and its members are not peers of this device. Joining by
//! ticket is consent given in advance.

use crate::{CircleId, Engine, EngineError, Store};
use circlekeep_store::BlobKind;

/// Stored value: the circle added this device and waits for it to accept.
const WAITING: &[u8] = b"waiting";
/// Stored value: this device asked to join the circle (by ticket).
const ASKED: &[u8] = b"asked";

impl<S: Store> Engine<S> {
    /// The circles that added this device and wait for it to accept.
    pub fn invitations(&self) -> Result<Vec<CircleId>, EngineError> {
        let held = self
            .store
            .blobs(BlobKind::Invitation, &[])
            .map_err(EngineError::store)?;
        Ok(held
            .into_iter()
            .filter(|(_, value)| value == WAITING)
            .filter_map(|(key, _)| <[u8; 32]>::try_from(key.as_slice()).ok())
            .map(CircleId)
            .collect())
    }

    /// Accepts a circle that added this device: from now on it syncs with
    /// its members and can be written to.
    pub fn accept_circle(&self, id: CircleId) -> Result<(), EngineError> {
        self.with_circle(id, |c, ctx| {
            ctx.store
                .put_blob(BlobKind::Invitation, id.as_bytes(), None)
                .map_err(EngineError::store)?;
            ctx.store.flush().map_err(EngineError::store)?;
            c.invitation = false;
            ctx.changed(id);
            Ok(())
        })?;
        self.link_siblings(id)?;
        Ok(())
    }

    /// Notes that this device asked to join `id`, so it is taken in without
    /// asking when it arrives.
    pub(crate) fn asked_to_join(&self, id: CircleId) -> Result<(), EngineError> {
        let known = self
            .store
            .circles()
            .map_err(EngineError::store)?
            .contains(&id);
        if known {
            return Ok(());
        }
        self.store
            .put_blob(BlobKind::Invitation, id.as_bytes(), Some(ASKED))
            .map_err(EngineError::store)
    }

    /// Forgets that this device asked to join `id` (it could not be taken
    /// in), so that it is not taken without asking if it comes later.
    pub(crate) fn forget_joining(&self, id: CircleId) -> Result<(), EngineError> {
        let asked = self
            .store
            .blob(BlobKind::Invitation, id.as_bytes())
            .map_err(EngineError::store)?
            .is_some_and(|v| v == ASKED);
        if asked {
            self.store
                .put_blob(BlobKind::Invitation, id.as_bytes(), None)
                .map_err(EngineError::store)?;
        }
        Ok(())
    }

    /// Called when a circle this device was added to is first taken in:
    /// accepted if it asked to join or its own member `linked` it in, an
    /// invitation otherwise.
    pub(crate) fn taken_in(&self, id: CircleId, linked: bool) -> Result<(), EngineError> {
        let asked = linked
            || self
                .store
                .blob(BlobKind::Invitation, id.as_bytes())
                .map_err(EngineError::store)?
                .is_some_and(|v| v == ASKED);
        let value = (!asked).then_some(WAITING);
        self.store
            .put_blob(BlobKind::Invitation, id.as_bytes(), value)
            .map_err(EngineError::store)
    }
}

/// Whether `id` waits for this device to accept it.
pub(crate) fn is_invitation<S: Store>(store: &S, id: &CircleId) -> Result<bool, EngineError> {
    Ok(store
        .blob(BlobKind::Invitation, id.as_bytes())
        .map_err(EngineError::store)?
        .is_some_and(|v| v == WAITING))
}

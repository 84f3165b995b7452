//! Entries damaged at rest (they no longer verify) cost those entries, not
//! the circle. Another member's log is cut at the damaged entry: it and
//! what follows are deleted and the tip goes back to the entry before, so
//! peers send them again. This device's own log may hold the only copy of
//! what follows, and a new entry at the damaged place would fork it: what
//! follows is kept, the damaged entry is left unapplied, and if it is the
//! last one nothing more is written in the circle (a clear error says why).

use super::{CircleRuntime, Ctx};
use crate::error::EngineError;
use circlekeep_model::entry::Tip;
use circlekeep_model::MemberId;
use circlekeep_seal::signed::verify_entry;
use circlekeep_store::Store;

impl CircleRuntime {
    /// The tip of `author`'s stored log: its last entry that verifies.
    pub(super) fn stored_tip<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        author: &MemberId,
    ) -> Result<Option<Tip>, EngineError> {
        loop {
            let Some((seq, bytes)) = ctx
                .store
                .last_entry(&self.id, author)
                .map_err(EngineError::store)?
            else {
                return Ok(None);
            };
            match verify_entry(&bytes) {
                Ok(entry) => {
                    return Ok(Some(Tip {
                        seq,
                        hash: entry.chain_hash(),
                        membership: entry.body.membership,
                    }))
                }
                Err(e) if *author == ctx.device_id() => {
                    tracing::error!(circle = %self.id.short(), seq, "this device's last entry is damaged: {e}");
                    self.own_damaged = Some(seq);
                    return self.tip_before(ctx, author, seq);
                }
                Err(e) => self.cut_damaged(ctx, author, seq, &e.to_string())?,
            }
        }
    }

    /// The last entry before `seq` that verifies, as a tip (what is read
    /// of this device's own log when its last entry is damaged).
    fn tip_before<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        author: &MemberId,
        seq: u64,
    ) -> Result<Option<Tip>, EngineError> {
        for at in (1..seq).rev() {
            let stored = ctx
                .store
                .entry(&self.id, author, at)
                .map_err(EngineError::store)?;
            if let Some(entry) = stored.and_then(|bytes| verify_entry(&bytes).ok()) {
                return Ok(Some(Tip {
                    seq: at,
                    hash: entry.chain_hash(),
                    membership: entry.body.membership,
                }));
            }
        }
        Ok(None)
    }

    /// Handles `author`'s stored entry at `seq` found damaged while
    /// replaying: returns whether the log was cut there (replay of that
    /// author stops) or, for this device's own log, the entry is skipped.
    pub(super) fn damaged_on_replay<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        author: &MemberId,
        seq: u64,
        why: &str,
    ) -> Result<bool, EngineError> {
        if *author == ctx.device_id() {
            tracing::error!(circle = %self.id.short(), seq, "skipping this device's damaged entry: {why}");
            return Ok(false);
        }
        self.cut_damaged(ctx, author, seq, why)?;
        match self.stored_tip(ctx, author)? {
            Some(tip) => self.tips.insert(*author, tip),
            None => self.tips.remove(author),
        };
        Ok(true)
    }

    /// Deletes another member's entries from the damaged one on.
    fn cut_damaged<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        author: &MemberId,
        seq: u64,
        why: &str,
    ) -> Result<(), EngineError> {
        let dropped = ctx
            .store
            .drop_entries_from(&self.id, author, seq)
            .and_then(|n| ctx.store.flush().map(|()| n))
            .map_err(EngineError::store)?;
        tracing::warn!(circle = %self.id.short(), author = %author.short(), seq, dropped, "a stored entry is damaged ({why}); it and what follows will be fetched again");
        self.dirty = true;
        Ok(())
    }

    /// Refuses to write while this device's own last entry is damaged.
    pub(super) fn check_own_log(&self) -> Result<(), EngineError> {
        match self.own_damaged {
            Some(seq) => Err(EngineError::Corrupt(format!(
                "your entry #{seq} in this circle is damaged on this device, so nothing more can be written here (a new entry would contradict the one other members hold); restore this device from a backup"
            ))),
            None => Ok(()),
        }
    }
}

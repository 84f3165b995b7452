//! Refused records, kept for the user as a bounded summary: one row per
//! kind of record, claimed author and reason, with how often and when it
//! was first and last seen, sealed to this device. A flood of junk costs a
//! counter, never a stored record per refused item; a flood of made-up
//! authors folds into rows that no longer tell authors apart.

use crate::views::{ImportReport, RejectionSummary, RejectionView};
use crate::{circle, CircleId, Engine, EngineError, Store};
use circlekeep_seal::content;
use circlekeep_store::BlobKind;

/// Refusals an import report lists one by one; the rest are counted.
pub(crate) const DETAILED: usize = 100;

/// Rows a summary keeps apart per claimed author; past it, new authors'
/// refusals are counted under their reason alone (reasons are a fixed
/// vocabulary, so a summary stays a few kilobytes whatever arrives).
pub(crate) const AUTHOR_ROWS: usize = 64;

/// Refusals grouped by kind, claimed author and reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RefusalLog {
    rows: Vec<RejectionSummary>,
}

impl RefusalLog {
    /// Counts `count` refusals like `view`, seen between `first` and `last`.
    fn note(&mut self, mut view: RejectionView, count: u64, first: &str, last: &str) {
        let same = |row: &RejectionSummary, view: &RejectionView| {
            row.rejection.kind == view.kind
                && row.rejection.author == view.author
                && row.rejection.code == view.code
        };
        if !self.rows.iter().any(|row| same(row, &view))
            && view.author.is_some()
            && self.rows.len() >= AUTHOR_ROWS
        {
            view.author = None;
            view.seq = None;
        }
        match self.rows.iter_mut().find(|row| same(row, &view)) {
            Some(row) => {
                row.count = row.count.saturating_add(count);
                row.first = row.first.clone().min(first.to_owned());
                if last >= row.last.as_str() {
                    row.last = last.to_owned();
                    row.rejection = view;
                }
            }
            None => self.rows.push(RejectionSummary {
                first: first.to_owned(),
                last: last.to_owned(),
                count,
                rejection: view,
            }),
        }
    }

    /// Adds `other`'s counts, as seen `at`.
    fn merge(&mut self, other: &RefusalLog, at: &str) {
        for row in &other.rows {
            self.note(row.rejection.clone(), row.count, at, at);
        }
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl ImportReport {
    /// Counts one refused record (listed in the report while it lists
    /// fewer than [`DETAILED`]).
    pub(crate) fn refuse(&mut self, view: RejectionView) {
        self.refused += 1;
        // Stamped once, when the report's refusals are kept.
        self.refusals.note(view.clone(), 1, "", "");
        if self.rejected.len() < DETAILED {
            self.rejected.push(view);
        }
    }
}

impl ImportReport {
    /// Counts an entry that came before the entries it follows in its
    /// author's log (a gap): listed in this report but not kept among the
    /// refusals — nothing is wrong with it, and it comes again once the
    /// earlier ones are held.
    pub(crate) fn refuse_early(&mut self, view: RejectionView) {
        self.refused += 1;
        if self.rejected.len() < DETAILED {
            self.rejected.push(view);
        }
    }
}

impl<S: Store> Engine<S> {
    /// Adds what `report` refused to the circle's summary.
    pub(crate) fn record_rejections(
        &self,
        id: CircleId,
        report: &ImportReport,
    ) -> Result<(), EngineError> {
        if report.refusals.is_empty() {
            return Ok(());
        }
        let mut log = match self.refusal_log(id)? {
            Some(log) => log,
            None => {
                self.drop_old_rejections(id)?;
                RefusalLog::default()
            }
        };
        log.merge(&report.refusals, &circle::now());
        let plain = zeroize::Zeroizing::new(
            postcard::to_stdvec(&log).map_err(|e| EngineError::Corrupt(e.to_string()))?,
        );
        let sealed = content::seal(&self.me.local_key(), &plain);
        self.store
            .put_blob(BlobKind::Report, id.as_bytes(), Some(&sealed))
            .map_err(EngineError::store)
    }

    /// What was refused from a circle's bundles and peers, grouped, the
    /// most recently seen last.
    pub fn rejections(&self, id: CircleId) -> Result<Vec<RejectionSummary>, EngineError> {
        let mut rows = self.refusal_log(id)?.unwrap_or_default().rows;
        rows.sort_by(|a, b| a.last.cmp(&b.last));
        Ok(rows)
    }

    /// The circle's summary, if one was stored; an unreadable one
    /// (damaged, another identity's) starts afresh, as it holds nothing but
    /// counts.
    fn refusal_log(&self, id: CircleId) -> Result<Option<RefusalLog>, EngineError> {
        let sealed = self
            .store
            .blob(BlobKind::Report, id.as_bytes())
            .map_err(EngineError::store)?;
        Ok(sealed.map(|s| {
            content::open(&[&self.me.local_key()], &s)
                .ok()
                .and_then(|(_, plain)| postcard::from_bytes(&plain).ok())
                .unwrap_or_default()
        }))
    }

    /// Deletes the plaintext record per refusal that earlier versions kept
    /// (keyed by circle, time and a nonce), once, before the first summary.
    fn drop_old_rejections(&self, id: CircleId) -> Result<(), EngineError> {
        let old = self
            .store
            .blobs(BlobKind::Report, id.as_bytes())
            .map_err(EngineError::store)?;
        for (key, _) in old
            .iter()
            .filter(|(key, _)| key.len() > id.as_bytes().len())
        {
            self.store
                .put_blob(BlobKind::Report, key, None)
                .map_err(EngineError::store)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(author: Option<String>, code: &str) -> RejectionView {
        RejectionView {
            kind: "entry".into(),
            author,
            seq: Some(1),
            code: code.into(),
            message: code.into(),
        }
    }

    #[test]
    fn repeats_are_counted_in_one_row() {
        let mut log = RefusalLog::default();
        for t in ["2026-01-01", "2026-01-03", "2026-01-02"] {
            log.note(view(Some("ab".into()), "bad_signature"), 2, t, t);
        }
        assert_eq!(log.rows.len(), 1);
        assert_eq!(log.rows[0].count, 6);
        assert_eq!(log.rows[0].first, "2026-01-01");
        assert_eq!(log.rows[0].last, "2026-01-03");
    }

    #[test]
    fn made_up_authors_do_not_grow_the_summary() {
        let mut log = RefusalLog::default();
        for i in 0..10_000 {
            log.note(view(Some(format!("{i:064x}")), "not_a_member"), 1, "t", "t");
            log.note(
                view(Some(format!("{i:064x}")), "bad_signature"),
                1,
                "t",
                "t",
            );
        }
        assert!(log.rows.len() <= AUTHOR_ROWS + 2, "{}", log.rows.len());
        assert_eq!(log.rows.iter().map(|r| r.count).sum::<u64>(), 20_000);
    }
}

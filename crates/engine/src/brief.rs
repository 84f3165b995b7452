//! What each step of a running gathering brings to the table: the charter's
//! ground rules at the opening, at the report back each present member's
//! contracts from last time (however they went) and older ones still open,
//! the contracts made here during the turns, and at the close the next
//! gathering with who facilitates, keeps time and hosts.

use crate::views::{ContractView, StepBriefView};
use crate::{CircleId, DocId, Engine, EngineError, Store};
use chrono::{Duration, NaiveDate};
use std::collections::HashMap;

impl<S: Store> Engine<S> {
    /// What the gathering's steps bring: ground rules, contracts to report
    /// back on and made here, and the next gathering.
    pub fn step_brief(&self, id: CircleId, gathering: DocId) -> Result<StepBriefView, EngineError> {
        let doc = self.gathering_doc(id, gathering)?;
        let circle = self.circle(id)?;
        let here = gathering.to_hex();
        let current: Vec<String> = circle.members.iter().map(|m| m.id.clone()).collect();
        let present = |owner: &str| {
            current.iter().any(|m| m == owner) && doc.attendance.get(owner) != Some(&false)
        };
        // The date of the gathering each contract was made at.
        let dated: HashMap<&str, &str> = circle
            .gatherings
            .iter()
            .map(|g| (g.id.as_str(), g.date.as_str()))
            .collect();
        let today = doc.date.as_str();
        let series = crate::series::first_of(&self.circle_doc(id)?, gathering);
        // A series report looks back on its series' first gathering.
        let last_time = match &series {
            Some((_, first)) => first.as_str(),
            None => circle
                .gatherings
                .iter()
                .map(|g| g.date.as_str())
                .filter(|d| *d < today)
                .max()
                .unwrap_or_default(),
        };
        let made_on = |k: &ContractView| k.gathering.as_deref().and_then(|g| dated.get(g).copied());
        // Reported at this gathering (or since), so the list does not empty
        // itself as the circle reports.
        let open_here = |k: &ContractView| {
            k.outcome.is_empty()
                || k.reported
                    .as_deref()
                    .is_some_and(|r| r.get(..10) >= Some(today))
        };
        let mut report_back = Vec::new();
        let mut made_here = Vec::new();
        for k in circle.contracts.iter().filter(|k| present(&k.owner)) {
            if k.gathering.as_deref() == Some(here.as_str()) {
                made_here.push(k.clone());
                continue;
            }
            // Last time's contracts, however they went; older ones (or made
            // outside a gathering) while open or since reported.
            let listed = match made_on(k) {
                Some(on) => on == last_time || (on < today && open_here(k)),
                None => open_here(k),
            };
            if listed {
                report_back.push(k.clone());
            }
        }
        report_back.sort_by(|a, b| (&a.owner_name, &a.created).cmp(&(&b.owner_name, &b.created)));
        let step = doc
            .agenda
            .get(doc.step as usize)
            .map(|s| s.kind.clone())
            .unwrap_or_default();
        let goals = circle
            .goals
            .iter()
            .filter(|g| present(&g.owner) && g.status == "open")
            .cloned()
            .collect();
        let review = match (step.as_str(), &series) {
            ("close", Some(_)) => Some(self.series_review(id, gathering, &doc.date)?),
            _ => None,
        };
        Ok(StepBriefView {
            step,
            ground_rules: circle.charter.clone(),
            report_back,
            made_here,
            goals,
            next: self.next_after(id, &doc.date)?,
            review,
        })
    }

    /// The first gathering planned after `date` that is not cancelled, if
    /// the circle has a rhythm.
    fn next_after(
        &self,
        id: CircleId,
        date: &str,
    ) -> Result<Option<crate::views::PlannedView>, EngineError> {
        let after = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap_or_else(|_| crate::today())
            + Duration::days(1);
        match self.schedule(id, after) {
            Ok(plan) => Ok(plan
                .into_iter()
                .find(|p| !p.cancelled && p.date >= after.to_string())),
            Err(EngineError::NoCadence) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

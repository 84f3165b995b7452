//! Contracts: the commitment each member makes at a gathering for the next
//! two weeks, its report back (outcome and what was learnt), and each
//! member's history of them.

use crate::views::{ContractHistoryView, ContractView, PlannedView, ReminderView};
use crate::{check_text, circle, random_id, DocId, MAX_TEXT_CHARS};
use crate::{CircleId, Engine, EngineError, MemberId, Store};

use crate::plan::holder;
use crate::select::find_key;
use circlekeep_model::docs::{self, CircleMap, Outcome};
use std::collections::BTreeMap;

impl<S: Store> Engine<S> {
    /// Makes a contract for this device's member; returns the contract id.
    pub fn add_contract(
        &self,
        id: CircleId,
        text: &str,
        goal: Option<&str>,
        gathering: Option<DocId>,
    ) -> Result<String, EngineError> {
        self.record_contract(id, None, text, goal, gathering)
    }

    /// Makes a contract for `member` (or, with `None`, for this device's
    /// member): the facilitator writing down a presenter's commitment at the
    /// table. It counts as `member`'s and shows as recorded by this member.
    pub fn record_contract(
        &self,
        id: CircleId,
        member: Option<MemberId>,
        text: &str,
        goal: Option<&str>,
        gathering: Option<DocId>,
    ) -> Result<String, EngineError> {
        let text = check_text(text, MAX_TEXT_CHARS)?;
        let me = self.me.member_id();
        let owner = member.unwrap_or(me);
        let contract_id = random_id();
        let contract = docs::Contract {
            owner: owner.to_hex(),
            on_behalf: owner != me,
            text: autosurgeon::Text::with_value(text),
            goal: goal.map(str::to_owned),
            gathering: gathering.map(|g| g.to_hex()),
            created: circle::now(),
            ..Default::default()
        };
        self.with_circle(id, |c, ctx| {
            if !c.membership.is_member(&owner) {
                return Err(EngineError::UnknownMember(owner.to_hex()));
            }
            if let Some(goal) = goal {
                let known = c.circle_doc().is_some_and(|d| d.goals.contains_key(goal));
                if !known {
                    return Err(EngineError::BadText("no goal with that id"));
                }
            }
            c.write(ctx, DocId::CIRCLE, |doc| {
                Ok(docs::put_record(
                    doc,
                    CircleMap::Contracts,
                    &contract_id,
                    &contract,
                )?)
            })
        })?;
        Ok(contract_id)
    }

    /// Reports back on a contract: outcome and (optionally) what was learnt.
    /// The reflection is merged character by character with concurrent edits.
    pub fn report_contract(
        &self,
        id: CircleId,
        contract: &str,
        outcome: Option<Outcome>,
        reflection: Option<&str>,
    ) -> Result<(), EngineError> {
        let reflection = reflection
            .map(|r| {
                if r.chars().count() > crate::MAX_TEXT_CHARS {
                    Err(EngineError::BadText("text is too long"))
                } else {
                    Ok(r.to_owned())
                }
            })
            .transpose()?;
        let contract = self.find_contract(id, contract)?;
        self.write_circle_doc(id, |doc| {
            if let Some(o) = outcome {
                let path = ["contracts", contract.as_str(), "report"];
                docs::put_value(doc, &path, "outcome", Some(o.name()))?;
                docs::put_value(doc, &path, "reported", Some(circle::now()))?;
            }
            if let Some(r) = &reflection {
                docs::update_text(doc, &["contracts", &contract, "report", "reflection"], r)?;
            }
            Ok(())
        })
    }

    /// Each member's contracts, oldest first, with their report back.
    pub fn contract_history(
        &self,
        id: CircleId,
        member: Option<circlekeep_model::MemberId>,
    ) -> Result<Vec<ContractHistoryView>, EngineError> {
        let doc = self.circle_doc(id)?;
        let names = crate::circles::profile_names(&doc);
        let mut by_member: BTreeMap<String, Vec<crate::views::ContractView>> = BTreeMap::new();
        for view in self.circle(id)?.contracts {
            if member.is_some_and(|m| m.to_hex() != view.owner) {
                continue;
            }
            by_member.entry(view.owner.clone()).or_default().push(view);
        }
        Ok(by_member
            .into_iter()
            .map(|(owner, contracts)| ContractHistoryView {
                kept: contracts.iter().filter(|c| c.outcome == "kept").count(),
                member: holder(&names, &owner),
                contracts,
            })
            .collect())
    }

    /// This device's member's contracts not yet reported back on, with the
    /// day each was made (its gathering's, or the day it was written).
    pub(crate) fn my_open_contracts(
        &self,
        id: CircleId,
    ) -> Result<Vec<(ContractView, String)>, EngineError> {
        let me = self.me.member_id().to_hex();
        let circle = self.circle(id)?;
        let day_of = |k: &ContractView| {
            let at = k.gathering.as_deref();
            circle
                .gatherings
                .iter()
                .find(|g| Some(g.id.as_str()) == at)
                .map_or_else(
                    || k.created.get(..10).unwrap_or_default().to_owned(),
                    |g| g.date.clone(),
                )
        };
        Ok(circle
            .contracts
            .iter()
            .filter(|k| k.owner == me && k.outcome.is_empty())
            .map(|k| (k.clone(), day_of(k)))
            .collect())
    }

    pub(crate) fn find_contract(
        &self,
        id: CircleId,
        selector: &str,
    ) -> Result<String, EngineError> {
        let doc = self.circle_doc(id)?;
        find_key(doc.contracts.keys(), selector)
            .ok_or_else(|| EngineError::UnknownContract(selector.into()))
    }
}

/// A reminder that this member's contracts made before `gathering` are due
/// for report back there (none if there are none). The text names no
/// contract: a system notification can be seen by anyone near the screen.
pub(crate) fn due_reminder(
    circle_hex: &str,
    doc: &docs::CircleDoc,
    open: &[(ContractView, String)],
    gathering: &PlannedView,
) -> Option<ReminderView> {
    let due = open
        .iter()
        .filter(|(_, made)| *made < gathering.date)
        .count();
    if due == 0 {
        return None;
    }
    let which = if due == 1 {
        "your contract".to_owned()
    } else {
        format!("your {due} contracts")
    };
    Some(ReminderView {
        circle: circle_hex.to_owned(),
        circle_name: doc.settings.name.clone(),
        mine: Vec::new(),
        on: None,
        due,
        kind: "contract".into(),
        text: format!(
            "{}: report back on {which} at the gathering of {} {}.",
            doc.settings.name, gathering.date, gathering.time
        ),
        gathering: Some(gathering.clone()),
    })
}

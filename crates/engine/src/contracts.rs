//! Contracts: the commitment each member makes at a gathering for the next
//! two weeks, its report back (outcome and what was learnt), and each
//! member's history of them.

use crate::views::ContractHistoryView;
use crate::{check_text, circle, random_id, DocId, MAX_TEXT_CHARS};
use crate::{CircleId, Engine, EngineError, Store};

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
        let text = check_text(text, MAX_TEXT_CHARS)?;
        let contract_id = random_id();
        let contract = docs::Contract {
            owner: self.me.member_id().to_hex(),
            text: autosurgeon::Text::with_value(text),
            goal: goal.map(str::to_owned),
            gathering: gathering.map(|g| g.to_hex()),
            created: circle::now(),
            report: docs::Report::default(),
        };
        self.with_circle(id, |c, ctx| {
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

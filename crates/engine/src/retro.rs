//! The retrospective of a stretch of the circle's life (a series, a term, a
//! year): gatherings held and who came, contracts made and how they went,
//! goals reached and milestones, the balance of airtime, and the pulse
//! trend; as a view for the app and as Markdown.

use crate::plan::holder;
use crate::pulse::summarize;
use crate::views::{ContractView, RetroGathering, RetroGoal, RetroMember, RetroView, RoleHolder};
use crate::{CircleId, DocId, Engine, EngineError, Store};
use chrono::{NaiveDate, Utc};
use std::collections::BTreeMap;
use std::fmt::Write as _;

impl<S: Store> Engine<S> {
    /// The retrospective of the gatherings from `from` to `to` (each
    /// included; `None`: from the first, up to today), and of the contracts
    /// made and milestones reached between those days.
    pub fn retrospective(
        &self,
        id: CircleId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<RetroView, EngineError> {
        let to = to.unwrap_or_else(crate::today).to_string();
        let from = from.map(|d| d.to_string());
        let within = |day: &str| {
            let day = day.get(..10).unwrap_or_default();
            from.as_deref().is_none_or(|f| day >= f) && day <= to.as_str()
        };
        let circle = self.circle(id)?;
        let names = crate::circles::profile_names(&self.circle_doc(id)?);
        let me = self.me.member_id().to_hex();
        let mut members: BTreeMap<String, RetroMember> = circle
            .members
            .iter()
            .map(|m| (m.id.clone(), RetroMember::new(holder(&names, &m.id))))
            .collect();
        let mut gatherings = Vec::new();
        for g in circle
            .gatherings
            .iter()
            .filter(|g| g.readable && within(&g.date))
        {
            let doc_id = DocId::from_hex(&g.id).map_err(|e| EngineError::Corrupt(e.to_string()))?;
            let state = self.gathering_state(id, doc_id, Utc::now())?;
            let mut present = 0;
            for a in &state.airtime {
                let m = members
                    .entry(a.member.id.clone())
                    .or_insert_with(|| RetroMember::new(a.member.clone()));
                m.airtime_secs += a.airtime_secs;
                if a.present == Some(true) {
                    m.attended += 1;
                    present += 1;
                }
            }
            let pulse = summarize(doc_id, &self.gathering_doc(id, doc_id)?.pulse, &me);
            gatherings.push(RetroGathering {
                id: g.id.clone(),
                date: g.date.clone(),
                present,
                turns: state.turns.iter().filter(|t| !t.speaking).count(),
                pulse,
            });
        }
        // A contract made at a gathering belongs to that gathering's day.
        let day_of: BTreeMap<&str, &str> = circle
            .gatherings
            .iter()
            .map(|g| (g.id.as_str(), g.date.as_str()))
            .collect();
        let made_on = |k: &ContractView| {
            k.gathering
                .as_deref()
                .and_then(|g| day_of.get(g).copied())
                .unwrap_or(&k.created)
                .to_owned()
        };
        let contracts: Vec<ContractView> = circle
            .contracts
            .iter()
            .filter(|k| within(&made_on(k)))
            .cloned()
            .collect();
        for k in &contracts {
            let m = members
                .entry(k.owner.clone())
                .or_insert_with(|| RetroMember::new(holder(&names, &k.owner)));
            m.contracts += 1;
            *m.outcomes.entry(outcome_name(&k.outcome)).or_default() += 1;
        }
        let mut milestones = Vec::new();
        let mut goals_achieved = Vec::new();
        for goal in &circle.goals {
            let owner = RoleHolder {
                id: goal.owner.clone(),
                name: goal.owner_name.clone(),
            };
            for m in &goal.milestones {
                if m.reached.as_deref().is_some_and(within) {
                    milestones.push(RetroGoal {
                        owner: owner.clone(),
                        goal: goal.text.clone(),
                        milestone: Some(m.text.clone()),
                    });
                }
            }
            if goal.status == "achieved" && goal.created.get(..10) <= Some(to.as_str()) {
                goals_achieved.push(RetroGoal {
                    owner,
                    goal: goal.text.clone(),
                    milestone: None,
                });
            }
        }
        Ok(RetroView {
            circle: circle.name,
            from,
            to,
            gatherings,
            members: members.into_values().collect(),
            contracts,
            goals_achieved,
            milestones,
        })
    }

    /// The retrospective as Markdown.
    pub fn retro_markdown(
        &self,
        id: CircleId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<String, EngineError> {
        Ok(markdown(&self.retrospective(id, from, to)?))
    }
}

/// A contract's outcome as a retrospective counts it (`open` before reporting).
fn outcome_name(outcome: &str) -> String {
    if outcome.is_empty() {
        "open".into()
    } else {
        outcome.to_owned()
    }
}

/// The Markdown of a retrospective.
pub(crate) fn markdown(r: &RetroView) -> String {
    let mut md = String::new();
    let since = r.from.as_deref().unwrap_or("the first gathering");
    let _ = writeln!(md, "# {} — retrospective, {since} to {}\n", r.circle, r.to);
    let held = r.gatherings.len();
    let _ = writeln!(
        md,
        "{held} gathering{} held.\n",
        if held == 1 { "" } else { "s" }
    );
    write_members(&mut md, r);
    if !r.contracts.is_empty() {
        md.push_str("\n## Contracts made\n\n");
        for k in &r.contracts {
            let how = outcome_name(&k.outcome);
            let learnt = if k.reflection.is_empty() {
                String::new()
            } else {
                format!(" {}", k.reflection)
            };
            let _ = writeln!(md, "- {}: {} — **{how}**.{learnt}", k.owner_name, k.text);
        }
    }
    if !r.goals_achieved.is_empty() || !r.milestones.is_empty() {
        md.push_str("\n## Goals and milestones\n\n");
        for g in &r.goals_achieved {
            let _ = writeln!(md, "- {}: achieved “{}”", g.owner.name, g.goal);
        }
        for g in &r.milestones {
            let milestone = g.milestone.as_deref().unwrap_or_default();
            let _ = writeln!(
                md,
                "- {}: reached “{milestone}” towards “{}”",
                g.owner.name, g.goal
            );
        }
    }
    write_pulse(&mut md, r);
    md
}

/// Per member: attendance, airtime and its share, contracts kept.
fn write_members(md: &mut String, r: &RetroView) {
    let total: u64 = r.members.iter().map(|m| m.airtime_secs).sum();
    md.push_str("## Members\n\n| Member | Came | Airtime | Share | Contracts | Kept |\n|---|---|---|---|---|---|\n");
    for m in &r.members {
        let share = (m.airtime_secs * 100).checked_div(total).unwrap_or(0);
        let kept = m.outcomes.get("kept").copied().unwrap_or(0);
        let _ = writeln!(
            md,
            "| {} | {} of {} | {} min | {share}% | {} | {kept} |",
            table_cell(&m.member.name),
            m.attended,
            r.gatherings.len(),
            m.airtime_secs.div_ceil(60),
            m.contracts
        );
    }
}

/// Text as one Markdown table cell: a `|` would end the cell and a line
/// break the row.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// Each gathering's pulse, where enough members answered.
fn write_pulse(md: &mut String, r: &RetroView) {
    let shown: Vec<&RetroGathering> = r
        .gatherings
        .iter()
        .filter(|g| g.pulse.heard.is_some())
        .collect();
    if shown.is_empty() {
        return;
    }
    md.push_str("\n## Pulse (1–5)\n\n| Gathering | Heard | Useful | Time fair | Answers |\n|---|---|---|---|---|\n");
    for g in shown {
        let p = &g.pulse;
        let score = |s: Option<f64>| s.map(|s| format!("{s:.1}")).unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            g.date,
            score(p.heard),
            score(p.useful),
            score(p.time_fair),
            p.answered
        );
    }
}

#[cfg(test)]
mod tests {
    use super::table_cell;

    #[test]
    fn a_name_cannot_break_out_of_its_table_cell() {
        let row = format!("| {} | 3 |", table_cell("Ada | 99 |\n| Bo"));
        let bytes = row.as_bytes();
        let unescaped = (0..bytes.len())
            .filter(|&i| bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\'))
            .count();
        assert_eq!(unescaped, 3, "{row}");
        assert!(!row.contains('\n'));
    }
}

//! `gathering brief`: what the current step brings to the table — the
//! ground rules at the opening, the contracts to report back on, the
//! contracts made here, the next gathering and its roles at the close.

use crate::output::{contract_line, Output};
use crate::practice::{circle, gathering, show};
use circlekeep_engine::views::{ContractView, StepBriefView};
use circlekeep_engine::Engine;
use clap::Args;

/// `circlekeep gathering brief CIRCLE`.
#[derive(Args)]
pub struct BriefArgs {
    /// Circle name or id prefix.
    pub circle: String,
    /// Gathering id prefix or date (default the latest).
    #[arg(long)]
    pub gathering: Option<String>,
}

/// Runs `gathering brief`.
pub fn brief(engine: &Engine, args: BriefArgs, out: &Output) -> anyhow::Result<()> {
    let id = circle(engine, &args.circle)?;
    let g = gathering(engine, id, args.gathering.as_deref())?;
    let brief = engine.step_brief(id, g)?;
    show(out, &brief, || say_brief(out, &brief));
    Ok(())
}

fn say_brief(out: &Output, b: &StepBriefView) {
    match b.step.as_str() {
        "open" => {
            say!(out, "Ground rules:");
            for line in b.ground_rules.lines() {
                say!(out, "  {line}");
            }
        }
        "close" => match &b.next {
            Some(next) => {
                let roles: Vec<String> = next
                    .roles
                    .iter()
                    .map(|(role, who)| format!("{role} {}", who.name))
                    .collect();
                say!(
                    out,
                    "Next: {} {} — {}",
                    next.date,
                    next.time,
                    roles.join(", ")
                );
            }
            None => say!(out, "No next gathering is planned."),
        },
        _ => {}
    }
    if !b.report_back.is_empty() {
        say!(out, "To report back on:");
        say_contracts(out, &b.report_back);
    }
    if !b.made_here.is_empty() {
        say!(out, "Contracts until next time:");
        say_contracts(out, &b.made_here);
    }
    if let Some(review) = &b.review {
        say!(
            out,
            "The series in review ({} gatherings):",
            review.gatherings.len()
        );
        say_contracts(out, &review.contracts);
    }
}

fn say_contracts(out: &Output, contracts: &[ContractView]) {
    for k in contracts {
        say!(out, "{}", contract_line(k));
    }
}

//! Goals and contracts beyond adding and listing them: progress notes,
//! milestones and status of a goal; a contract's report back and each
//! member's history of contracts.

use crate::output::Output;
use crate::practice::{circle, show};
use circlekeep_engine::Engine;
use circlekeep_engine::ErrorCode;
use circlekeep_engine::{EngineError, GoalStatus, Outcome};
use clap::Subcommand;

/// Goal verbs beyond adding and listing.
#[derive(Subcommand)]
pub enum GoalMore {
    /// Add a progress note to a goal.
    Progress {
        /// Circle name or id prefix.
        circle: String,
        /// Goal id prefix.
        goal: String,
        /// The note.
        text: String,
    },
    /// Add a milestone to a goal.
    Milestone {
        /// Circle name or id prefix.
        circle: String,
        /// Goal id prefix.
        goal: String,
        /// The milestone.
        text: String,
    },
    /// Celebrate a reached milestone.
    Reach {
        /// Circle name or id prefix.
        circle: String,
        /// Goal id prefix.
        goal: String,
        /// Milestone id prefix.
        milestone: String,
    },
    /// Set a goal's status: open, achieved or dropped.
    Status {
        /// Circle name or id prefix.
        circle: String,
        /// Goal id prefix.
        goal: String,
        /// open, achieved or dropped.
        status: String,
    },
}

/// Runs the extra goal verbs.
pub fn run_goal(engine: &Engine, cmd: GoalMore, out: &Output) -> anyhow::Result<()> {
    match cmd {
        GoalMore::Progress {
            circle: c,
            goal,
            text,
        } => {
            let n = engine.goal_progress(circle(engine, &c)?, &goal, &text)?;
            out.id("progress", &n, "Progress noted.");
        }
        GoalMore::Milestone {
            circle: c,
            goal,
            text,
        } => {
            let m = engine.goal_milestone(circle(engine, &c)?, &goal, &text)?;
            out.id("milestone", &m, &format!("Milestone added ({m})."));
        }
        GoalMore::Reach {
            circle: c,
            goal,
            milestone,
        } => {
            engine.reach_milestone(circle(engine, &c)?, &goal, &milestone)?;
            out.done("Milestone reached. Well done!");
        }
        GoalMore::Status {
            circle: c,
            goal,
            status,
        } => {
            let status: GoalStatus = status.parse().map_err(EngineError::from)?;
            engine.goal_status(circle(engine, &c)?, &goal, status)?;
            out.done("Goal updated.");
        }
    }
    Ok(())
}

/// Contract verbs beyond adding and listing.
#[derive(Subcommand)]
pub enum ContractMore {
    /// Report back on a contract.
    Report {
        /// Circle name or id prefix.
        circle: String,
        /// Contract id prefix.
        contract: String,
        /// kept, partly, not or renegotiated.
        #[arg(long)]
        outcome: Option<String>,
        /// What was learnt (replaces the text; concurrent edits merge).
        #[arg(long)]
        reflection: Option<String>,
    },
    /// Each member's contracts and how they went.
    History {
        /// Circle name or id prefix.
        circle: String,
        /// Only this member.
        #[arg(long)]
        member: Option<String>,
    },
}

/// Runs the extra contract verbs.
pub fn run_contract(engine: &Engine, cmd: ContractMore, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ContractMore::Report {
            circle: c,
            contract,
            outcome,
            reflection,
        } => {
            if outcome.is_none() && reflection.is_none() {
                anyhow::bail!(crate::Failure {
                    code: ErrorCode::BadText,
                    message: "give --outcome and/or --reflection".into()
                });
            }
            engine.report_contract(
                circle(engine, &c)?,
                &contract,
                outcome
                    .map(|o| o.parse::<Outcome>())
                    .transpose()
                    .map_err(EngineError::from)?,
                reflection.as_deref(),
            )?;
            out.done("Report back saved.");
        }
        ContractMore::History { circle: c, member } => {
            let id = circle(engine, &c)?;
            let member = member.map(|m| engine.find_member(id, &m)).transpose()?;
            let history = engine.contract_history(id, member)?;
            show(out, &history, || {
                for h in &history {
                    say!(
                        out,
                        "{} — {} of {} kept",
                        h.member.name,
                        h.kept,
                        h.contracts.len()
                    );
                    for k in &h.contracts {
                        let outcome = if k.outcome.is_empty() {
                            "open"
                        } else {
                            &k.outcome
                        };
                        say!(
                            out,
                            "  {} [{}] {} {}",
                            &k.created[..10.min(k.created.len())],
                            outcome,
                            k.text,
                            k.reflection
                        );
                    }
                }
            });
        }
    }
    Ok(())
}

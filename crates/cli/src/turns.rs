//! A turn in a running gathering, from the command line: start one (or
//! speaking time outside the turns), pause, resume and end it.

use crate::output::Output;
use crate::practice::{circle, gathering, print_state};
use circlekeep_engine::Engine;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum TurnCommand {
    /// Start a member's turn (ends the running one).
    Start {
        /// Circle name or id prefix.
        circle: String,
        /// The presenter.
        member: String,
        /// Minutes (default: their fitted time request).
        #[arg(long)]
        minutes: Option<u64>,
        /// The kind of feedback wanted.
        #[arg(long, default_value = "")]
        feedback: String,
        /// Keep no notes of this turn.
        #[arg(long)]
        off_record: bool,
        /// Speaking time outside the turns (check-in, report back, a
        /// discussion): airtime, but no turn and no contract. Minutes
        /// default to the current step's share.
        #[arg(long, conflicts_with = "feedback")]
        speaking: bool,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
    /// End the running turn.
    End {
        /// Circle name or id prefix.
        circle: String,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
    /// Stop the running turn's clock (a question from the room, a break).
    Pause {
        /// Circle name or id prefix.
        circle: String,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
    /// Start the paused turn's clock again.
    Resume {
        /// Circle name or id prefix.
        circle: String,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
}

/// Journal verbs.
/// Starts, pauses, resumes or ends a turn in a running gathering.
pub fn turn(engine: &Engine, command: TurnCommand, out: &Output) -> anyhow::Result<()> {
    let pausing = matches!(command, TurnCommand::Pause { .. });
    match command {
        TurnCommand::Start {
            circle: c,
            member,
            minutes,
            feedback,
            off_record,
            speaking,
            gathering: g,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, g.as_deref())?;
            let who = engine.find_member(id, &member)?;
            if speaking {
                engine.start_speaking(id, g, who, minutes, off_record)?;
            } else {
                engine.start_turn(id, g, who, minutes, &feedback, off_record)?;
            }
            print_state(engine, id, g, out)?;
        }
        TurnCommand::End {
            circle: c,
            gathering: g,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, g.as_deref())?;
            engine.end_turn(id, g)?;
            print_state(engine, id, g, out)?;
        }
        TurnCommand::Pause {
            circle: c,
            gathering: g,
        }
        | TurnCommand::Resume {
            circle: c,
            gathering: g,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, g.as_deref())?;
            engine.pause_turn(id, g, pausing)?;
            print_state(engine, id, g, out)?;
        }
    }
    Ok(())
}

//! `circlekeep`: the command-line face of the engine. Every capability of
//! the desktop app is reachable here, so it can be scripted and tested
//! without a window. `--json` prints machine-readable results.

mod output;

use anyhow::Context;
use circlekeep_engine::views::ImportReport;
use circlekeep_engine::{Engine, EngineError, HistoryPolicy, Home, NaiveDate, SecretString};
use clap::{Parser, Subcommand, ValueEnum};
use output::Output;
use std::path::PathBuf;
use std::process::ExitCode;

/// Peer mentoring circles, sealed end to end.
#[derive(Parser)]
#[command(name = "circlekeep", version, about)]
struct Cli {
    /// Data folder (default: the platform's data dir, e.g. ~/.local/share/circlekeep).
    #[arg(long, global = true, env = "CIRCLEKEEP_HOME")]
    home: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create this device's identity (asks for a passphrase to protect it).
    Init {
        /// Your display name, as circles will see it.
        #[arg(long)]
        name: String,
        /// scrypt work factor for the key file (tests only; default 18).
        #[arg(long, hide = true, default_value_t = 18)]
        kdf_work_factor: u8,
    },
    /// Print this device's member card (give it to a circle to be added).
    Id,
    /// Circles.
    #[command(subcommand)]
    Circle(CircleCommand),
    /// Members of a circle.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Gatherings.
    #[command(subcommand)]
    Gathering(GatheringCommand),
    /// Notes taken at gatherings.
    #[command(subcommand)]
    Note(NoteCommand),
    /// Members' longer-term goals.
    #[command(subcommand)]
    Goal(GoalCommand),
    /// Contracts: commitments until the next gathering.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Offline exchange by file.
    #[command(subcommand)]
    Bundle(BundleCommand),
}

#[derive(Subcommand)]
enum CircleCommand {
    /// Found a circle with you as its first member.
    Create {
        /// The circle's name.
        name: String,
        /// Whether newcomers can read earlier gatherings' notes.
        #[arg(long, value_enum, default_value = "since-joining")]
        history: History,
    },
    /// List your circles.
    List,
    /// Show a circle: charter, members, gatherings, goals, contracts.
    Show {
        /// Circle name or id prefix.
        circle: String,
    },
    /// Leave a circle.
    Leave {
        /// Circle name or id prefix.
        circle: String,
    },
    /// Records this device refused from a circle's bundles, and why.
    Rejections {
        /// Circle name or id prefix.
        circle: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum History {
    /// Newcomers read the circle document but not earlier gatherings.
    SinceJoining,
    /// Newcomers also read earlier gatherings' notes.
    NewcomersSeeHistory,
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Add someone by their member card (check the fingerprint with them).
    Add {
        /// Circle name or id prefix.
        circle: String,
        /// Their member card (`circlekeep id` on their device).
        card: String,
    },
    /// Remove a member; later content is sealed away from them.
    Remove {
        /// Circle name or id prefix.
        circle: String,
        /// Member name or id prefix.
        member: String,
    },
    /// List current members.
    List {
        /// Circle name or id prefix.
        circle: String,
    },
}

#[derive(Subcommand)]
enum GatheringCommand {
    /// Open a gathering; prints its id.
    New {
        /// Circle name or id prefix.
        circle: String,
        /// Date (YYYY-MM-DD, default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// List gatherings.
    List {
        /// Circle name or id prefix.
        circle: String,
    },
}

#[derive(Subcommand)]
enum NoteCommand {
    /// Add a note to a gathering (default: the latest you can read).
    Add {
        /// Circle name or id prefix.
        circle: String,
        /// The note.
        text: String,
        /// Gathering id prefix or date.
        #[arg(long)]
        gathering: Option<String>,
    },
    /// List notes (default: every gathering you can read).
    List {
        /// Circle name or id prefix.
        circle: String,
        /// Gathering id prefix or date.
        #[arg(long)]
        gathering: Option<String>,
    },
}

#[derive(Subcommand)]
enum GoalCommand {
    /// Set a goal for yourself.
    Add {
        /// Circle name or id prefix.
        circle: String,
        /// The goal.
        text: String,
    },
    /// List goals.
    List {
        /// Circle name or id prefix.
        circle: String,
    },
}

#[derive(Subcommand)]
enum ContractCommand {
    /// Make a contract for the next two weeks.
    Add {
        /// Circle name or id prefix.
        circle: String,
        /// The commitment.
        text: String,
        /// Goal id it serves.
        #[arg(long)]
        goal: Option<String>,
        /// Gathering id prefix or date where it was made.
        #[arg(long)]
        gathering: Option<String>,
    },
    /// List contracts.
    List {
        /// Circle name or id prefix.
        circle: String,
    },
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Write what another device lacks (or everything) to a file.
    Export {
        /// Circle name or id prefix.
        circle: String,
        /// The file to write.
        file: PathBuf,
        /// Only what this member lacks, as far as their last bundle told.
        #[arg(long = "for")]
        for_member: Option<String>,
    },
    /// Check and import a bundle file.
    Import {
        /// The bundle file.
        file: PathBuf,
    },
}

/// Exit status when a bundle imported but some records were refused.
const EXIT_REJECTED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CIRCLEKEEP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let out = Output::new(cli.json);
    match run(cli, &out) {
        Ok(code) => code,
        Err(e) => {
            out.error(&e);
            ExitCode::FAILURE
        }
    }
}

fn home(cli_home: Option<PathBuf>) -> anyhow::Result<Home> {
    match cli_home {
        Some(path) => Ok(Home::new(path)),
        None => Home::platform_default().context("cannot find a data folder; pass --home DIR"),
    }
}

fn passphrase(confirm: bool) -> anyhow::Result<SecretString> {
    if let Ok(p) = std::env::var("CIRCLEKEEP_PASSPHRASE") {
        return Ok(SecretString::from(p));
    }
    let first = rpassword::prompt_password("Passphrase: ")
        .context("cannot read a passphrase; set CIRCLEKEEP_PASSPHRASE")?;
    if confirm {
        let again = rpassword::prompt_password("Passphrase again: ")?;
        anyhow::ensure!(first == again, "the passphrases do not match");
    }
    Ok(SecretString::from(first))
}

fn open(home: &Home) -> anyhow::Result<Engine> {
    if !home.is_initialized() {
        return Err(EngineError::NotInitialized(home.root().to_owned()).into());
    }
    Ok(Engine::open(home, &passphrase(false)?)?)
}

fn parse_date(text: Option<&str>) -> Result<NaiveDate, EngineError> {
    match text {
        None => Ok(circlekeep_engine::today()),
        Some(t) => NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")
            .map_err(|_| EngineError::BadDate(t.to_owned())),
    }
}

fn run(cli: Cli, out: &Output) -> anyhow::Result<ExitCode> {
    let home = home(cli.home)?;
    let engine = match &cli.command {
        Command::Init {
            name,
            kdf_work_factor,
        } => {
            if home.is_initialized() {
                return Err(EngineError::AlreadyInitialized(home.root().to_owned()).into());
            }
            let engine = Engine::init(&home, name, &passphrase(true)?, *kdf_work_factor)?;
            out.card(&engine.member_card(), "Identity created. Your member card:");
            return Ok(ExitCode::SUCCESS);
        }
        _ => open(&home)?,
    };
    let code = dispatch(&engine, cli.command, out)?;
    engine.checkpoint()?;
    Ok(code)
}

fn dispatch(engine: &Engine, command: Command, out: &Output) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init { .. } => unreachable!("handled before opening"),
        Command::Id => out.card(&engine.member_card(), "Your member card:"),
        Command::Circle(c) => match c {
            CircleCommand::Create { name, history } => {
                let policy = match history {
                    History::SinceJoining => HistoryPolicy::SinceJoining,
                    History::NewcomersSeeHistory => HistoryPolicy::NewcomersSeeHistory,
                };
                let id = engine.create_circle(&name, policy)?;
                out.id(
                    "circle",
                    &id.to_hex(),
                    &format!("Created circle {} ({})", name, id.short()),
                );
            }
            CircleCommand::List => out.circles(&engine.circles()?),
            CircleCommand::Show { circle } => {
                out.circle(&engine.circle(engine.find_circle(&circle)?)?)
            }
            CircleCommand::Leave { circle } => {
                engine.leave_circle(engine.find_circle(&circle)?)?;
                out.done("Left the circle.");
            }
            CircleCommand::Rejections { circle } => {
                out.rejections(&engine.rejections(engine.find_circle(&circle)?)?)
            }
        },
        Command::Member(m) => match m {
            MemberCommand::Add { circle, card } => {
                let added = engine.add_member(engine.find_circle(&circle)?, &card)?;
                out.member_added(&added);
            }
            MemberCommand::Remove { circle, member } => {
                let id = engine.find_circle(&circle)?;
                let who = engine.find_member(id, &member)?;
                engine.remove_member(id, who)?;
                out.done("Removed. What is written from now on is sealed away from them.");
            }
            MemberCommand::List { circle } => {
                out.members(&engine.members(engine.find_circle(&circle)?)?)
            }
        },
        Command::Gathering(g) => match g {
            GatheringCommand::New { circle, date } => {
                let id = engine.find_circle(&circle)?;
                let date = parse_date(date.as_deref())?;
                let gathering = engine.new_gathering(id, date)?;
                out.id(
                    "gathering",
                    &gathering.to_hex(),
                    &format!("Opened the gathering of {date} ({})", gathering.short()),
                );
            }
            GatheringCommand::List { circle } => {
                out.gatherings(&engine.circle(engine.find_circle(&circle)?)?.gatherings)
            }
        },
        Command::Note(n) => match n {
            NoteCommand::Add {
                circle,
                text,
                gathering,
            } => {
                let id = engine.find_circle(&circle)?;
                let gathering = match gathering {
                    Some(g) => engine.find_gathering(id, &g)?,
                    None => engine.latest_gathering(id)?,
                };
                let note = engine.add_note(id, gathering, &text)?;
                out.id("note", &note, "Note saved.");
            }
            NoteCommand::List { circle, gathering } => {
                let id = engine.find_circle(&circle)?;
                let gathering = gathering
                    .map(|g| engine.find_gathering(id, &g))
                    .transpose()?;
                out.notes(&engine.notes(id, gathering)?);
            }
        },
        Command::Goal(g) => match g {
            GoalCommand::Add { circle, text } => {
                let goal = engine.add_goal(engine.find_circle(&circle)?, &text)?;
                out.id("goal", &goal, &format!("Goal saved ({goal})."));
            }
            GoalCommand::List { circle } => {
                out.goals(&engine.circle(engine.find_circle(&circle)?)?.goals)
            }
        },
        Command::Contract(k) => match k {
            ContractCommand::Add {
                circle,
                text,
                goal,
                gathering,
            } => {
                let id = engine.find_circle(&circle)?;
                let gathering = gathering
                    .map(|g| engine.find_gathering(id, &g))
                    .transpose()?;
                let contract = engine.add_contract(id, &text, goal.as_deref(), gathering)?;
                out.id(
                    "contract",
                    &contract,
                    &format!("Contract saved ({contract})."),
                );
            }
            ContractCommand::List { circle } => {
                out.contracts(&engine.circle(engine.find_circle(&circle)?)?.contracts)
            }
        },
        Command::Bundle(b) => match b {
            BundleCommand::Export {
                circle,
                file,
                for_member,
            } => {
                let id = engine.find_circle(&circle)?;
                let member = for_member.map(|m| engine.find_member(id, &m)).transpose()?;
                let bytes = engine.export_bundle(id, member)?;
                std::fs::write(&file, &bytes)
                    .with_context(|| format!("cannot write {}", file.display()))?;
                out.exported(&file, bytes.len());
            }
            BundleCommand::Import { file } => {
                let bytes = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let report: ImportReport = engine.import_bundle(&bytes)?;
                out.imported(&report);
                if !report.rejected.is_empty() {
                    return Ok(ExitCode::from(EXIT_REJECTED));
                }
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

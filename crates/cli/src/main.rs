//! `circlekeep`: the command-line face of the engine. Every capability of
//! the desktop app is reachable here, so it can be scripted and tested
//! without a window. `--json` prints machine-readable results.
//!
//! While `circlekeep serve` runs, it holds the data folder; other commands
//! are then handed to it through a socket in the folder and run there.

mod control;
mod devices;
#[macro_use]
mod output;
mod brief;
mod goals;
mod keeper;
mod network;
mod practice;
mod reflect;
mod turns;

use anyhow::Context;
use circlekeep_engine::agenda::Template;
use circlekeep_engine::ErrorCode;
use circlekeep_engine::{Engine, EngineError, HistoryPolicy, Home, NetChoice, SecretString};
use circlekeep_sync::Node;
use clap::{Args, Parser, Subcommand, ValueEnum};
use output::Output;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Peer mentoring circles, sealed end to end.
#[derive(Parser)]
#[command(name = "circlekeep", version, about)]
pub struct Cli {
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
    /// Change the passphrase that protects this device's key file (asks for
    /// the current one, then the new one; `CIRCLEKEEP_NEW_PASSPHRASE` in
    /// scripts). Key files saved earlier keep the old passphrase.
    Passphrase {
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
    /// Your devices: link a new one, list them, retire one.
    #[command(subcommand)]
    Device(devices::DeviceCommand),
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
    /// Run the sync node in the foreground: stay connected to every member
    /// and exchange records as they are written, until stopped.
    Serve {
        #[command(flatten)]
        net: NetArgs,
    },
    /// Sync once with every reachable member, then exit.
    Sync {
        #[command(flatten)]
        net: NetArgs,
        /// How long to wait for members.
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Make a one-time invite ticket for a newcomer.
    Invite {
        /// Circle name or id prefix.
        circle: String,
        /// How long the ticket stays valid.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        expires: Duration,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Join a circle with an invite ticket and catch up.
    Join {
        /// The ticket (`circlekeep-invite1:…`) or its link (`circlekeep://invite1/…`).
        ticket: String,
        /// While the inviter cannot be reached, keep trying (every 10 s) for
        /// this long, e.g. `2h` (default: try once).
        #[arg(long, value_parser = humantime::parse_duration)]
        wait: Option<Duration>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Sync status: this device's endpoint, and per circle and member whether
    /// connected, when last seen, and how many entries each side lacks.
    Status,
    /// Diagnostic info for a bug report: version, system, counts and sync
    /// state (no circle content, names, ids or keys).
    Diagnostics,
    /// Search a circle's notes, goals, contracts and your journal about it
    /// (every word must occur; any case).
    Search(reflect::SearchArgs),
    /// Device network settings (defaults for the networked commands).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a keeper: an always-on peer that stores and forwards circles'
    /// sealed records (from the data folder's `keeper/`; no identity needed).
    #[command(subcommand)]
    Keeper(keeper::KeeperCommand),
    #[command(flatten)]
    Practice(practice::PracticeCommand),
}

/// Network options of the networked commands (defaults from `config`).
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct NetArgs {
    /// Relay: `default` (iroh's public relays), a self-hosted iroh-relay URL, or `disabled`.
    #[arg(long)]
    relay: Option<String>,
    /// Find members on the local network (mDNS): `on` or `off`.
    #[arg(long)]
    local_discovery: Option<OnOff>,
    /// Listen on this address (e.g. 127.0.0.1:7400); default: any, random port.
    #[arg(long)]
    bind: Option<SocketAddr>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn is_on(self) -> bool {
        matches!(self, OnOff::On)
    }
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Show the settings.
    Show,
    /// Relay for this device: `default`, a self-hosted iroh-relay URL, or `disabled`.
    Relay {
        /// The setting.
        value: String,
    },
    /// Local-network discovery: `on` or `off`.
    LocalDiscovery {
        /// The setting.
        value: OnOff,
    },
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
    /// Set the circle's purpose, cadence (every N weeks, weekday, time,
    /// length, time zone) and guide.
    Setup(practice::SetupArgs),
    /// The circle's practice: purpose, cadence, guide, charter acceptance,
    /// next gatherings with their roles.
    Practice {
        /// Circle name or id prefix.
        circle: String,
    },
    /// List your circles.
    List,
    /// Show a circle: charter, members, gatherings, goals, contracts.
    Show {
        /// Circle name or id prefix.
        circle: String,
    },
    /// Accept a circle that added you: it then syncs and you take part.
    Accept {
        /// Circle name or id prefix.
        circle: String,
    },
    /// Leave a circle.
    Leave {
        /// Circle name or id prefix.
        circle: String,
    },
    /// Keepers of a circle: always-on peers that store and forward its
    /// sealed records between gatherings.
    #[command(subcommand)]
    Keeper(keeper::CircleKeeperCommand),
    /// Records this device refused from a circle's bundles and peers, and why.
    Rejections {
        /// Circle name or id prefix.
        circle: String,
    },
    /// Write a retrospective (attendance, contracts made and kept, goals and
    /// milestones, airtime balance, pulse trend) as Markdown.
    Retro(reflect::RetroArgs),
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
        /// Agenda template: biweekly, series-start or series-report. A
        /// series start sets the day it reports back on (--report-on); a
        /// series report follows the series before it.
        #[arg(long, default_value = "biweekly")]
        template: String,
        /// With series-start: the day the series reports back (YYYY-MM-DD,
        /// default two weeks later).
        #[arg(long)]
        report_on: Option<String>,
    },
    /// List gatherings.
    List {
        /// Circle name or id prefix.
        circle: String,
    },
    /// Answer the pulse after a gathering: was I heard, was it useful, was
    /// the time fair (1–5); the circle sees averages once three answered.
    Pulse(reflect::PulseArgs),
    /// What the current step brings: ground rules, contracts to report
    /// back on and made here, the next gathering's roles.
    Brief(brief::BriefArgs),
    #[command(flatten)]
    Run(practice::GatheringRun),
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
    /// Type into a note: at a character position, delete and/or insert.
    Edit {
        /// Circle name or id prefix.
        circle: String,
        /// The note's id (from `note list --json`).
        note: String,
        /// Where the edit starts, in characters from the beginning.
        #[arg(long)]
        at: usize,
        /// How many characters to delete there.
        #[arg(long, default_value_t = 0)]
        delete: usize,
        /// What to insert there.
        #[arg(long, default_value = "")]
        insert: String,
        /// Gathering id prefix or date (default: the latest you can read).
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
    #[command(flatten)]
    More(goals::GoalMore),
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
        /// Record it for this member (name or id prefix): the facilitator
        /// writing down a presenter's contract; it shows who recorded it.
        #[arg(long = "for", value_name = "MEMBER")]
        for_member: Option<String>,
    },
    /// List contracts.
    List {
        /// Circle name or id prefix.
        circle: String,
    },
    #[command(flatten)]
    More(goals::ContractMore),
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

/// Exit status of `sync` when members exist but none could be reached.
const EXIT_NO_MEMBER_REACHED: u8 = 4;

/// A failure with a stable machine-readable code (beyond the engine's).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// Stable code.
    pub code: ErrorCode,
    message: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(
        cli.command,
        Command::Serve { .. } | Command::Keeper(keeper::KeeperCommand::Serve { .. })
    );
    let default_level = if serving { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CIRCLEKEEP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let out = Output::terminal(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            out.error(&anyhow::Error::from(e).context("cannot start the async runtime"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, &out)) {
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

pub(crate) fn passphrase(confirm: bool) -> anyhow::Result<SecretString> {
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

/// The new passphrase for `passphrase`: `CIRCLEKEEP_NEW_PASSPHRASE`, or
/// asked twice.
fn new_passphrase() -> anyhow::Result<SecretString> {
    if let Ok(p) = std::env::var("CIRCLEKEEP_NEW_PASSPHRASE") {
        return Ok(SecretString::from(p));
    }
    let first = rpassword::prompt_password("New passphrase: ")
        .context("cannot read a passphrase; set CIRCLEKEEP_NEW_PASSPHRASE")?;
    let again = rpassword::prompt_password("New passphrase again: ")?;
    anyhow::ensure!(first == again, "the passphrases do not match");
    Ok(SecretString::from(first))
}

async fn run(cli: Cli, out: &Output) -> anyhow::Result<ExitCode> {
    let home = home(cli.home.clone())?;
    if let Command::Keeper(command) = cli.command {
        keeper::run(&home, command, out).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Init {
        name,
        kdf_work_factor,
    } = &cli.command
    {
        if home.is_initialized() {
            return Err(EngineError::AlreadyInitialized(home.root().to_owned()).into());
        }
        let engine = Engine::init(&home, name, &passphrase(true)?, *kdf_work_factor)?;
        out.identity(
            engine.identity(),
            engine.member_card().ok().as_ref(),
            "Identity created. Your member card:",
        );
        return Ok(ExitCode::SUCCESS);
    }
    // The key file only: works while `serve` or the app holds the folder.
    if let Command::Passphrase { kdf_work_factor } = &cli.command {
        let old = passphrase(false)?;
        home.change_passphrase(&old, &new_passphrase()?, *kdf_work_factor)?;
        out.done("Passphrase changed. Key files you saved before still open with the old one.");
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Device(devices::DeviceCommand::Join {
        ticket,
        name,
        kdf_work_factor,
        net,
    }) = &cli.command
    {
        if home.is_initialized() {
            return Err(EngineError::AlreadyInitialized(home.root().to_owned()).into());
        }
        devices::join(&home, ticket, name, *kdf_work_factor, net, out).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Practice(practice::PracticeCommand::Restore {
        file,
        key_file: Some(key_file),
        kdf_work_factor,
    }) = &cli.command
    {
        if !home.is_initialized() {
            // A new device: nothing is written unless key and backup match.
            let (key, backup) = (practice::read_file(key_file)?, practice::read_file(file)?);
            let pass = passphrase(false)?;
            let (engine, report) =
                Engine::restore_new_device(&home, &key, &pass, &backup, *kdf_work_factor)?;
            practice::restored(out, &report);
            engine.checkpoint()?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    if !home.is_initialized() {
        return Err(EngineError::NotInitialized(home.root().to_owned()).into());
    }
    // A running `serve` holds the folder: let it run the command.
    if !matches!(cli.command, Command::Serve { .. }) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Some(code) = control::forward(&home, &args).await? {
            return Ok(ExitCode::from(code));
        }
    }
    let engine = Arc::new(Engine::open(&home, &passphrase(false)?)?);
    let code = match cli.command {
        Command::Serve { net } => {
            control::serve(&home, engine.clone(), engine.node_config(&net.choice())?).await?;
            0
        }
        command => dispatch(&home, &engine, None, command, out).await?,
    };
    engine.checkpoint()?;
    Ok(ExitCode::from(code))
}

impl NetArgs {
    /// The flags as the engine takes them (unset ones: the device's `config`).
    pub(crate) fn choice(&self) -> NetChoice {
        NetChoice {
            relay: self.relay.clone(),
            local_discovery: self.local_discovery.map(|o| matches!(o, OnOff::On)),
            bind: self.bind,
        }
    }
}

/// Runs one command against an open engine; `node` is the serving node when
/// a running `serve` executes it. Returns the exit status.
pub(crate) async fn dispatch(
    home: &Home,
    engine: &Arc<Engine>,
    node: Option<&Node<Engine>>,
    command: Command,
    out: &Output,
) -> anyhow::Result<u8> {
    match command {
        Command::Init { .. } => {
            return Err(EngineError::AlreadyInitialized(PathBuf::from("(serving)")).into())
        }
        // Changed on the key file by the command itself, never forwarded.
        Command::Passphrase { .. } => anyhow::bail!("change the passphrase from a terminal"),
        Command::Serve { .. } => anyhow::bail!(Failure {
            code: ErrorCode::AlreadyServing,
            message: "this data folder is already being served".into()
        }),
        Command::Id => out.identity(
            engine.identity(),
            engine.member_card().ok().as_ref(),
            "Your member card:",
        ),
        Command::Circle(c) => circle(engine, node, c, out)?,
        Command::Member(m) => member(engine, m, out)?,
        Command::Device(d) => devices::run(engine, node, d, out).await?,
        Command::Gathering(g) => gathering(engine, g, out)?,
        Command::Note(n) => note(engine, n, out)?,
        Command::Goal(g) => goal(engine, g, out)?,
        Command::Contract(k) => contract(engine, k, out)?,
        Command::Bundle(b) => return bundle(engine, b, out),
        Command::Invite {
            circle,
            expires,
            net,
        } => network::invite(engine, node, &circle, expires, &net, out)?,
        Command::Join { ticket, net, wait } => {
            network::join(engine, node, &ticket, &net, wait, out).await?
        }
        Command::Status => network::status(engine, node, out),
        Command::Diagnostics => {
            out.diagnostics(&engine.diagnostics(node.map(|n| n.status()).as_ref())?)
        }
        Command::Sync { net, timeout } => {
            return network::sync(engine, node, &net, timeout, out).await
        }
        Command::Practice(p) => {
            let key_file = home.key_file().ok();
            practice::run(engine, p, key_file, out)?
        }
        Command::Config(c) => network::config(engine, c, out)?,
        Command::Keeper(_) => anyhow::bail!("run `circlekeep keeper` commands on their own"),
        Command::Search(args) => reflect::search(engine, args, out)?,
    }
    Ok(0)
}

fn circle(
    engine: &Engine,
    node: Option<&Node<Engine>>,
    command: CircleCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match command {
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
        CircleCommand::Setup(args) => practice::setup(engine, args, out)?,
        CircleCommand::Practice { circle } => {
            practice::practice(engine, engine.find_circle(&circle)?, out)?
        }
        CircleCommand::List => out.circles(&engine.circles()?),
        CircleCommand::Show { circle } => out.circle(&engine.circle(engine.find_circle(&circle)?)?),
        CircleCommand::Accept { circle } => {
            engine.accept_circle(engine.find_circle(&circle)?)?;
            out.done("Accepted: the circle syncs and you take part.");
        }
        CircleCommand::Leave { circle } => {
            engine.leave_circle(engine.find_circle(&circle)?)?;
            out.done("Left the circle.");
        }
        CircleCommand::Retro(args) => reflect::retro(engine, args, out)?,
        CircleCommand::Keeper(k) => keeper::circle(engine, node, k, out)?,
        CircleCommand::Rejections { circle } => {
            out.rejections(&engine.rejections(engine.find_circle(&circle)?)?)
        }
    }
    Ok(())
}

fn member(engine: &Engine, command: MemberCommand, out: &Output) -> anyhow::Result<()> {
    match command {
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
    }
    Ok(())
}

fn gathering(engine: &Engine, command: GatheringCommand, out: &Output) -> anyhow::Result<()> {
    match command {
        GatheringCommand::New {
            circle,
            date,
            template,
            report_on,
        } => {
            let id = engine.find_circle(&circle)?;
            let date = circlekeep_engine::date_or_today(date.as_deref())?;
            let template: Template = template.parse().map_err(EngineError::from)?;
            let gathering = match (template, report_on) {
                (Template::SeriesStart, report_on) => {
                    let report_on = report_on
                        .as_deref()
                        .map(|d| circlekeep_engine::date_or_today(Some(d)))
                        .transpose()?;
                    engine.start_series(id, date, report_on)?
                }
                (_, Some(_)) => anyhow::bail!(EngineError::BadText(
                    "--report-on goes with --template series-start"
                )),
                (template, None) => engine.open_gathering(id, date, template)?,
            };
            out.id(
                "gathering",
                &gathering.to_hex(),
                &format!("Opened the gathering of {date} ({})", gathering.short()),
            );
        }
        GatheringCommand::List { circle } => {
            out.gatherings(&engine.circle(engine.find_circle(&circle)?)?.gatherings)
        }
        GatheringCommand::Pulse(args) => reflect::pulse(engine, args, out)?,
        GatheringCommand::Brief(args) => brief::brief(engine, args, out)?,
        GatheringCommand::Run(run) => practice::run_gathering(engine, run, out)?,
    }
    Ok(())
}

fn note(engine: &Engine, command: NoteCommand, out: &Output) -> anyhow::Result<()> {
    match command {
        NoteCommand::Add {
            circle,
            text,
            gathering,
        } => {
            let id = engine.find_circle(&circle)?;
            let gathering = practice::gathering(engine, id, gathering.as_deref())?;
            let note = engine.add_note(id, gathering, &text)?;
            out.id("note", &note, "Note saved.");
        }
        NoteCommand::Edit {
            circle,
            note,
            at,
            delete,
            insert,
            gathering,
        } => {
            let id = engine.find_circle(&circle)?;
            let gathering = practice::gathering(engine, id, gathering.as_deref())?;
            let text = engine
                .notes(id, Some(gathering))?
                .into_iter()
                .flat_map(|g| g.notes)
                .find(|n| n.id == note)
                .map(|n| n.text)
                .ok_or_else(|| EngineError::UnknownNote(note.clone()))?;
            let edit = text_edit(&text, at, delete, insert)?;
            engine.edit_note(id, gathering, &note, &[edit])?;
            out.id("note", &note, "Note saved.");
        }
        NoteCommand::List { circle, gathering } => {
            let id = engine.find_circle(&circle)?;
            let gathering = gathering
                .map(|g| engine.find_gathering(id, &g))
                .transpose()?;
            out.notes(&engine.notes(id, gathering)?);
        }
    }
    Ok(())
}

fn goal(engine: &Engine, command: GoalCommand, out: &Output) -> anyhow::Result<()> {
    match command {
        GoalCommand::Add { circle, text } => {
            let goal = engine.add_goal(engine.find_circle(&circle)?, &text)?;
            out.id("goal", &goal, &format!("Goal saved ({goal})."));
        }
        GoalCommand::List { circle } => {
            out.goals(&engine.circle(engine.find_circle(&circle)?)?.goals)
        }
        GoalCommand::More(more) => goals::run_goal(engine, more, out)?,
    }
    Ok(())
}

fn contract(engine: &Engine, command: ContractCommand, out: &Output) -> anyhow::Result<()> {
    match command {
        ContractCommand::Add {
            circle,
            text,
            goal,
            gathering,
            for_member,
        } => {
            let id = engine.find_circle(&circle)?;
            let gathering = gathering
                .map(|g| engine.find_gathering(id, &g))
                .transpose()?;
            let member = for_member.map(|m| engine.find_member(id, &m)).transpose()?;
            let contract = engine.record_contract(id, member, &text, goal.as_deref(), gathering)?;
            out.id(
                "contract",
                &contract,
                &format!("Contract saved ({contract})."),
            );
        }
        ContractCommand::List { circle } => {
            out.contracts(&engine.circle(engine.find_circle(&circle)?)?.contracts)
        }
        ContractCommand::More(more) => goals::run_contract(engine, more, out)?,
    }
    Ok(())
}

/// Exports or imports a bundle; an import with refused records exits 3.
fn bundle(engine: &Engine, command: BundleCommand, out: &Output) -> anyhow::Result<u8> {
    match command {
        BundleCommand::Export {
            circle,
            file,
            for_member,
        } => {
            let id = engine.find_circle(&circle)?;
            let member = for_member.map(|m| engine.find_member(id, &m)).transpose()?;
            let bytes = engine.export_bundle(id, member)?;
            circlekeep_engine::write_owner_only(&file, &bytes)
                .with_context(|| format!("cannot write {}", file.display()))?;
            out.exported(&file, bytes.len());
        }
        BundleCommand::Import { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let report = engine.import_bundle(&bytes)?;
            out.imported(&report);
            if !report.rejected.is_empty() {
                return Ok(EXIT_REJECTED);
            }
        }
    }
    Ok(0)
}

/// A splice given in characters, as the engine takes it (UTF-16 units).
fn text_edit(
    text: &str,
    at: usize,
    delete: usize,
    insert: String,
) -> Result<circlekeep_engine::TextEdit, EngineError> {
    let chars = text.chars().count();
    if at > chars || delete > chars - at {
        return Err(EngineError::BadText(
            "that edit reaches beyond the end of the note",
        ));
    }
    let units = |c: &[char]| c.iter().map(|c| c.len_utf16()).sum::<usize>();
    let all: Vec<char> = text.chars().collect();
    Ok(circlekeep_engine::TextEdit {
        position: units(&all[..at]),
        delete: units(&all[at..at + delete]),
        insert,
    })
}

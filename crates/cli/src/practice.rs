//! The circle practice verbs: setup, charter, schedule and rota, reminders,
//! running a gathering (agenda, attendance, time requests, turns), goals'
//! progress and milestones, contracts' report back, the journal, exports,
//! backup and restore.

use crate::output::Output;
use crate::turns::TurnCommand;
use anyhow::Context;
use chrono::Utc;
use circlekeep_engine::agenda::StepKind;
use circlekeep_engine::date_or_today;
use circlekeep_engine::practice::Setup;
use circlekeep_engine::rota::Role;
use circlekeep_engine::schedule::{parse_time, Cadence, CadenceDoc};
use circlekeep_engine::views::AcceptanceView;
use circlekeep_engine::ErrorCode;
use circlekeep_engine::{CircleId, DocId, Engine, EngineError, Move};
use clap::Subcommand;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The practice's top-level verbs.
#[derive(Subcommand)]
pub enum PracticeCommand {
    /// The charter: ground rules every member accepts.
    #[command(subcommand)]
    Charter(CharterCommand),
    /// The schedule for the coming year and the rota of roles.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Gatherings starting soon, and nudges for circles that stopped meeting.
    Reminders {
        /// How far ahead to look.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        within: Duration,
    },
    /// Turns at a gathering: start, end, timer and airtime.
    #[command(subcommand)]
    Turn(TurnCommand),
    /// Your private journal (sealed to you, never synced).
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Write a gathering as Markdown or the year as iCalendar.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Write a full backup, sealed to your identity (`age -d -i` opens it).
    Backup {
        /// The file to write.
        file: PathBuf,
    },
    /// Restore a backup into this data folder.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// On a new computer: the saved key file (`identity.age`) of the
        /// backed-up device, which links this one as a new device of yours.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// scrypt work factor for the new device's key file (tests only).
        #[arg(long, hide = true, default_value_t = 18)]
        kdf_work_factor: u8,
    },
}

/// Charter verbs.
#[derive(Subcommand)]
pub enum CharterCommand {
    /// Show the charter and who accepted it.
    Show {
        /// Circle name or id prefix.
        circle: String,
    },
    /// Replace the charter's text (everyone is asked to accept again).
    Edit {
        /// Circle name or id prefix.
        circle: String,
        /// The new text.
        text: String,
    },
    /// Accept the charter as it stands.
    Accept {
        /// Circle name or id prefix.
        circle: String,
    },
}

/// Schedule verbs.
#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// The gatherings of the coming year with facilitator, timekeeper and host.
    Show {
        /// Circle name or id prefix.
        circle: String,
        /// From this date (default today).
        #[arg(long)]
        from: Option<String>,
    },
    /// Move one gathering to another date (and/or time).
    Move {
        /// Circle name or id prefix.
        circle: String,
        /// The gathering's date.
        date: String,
        /// The new date.
        to: String,
        /// A new local start time (HH:MM).
        #[arg(long)]
        time: Option<String>,
        /// Where this gathering meets instead ("" for the circle's place).
        #[arg(long)]
        place: Option<String>,
    },
    /// Cancel one gathering.
    Cancel {
        /// Circle name or id prefix.
        circle: String,
        /// The gathering's date.
        date: String,
        /// Undo the cancellation.
        #[arg(long)]
        restore: bool,
    },
    /// Say you (or a member) will not come; the rota skips them.
    Absent {
        /// Circle name or id prefix.
        circle: String,
        /// The gathering's date.
        date: String,
        /// The member (default you).
        #[arg(long)]
        member: Option<String>,
        /// Coming after all.
        #[arg(long)]
        undo: bool,
    },
    /// Swap who holds a role at two gatherings.
    Swap {
        /// Circle name or id prefix.
        circle: String,
        /// facilitator, timekeeper or host.
        role: String,
        /// One gathering's date.
        date: String,
        /// The other gathering's date.
        other: String,
    },
}

/// Turn verbs.
#[derive(Subcommand)]
pub enum JournalCommand {
    /// Write an entry.
    Add {
        /// The entry.
        text: String,
        /// The circle it is about.
        #[arg(long)]
        circle: Option<String>,
    },
    /// Read your journal.
    List,
}

/// Export verbs.
#[derive(Subcommand)]
pub enum ExportCommand {
    /// The coming year's gatherings as an iCalendar file, roles in each event.
    Ics {
        /// Circle name or id prefix.
        circle: String,
        /// The file to write.
        file: PathBuf,
        /// From this date (default today).
        #[arg(long)]
        from: Option<String>,
    },
    /// One gathering as Markdown.
    Markdown {
        /// Circle name or id prefix.
        circle: String,
        /// Gathering id prefix or date.
        gathering: String,
        /// The file to write.
        file: PathBuf,
    },
}

/// Cadence and other options of `circle setup`.
#[derive(clap::Args)]
pub struct SetupArgs {
    /// Circle name or id prefix.
    pub circle: String,
    /// What the circle is for.
    #[arg(long)]
    pub purpose: Option<String>,
    /// Weeks between gatherings (2 = every other week).
    #[arg(long)]
    pub every_weeks: Option<u64>,
    /// Weekday (mon … sun).
    #[arg(long)]
    pub weekday: Option<String>,
    /// Local start time (HH:MM).
    #[arg(long)]
    pub time: Option<String>,
    /// Length in minutes.
    #[arg(long, default_value_t = 90)]
    pub minutes: u64,
    /// IANA time zone (e.g. Europe/Berlin).
    #[arg(long, default_value = "UTC")]
    pub time_zone: String,
    /// First date on or after which the circle meets (default today).
    #[arg(long)]
    pub first: Option<String>,
    /// The guide who helps launch the circle (a member).
    #[arg(long, conflicts_with = "no_guide")]
    pub guide: Option<String>,
    /// The circle has no guide (any more).
    #[arg(long)]
    pub no_guide: bool,
    /// Where the circle meets: an address, a room or a video link ("" for none).
    #[arg(long)]
    pub place: Option<String>,
    /// Roles the circle rotates beside facilitator, timekeeper and host,
    /// comma-separated (e.g. "lunch, note-taker"; "" for none; at most 4).
    #[arg(long)]
    pub roles: Option<String>,
}

/// Gathering verbs beyond opening and listing.
#[derive(Subcommand)]
pub enum GatheringRun {
    /// The gathering: agenda, current step, turns, timer, airtime.
    Show {
        /// Circle name or id prefix.
        circle: String,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
    /// Go to the next agenda step, or to step N (1-based).
    Step {
        /// Circle name or id prefix.
        circle: String,
        /// Step number (default: the next).
        number: Option<u64>,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
    /// Add a step to the agenda.
    AddStep {
        /// Circle name or id prefix.
        circle: String,
        /// Title.
        title: String,
        /// Minutes.
        #[arg(long, default_value_t = 5)]
        minutes: u64,
        /// Kind (open, check-in, report-back, time-requests, turns, appreciations, close, custom).
        #[arg(long, default_value = "custom")]
        kind: String,
        /// Position (1-based; default at the end).
        #[arg(long)]
        at: Option<usize>,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
    /// Remove step N (1-based) from the agenda.
    RemoveStep {
        /// Circle name or id prefix.
        circle: String,
        /// Step number.
        number: usize,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
    /// Record attendance.
    Attend {
        /// Circle name or id prefix.
        circle: String,
        /// The member.
        member: String,
        /// They are not here.
        #[arg(long)]
        absent: bool,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
    /// Ask for minutes for your turn (or record a member's request).
    Request {
        /// Circle name or id prefix.
        circle: String,
        /// Minutes.
        minutes: u64,
        /// The member (default you).
        #[arg(long)]
        member: Option<String>,
        /// Gathering id prefix or date (default the latest).
        #[arg(long)]
        gathering: Option<String>,
    },
}

pub(crate) fn circle(engine: &Engine, selector: &str) -> anyhow::Result<CircleId> {
    Ok(engine.find_circle(selector)?)
}

/// The gathering `selector` names, or the latest one this device can read.
pub(crate) fn gathering(
    engine: &Engine,
    id: CircleId,
    selector: Option<&str>,
) -> anyhow::Result<DocId> {
    Ok(match selector {
        Some(g) => engine.find_gathering(id, g)?,
        None => engine.latest_gathering(id)?,
    })
}

pub(crate) fn date(text: &str) -> anyhow::Result<chrono::NaiveDate> {
    Ok(circlekeep_engine::parse_date(text)?)
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    circlekeep_engine::write_owner_only(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn show<T: Serialize>(out: &Output, value: &T, human: impl FnOnce()) {
    out.emit(value, human);
}

/// Runs `circle setup`.
pub fn setup(engine: &Engine, args: SetupArgs, out: &Output) -> anyhow::Result<()> {
    let id = circle(engine, &args.circle)?;
    let cadence = match (&args.every_weeks, &args.weekday, &args.time) {
        (None, None, None) => None,
        (Some(w), Some(d), Some(t)) => Some(Cadence::try_from(&CadenceDoc {
            every_weeks: *w,
            weekday: d.clone(),
            time: t.clone(),
            minutes: args.minutes,
            time_zone: args.time_zone.clone(),
            first: date_or_today(args.first.as_deref())?.to_string(),
        })?),
        _ => anyhow::bail!(crate::Failure {
            code: ErrorCode::BadCadence,
            message: "a cadence needs --every-weeks, --weekday and --time together".into()
        }),
    };
    let guide = if args.no_guide {
        Some(None)
    } else {
        args.guide
            .map(|g| engine.find_member(id, &g))
            .transpose()?
            .map(Some)
    };
    engine.setup(
        id,
        &Setup {
            purpose: args.purpose,
            cadence,
            guide,
            place: args.place,
            roles: args
                .roles
                .map(|r| r.split(',').map(str::to_owned).collect()),
        },
    )?;
    practice(engine, id, out)
}

/// Prints who accepted the charter's current version.
fn say_acceptances(out: &Output, charter: &[AcceptanceView]) {
    for a in charter {
        let mark = match a.accepted {
            Some(_) => "accepted",
            None => "not yet accepted",
        };
        say!(out, "  {:<20} {mark}", a.member.name);
    }
}

/// Prints a circle's practice.
pub fn practice(engine: &Engine, id: CircleId, out: &Output) -> anyhow::Result<()> {
    let p = engine.practice(id, circlekeep_engine::today())?;
    show(out, &p, || {
        say!(out, "Purpose: {}", p.purpose);
        say!(
            out,
            "Meets: {}",
            p.cadence.as_deref().unwrap_or("(no schedule yet)")
        );
        if let Some(g) = &p.guide {
            say!(out, "Guide: {}", g.name);
        }
        if let (Some(prompt), Some(guide)) = (&p.guide_prompt, &p.guide) {
            say!(out, "! {prompt}");
            say!(
                out,
                "  To hand over: circlekeep member remove CIRCLE {}",
                guide.id
            );
        }
        say!(out, "Charter:");
        say_acceptances(out, &p.charter);
        for g in &p.next {
            let roles = if g.cancelled {
                "cancelled".to_owned()
            } else {
                roles_line(&g.roles)
            };
            say!(out, "Next: {} {} {roles}", g.date, g.time);
        }
    });
    Ok(())
}

fn roles_line(
    roles: &std::collections::BTreeMap<String, circlekeep_engine::views::RoleHolder>,
) -> String {
    // The practice's roles first, then the circle's own.
    let core = |name: &str| Role::parse(name).is_some();
    let names = Role::CORE
        .iter()
        .map(|r| r.name().to_owned())
        .chain(roles.keys().filter(|r| !core(r)).cloned());
    names
        .filter_map(|r| roles.get(&r).map(|h| format!("{r}: {}", h.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Extra gathering verbs.
pub fn run_gathering(engine: &Engine, cmd: GatheringRun, out: &Output) -> anyhow::Result<()> {
    match cmd {
        GatheringRun::Show {
            circle: c,
            gathering: g,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, g.as_deref())?;
            print_state(engine, id, g, out)?;
        }
        GatheringRun::Step {
            circle: c,
            number,
            gathering: g,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, g.as_deref())?;
            match number {
                Some(n) => engine.set_step(id, g, n.saturating_sub(1))?,
                None => {
                    engine.next_step(id, g)?;
                }
            }
            print_state(engine, id, g, out)?;
        }
        GatheringRun::AddStep {
            circle: c,
            title,
            minutes,
            kind,
            at,
            gathering: g,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, g.as_deref())?;
            engine.add_step(
                id,
                g,
                at.map(|a| a.saturating_sub(1)),
                kind.parse::<StepKind>().map_err(EngineError::from)?,
                &title,
                minutes,
            )?;
            print_state(engine, id, g, out)?;
        }
        GatheringRun::RemoveStep {
            circle: c,
            number,
            gathering: g,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, g.as_deref())?;
            engine.remove_step(id, g, number.saturating_sub(1))?;
            print_state(engine, id, g, out)?;
        }
        GatheringRun::Attend {
            circle: c,
            member,
            absent,
            gathering: g,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, g.as_deref())?;
            let who = engine.find_member(id, &member)?;
            engine.set_attendance(id, g, who, !absent)?;
            out.done(if absent {
                "Marked absent."
            } else {
                "Marked present."
            });
        }
        GatheringRun::Request {
            circle: c,
            minutes,
            member,
            gathering: g,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, g.as_deref())?;
            let who = match member {
                Some(m) => engine.find_member(id, &m)?,
                None => engine.identity().member_id(),
            };
            engine.request_time(id, g, who, minutes)?;
            out.done("Time request saved.");
        }
    }
    Ok(())
}

pub(crate) fn print_state(
    engine: &Engine,
    id: CircleId,
    g: DocId,
    out: &Output,
) -> anyhow::Result<()> {
    let s = engine.gathering_state(id, g, Utc::now())?;
    show(out, &s, || {
        say!(out, "Gathering of {} ({})", s.date, s.template);
        for (i, step) in s.agenda.iter().enumerate() {
            let mark = if step.current { "▶" } else { " " };
            say!(
                out,
                "{mark} {}. {} ({} min)",
                i + 1,
                step.title,
                step.minutes
            );
        }
        if let Some(t) = &s.current_turn {
            let warn = if t.paused {
                "  (paused: `circlekeep turn resume` starts the clock again)"
            } else if t.warning {
                "  ⚠ time is nearly up"
            } else {
                ""
            };
            say!(
                out,
                "{}: {} — {}:{:02} of {} min used{}{}",
                if t.speaking { "Speaking" } else { "Turn" },
                t.member.name,
                t.elapsed_secs / 60,
                t.elapsed_secs % 60,
                t.allotted,
                if t.off_record {
                    " (off the record)"
                } else {
                    ""
                },
                warn
            );
        }
        say!(out, "Airtime:");
        for a in &s.airtime {
            let here = match a.present {
                Some(true) => "present",
                Some(false) => "absent",
                None => "",
            };
            say!(
                out,
                "  {:<20} {:>3} min  asked {:>3}  fitted {:>3}  {here}",
                a.member.name,
                a.airtime_secs / 60,
                a.requested.map_or("-".into(), |r| r.to_string()),
                a.fitted.map_or("-".into(), |f| f.to_string()),
            );
        }
        if !s.waiting.is_empty() {
            let names: Vec<&str> = s.waiting.iter().map(|w| w.name.as_str()).collect();
            say!(out, "Not yet had time: {}", names.join(", "));
        }
    });
    Ok(())
}

/// Runs the practice's top-level verbs. `key_file` is this home's key
/// file, for backups.
pub fn run(
    engine: &Engine,
    cmd: PracticeCommand,
    key_file: Option<Vec<u8>>,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        PracticeCommand::Charter(c) => charter(engine, c, out)?,
        PracticeCommand::Schedule(s) => schedule(engine, s, out)?,
        PracticeCommand::Reminders { within } => reminders(engine, within, out)?,
        PracticeCommand::Turn(t) => crate::turns::turn(engine, t, out)?,
        PracticeCommand::Journal(j) => journal(engine, j, out)?,
        PracticeCommand::Export(e) => export(engine, e, out)?,
        PracticeCommand::Backup { file } => {
            let sealed = engine.backup(key_file.as_deref())?;
            write_file(&file, &sealed)?;
            out.exported(&file, sealed.len());
        }
        PracticeCommand::Restore { file, .. } => {
            let report = engine.restore(&read_file(&file)?)?;
            restored(out, &report);
        }
    }
    Ok(())
}

/// The charter: show it with who accepted it, edit it, accept it.
fn charter(engine: &Engine, command: CharterCommand, out: &Output) -> anyhow::Result<()> {
    match command {
        CharterCommand::Show { circle: c } => {
            let id = circle(engine, &c)?;
            let text = engine.circle(id)?.charter;
            let p = engine.practice(id, circlekeep_engine::today())?;
            show(
                out,
                &serde_json::json!({"text": text, "version": p.charter_version, "accepted": p.charter}),
                || {
                    say!(out, "{text}");
                    say!(out);
                    say_acceptances(out, &p.charter);
                },
            );
        }
        CharterCommand::Edit { circle: c, text } => {
            engine.edit_charter(circle(engine, &c)?, &text)?;
            out.done("Charter saved. Members are asked to accept it again.");
        }
        CharterCommand::Accept { circle: c } => {
            engine.accept_charter(circle(engine, &c)?)?;
            out.done("You accepted the charter.");
        }
    }
    Ok(())
}

/// The schedule: show it, move, cancel, send apologies, swap roles.
fn schedule(engine: &Engine, command: ScheduleCommand, out: &Output) -> anyhow::Result<()> {
    match command {
        ScheduleCommand::Show { circle: c, from } => {
            let id = circle(engine, &c)?;
            let schedule = engine.schedule(id, date_or_today(from.as_deref())?)?;
            show(out, &schedule, || {
                for g in &schedule {
                    let state = if g.cancelled {
                        "cancelled".to_owned()
                    } else {
                        roles_line(&g.roles)
                    };
                    let moved = if g.moved {
                        format!(" (moved from {})", g.planned)
                    } else {
                        String::new()
                    };
                    say!(out, "{} {}{moved}  {state}", g.date, g.time);
                }
            });
        }
        ScheduleCommand::Move {
            circle: c,
            date: d,
            to,
            time,
            place,
        } => {
            let time = time
                .map(|t| parse_time(&t))
                .transpose()
                .map_err(EngineError::from)?;
            let to = Move {
                date: date(&to)?,
                time,
                place,
            };
            engine.reschedule(circle(engine, &c)?, date(&d)?, &to)?;
            out.done("Gathering moved.");
        }
        ScheduleCommand::Cancel {
            circle: c,
            date: d,
            restore,
        } => {
            engine.cancel_gathering(circle(engine, &c)?, date(&d)?, !restore)?;
            out.done(if restore {
                "Gathering restored."
            } else {
                "Gathering cancelled."
            });
        }
        ScheduleCommand::Absent {
            circle: c,
            date: d,
            member,
            undo,
        } => {
            let id = circle(engine, &c)?;
            let who = match member {
                Some(m) => engine.find_member(id, &m)?,
                None => engine.identity().member_id(),
            };
            engine.set_absent(id, date(&d)?, who, !undo)?;
            out.done("Noted; the rota is updated.");
        }
        ScheduleCommand::Swap {
            circle: c,
            role,
            date: a,
            other,
        } => {
            let role: Role = role.parse().map_err(EngineError::from)?;
            engine.swap_role(circle(engine, &c)?, role, date(&a)?, date(&other)?)?;
            out.done("Swapped.");
        }
    }
    Ok(())
}

/// The private journal, sealed to this member only.
fn journal(engine: &Engine, command: JournalCommand, out: &Output) -> anyhow::Result<()> {
    match command {
        JournalCommand::Add { text, circle: c } => {
            let c = c.map(|c| circle(engine, &c)).transpose()?;
            let id = engine.journal_add(&text, c)?;
            out.id("entry", &id, "Journal entry saved (sealed to you only).");
        }
        JournalCommand::List => {
            let entries = engine.journal()?;
            show(out, &entries, || {
                for e in &entries {
                    say!(out, "{}  {}", e.created, e.text);
                }
            });
        }
    }
    Ok(())
}

/// Writes the schedule as iCalendar or a gathering as Markdown.
fn export(engine: &Engine, command: ExportCommand, out: &Output) -> anyhow::Result<()> {
    match command {
        ExportCommand::Ics {
            circle: c,
            file,
            from,
        } => {
            let ics = engine.schedule_ics(circle(engine, &c)?, date_or_today(from.as_deref())?)?;
            write_file(&file, ics.as_bytes())?;
            out.exported(&file, ics.len());
        }
        ExportCommand::Markdown {
            circle: c,
            gathering: g,
            file,
        } => {
            let id = circle(engine, &c)?;
            let g = gathering(engine, id, Some(&g))?;
            let md = engine.gathering_markdown(id, g)?;
            write_file(&file, md.as_bytes())?;
            out.exported(&file, md.len());
        }
    }
    Ok(())
}

/// Reminders due within `within`.
fn reminders(engine: &Engine, within: std::time::Duration, out: &Output) -> anyhow::Result<()> {
    let within = chrono::Duration::from_std(within).unwrap_or(chrono::Duration::days(1));
    let reminders = engine.reminders(Utc::now(), within)?;
    show(out, &reminders, || {
        if reminders.is_empty() {
            say!(out, "Nothing due.");
        }
        for r in &reminders {
            say!(out, "{}", r.text);
        }
    });
    Ok(())
}

/// Says what a restore brought back.
pub fn restored(out: &Output, report: &circlekeep_engine::RestoreReport) {
    show(out, report, || {
        say!(
            out,
            "Restored {} circle(s): {} record(s), {} journal entr(ies).",
            report.circles,
            report.records,
            report.journal
        )
    });
}

/// Reads a file named on the command line (a backup, a key file).
pub fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

//! Looking back: `search` over what this device can read of a circle,
//! `gathering pulse` (three questions after a gathering, shown in
//! aggregate), and `circle retro` (the retrospective as Markdown).

use crate::output::Output;
use crate::practice::{circle, date, gathering, show, write_file};
use circlekeep_engine::search::SearchQuery;
use circlekeep_engine::views::{PulseAnswers, PulseView, SearchHit};
use circlekeep_engine::Engine;
use clap::Args;
use std::path::PathBuf;

/// `circlekeep search CIRCLE QUERY`.
#[derive(Args)]
pub struct SearchArgs {
    /// Circle name or id prefix.
    pub circle: String,
    /// Words that must all occur (any case).
    pub query: String,
    /// Only what this member wrote or owns (name or id prefix).
    #[arg(long)]
    pub member: Option<String>,
    /// Only from this day (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only up to this day (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Only notes taken during this member's turns (name or id prefix).
    #[arg(long)]
    pub turn_of: Option<String>,
}

/// `circlekeep gathering pulse CIRCLE`.
#[derive(Args)]
pub struct PulseArgs {
    /// Circle name or id prefix.
    pub circle: String,
    /// Gathering id prefix or date (default the latest).
    #[arg(long)]
    pub gathering: Option<String>,
    /// Was I heard? 1 (not at all) to 5 (fully).
    #[arg(long)]
    pub heard: u8,
    /// Was it useful? 1 to 5.
    #[arg(long)]
    pub useful: u8,
    /// Was the time fair? 1 to 5.
    #[arg(long)]
    pub time_fair: u8,
}

/// `circlekeep circle retro CIRCLE FILE`.
#[derive(Args)]
pub struct RetroArgs {
    /// Circle name or id prefix.
    pub circle: String,
    /// The Markdown file to write.
    pub file: PathBuf,
    /// From this day (default: the first gathering).
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this day (default today).
    #[arg(long)]
    pub to: Option<String>,
}

/// Runs `search`.
pub fn search(engine: &Engine, args: SearchArgs, out: &Output) -> anyhow::Result<()> {
    let id = circle(engine, &args.circle)?;
    let member = |m: Option<String>| -> anyhow::Result<Option<String>> {
        Ok(m.map(|m| engine.find_member(id, &m))
            .transpose()?
            .map(|m| m.to_hex()))
    };
    let query = SearchQuery {
        text: args.query,
        member: member(args.member)?,
        from: args.from.as_deref().map(date).transpose()?,
        to: args.to.as_deref().map(date).transpose()?,
        turn_of: member(args.turn_of)?,
    };
    let hits = engine.search(id, &query)?;
    show(out, &hits, || say_hits(out, &hits));
    Ok(())
}

fn say_hits(out: &Output, hits: &[SearchHit]) {
    if hits.is_empty() {
        say!(out, "Nothing found.");
    }
    for h in hits {
        let by = h.author.as_ref().map(|a| a.name.as_str()).unwrap_or("?");
        let day = h.date.get(..10).unwrap_or(&h.date);
        say!(out, "{day}  {} ({by}): {}", h.context, h.text);
    }
}

/// Runs `gathering pulse`.
pub fn pulse(engine: &Engine, args: PulseArgs, out: &Output) -> anyhow::Result<()> {
    let id = circle(engine, &args.circle)?;
    let g = gathering(engine, id, args.gathering.as_deref())?;
    let answers = PulseAnswers {
        heard: args.heard,
        useful: args.useful,
        time_fair: args.time_fair,
    };
    let view = engine.answer_pulse(id, g, answers)?;
    show(out, &view, || say_pulse(out, &view));
    Ok(())
}

fn say_pulse(out: &Output, p: &PulseView) {
    say!(out, "Thank you: your answers are saved.");
    match (p.heard, p.useful, p.time_fair) {
        (Some(h), Some(u), Some(t)) => say!(
            out,
            "The circle ({} answers): heard {h:.1}, useful {u:.1}, time fair {t:.1} (of 5).",
            p.answered
        ),
        _ => say!(
            out,
            "{} of {} answers needed before the circle sees the averages.",
            p.answered,
            p.needed
        ),
    }
}

/// Runs `circle retro`.
pub fn retro(engine: &Engine, args: RetroArgs, out: &Output) -> anyhow::Result<()> {
    let id = circle(engine, &args.circle)?;
    let from = args.from.as_deref().map(date).transpose()?;
    let to = args.to.as_deref().map(date).transpose()?;
    let md = engine.retro_markdown(id, from, to)?;
    write_file(&args.file, md.as_bytes())?;
    out.exported(&args.file, md.len());
    Ok(())
}

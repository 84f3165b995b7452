//! Exports a person asks for: a gathering as Markdown, and the coming
//! year's schedule as an iCalendar file with the roles in each event and a
//! reminder the day before. Both hold circle content in plaintext: they are
//! written only where the member says.

use crate::plan::{plan, planned_view, SCHEDULE_DAYS};
use crate::views::{ContractView, GatheringStateView, NoteView, RetroView, RoleHolder};
use crate::{CircleId, DocId, Engine, EngineError, Store};
use chrono::{Duration, NaiveDate, Utc};
use circlekeep_model::schedule::Cadence;
use icalendar::{Alarm, Calendar, Component, EventLike, EventStatus};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// Writes a file the member takes out of the app (an export, a backup, a
/// bundle) readable by its owner only, replacing any file there at once or
/// not at all: a failed write never leaves half a file, or loses the old one.
pub fn write_owner_only(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    let io = |source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // Created owner-only (0600 on Unix) beside its destination.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

impl<S: Store> Engine<S> {
    /// The gathering as Markdown: roles, attendance, agenda, turns, notes
    /// (by turn), contracts made there and reports back given there.
    pub fn gathering_markdown(
        &self,
        id: CircleId,
        gathering: DocId,
    ) -> Result<String, EngineError> {
        let circle = self.circle(id)?;
        let doc = self.circle_doc(id)?;
        let state = self.gathering_state(id, gathering, Utc::now())?;
        let notes = self.notes(id, Some(gathering))?;
        let info = doc.gatherings.get(&gathering.to_hex());
        let mut md = String::new();
        let _ = writeln!(md, "# {} — gathering of {}\n", circle.name, state.date);
        if let Some(planned) = info.and_then(|i| i.planned.clone()) {
            if let Ok(schedule) = self.schedule(id, practice_date(&planned)) {
                if let Some(p) = schedule.into_iter().find(|p| p.planned == planned) {
                    for (role, who) in &p.roles {
                        let _ = writeln!(md, "- **{role}**: {}", who.name);
                    }
                    md.push('\n');
                }
            }
        }
        write_attendance(&mut md, &state);
        md.push_str("## Agenda\n\n");
        for (i, step) in state.agenda.iter().enumerate() {
            let _ = writeln!(md, "{}. {} ({} min)", i + 1, step.title, step.minutes);
        }
        let all_notes: Vec<_> = notes.into_iter().flat_map(|g| g.notes).collect();
        let notes_doc = self.gathering_doc(id, gathering).ok();
        let turn_of = |note_id: &str| {
            let note = notes_doc.as_ref()?.notes.get(note_id)?;
            note.turn.clone()
        };
        let mut by_turn: BTreeMap<Option<String>, Vec<&NoteView>> = Default::default();
        for n in &all_notes {
            by_turn.entry(turn_of(&n.id)).or_default().push(n);
        }
        write_turns_and_notes(&mut md, &state, &by_turn);
        let brief = self.step_brief(id, gathering)?;
        let report_back = brief.report_back;
        write_contracts(
            &mut md,
            &circle.contracts,
            &gathering.to_hex(),
            &report_back,
            &state.date,
        );
        if crate::series::first_of(&doc, gathering).is_some() {
            let review = self.series_review(id, gathering, &state.date)?;
            write_series_review(&mut md, &review);
        }
        Ok(md)
    }

    /// The schedule from `from` for a year, as an iCalendar file.
    pub fn schedule_ics(&self, id: CircleId, from: NaiveDate) -> Result<String, EngineError> {
        let doc = self.circle_doc(id)?;
        let cadence: Cadence = crate::plan::cadence(&doc)?;
        let names = crate::circles::profile_names(&doc);
        let members = self.member_hexes(id)?;
        let mut calendar = Calendar::new();
        calendar.name(&doc.settings.name);
        let stamp = Utc::now();
        for p in plan(&doc, &members, from + Duration::days(SCHEDULE_DAYS))?
            .iter()
            .filter(|p| p.date >= from)
        {
            let view = planned_view(p, &cadence, &names);
            let roles: Vec<String> = view
                .roles
                .iter()
                .map(|(r, who)| {
                    let mut role = r.clone();
                    role[..1].make_ascii_uppercase();
                    format!("{role}: {}", who.name)
                })
                .collect();
            let mut event = icalendar::Event::new();
            event
                .uid(&format!("{}-{}@circlekeep", id.to_hex(), p.planned))
                .timestamp(stamp)
                .summary(&format!("{} gathering", doc.settings.name))
                .description(&roles.join("\n"))
                .starts(p.starts)
                .ends(p.starts + Duration::minutes(cadence.minutes as i64))
                .status(if p.cancelled {
                    EventStatus::Cancelled
                } else {
                    EventStatus::Confirmed
                })
                .alarm(Alarm::display(
                    &format!("{} meets tomorrow", doc.settings.name),
                    -Duration::days(1),
                ));
            if let Some(place) = &p.place {
                event.location(place);
            }
            calendar.push(event.done());
        }
        Ok(calendar.done().to_string())
    }
}

/// Who was present and who sent apologies.
fn write_attendance(md: &mut String, state: &GatheringStateView) {
    let present: Vec<&str> = state
        .airtime
        .iter()
        .filter(|a| a.present == Some(true))
        .map(|a| a.member.name.as_str())
        .collect();
    let absent: Vec<&str> = state
        .airtime
        .iter()
        .filter(|a| a.present == Some(false))
        .map(|a| a.member.name.as_str())
        .collect();
    if !present.is_empty() {
        let _ = writeln!(md, "Present: {}", present.join(", "));
    }
    if !absent.is_empty() {
        let _ = writeln!(md, "Absent: {}", absent.join(", "));
    }
    if !present.is_empty() || !absent.is_empty() {
        md.push('\n');
    }
}

/// Each turn (and speaking time outside the turns) with its notes (none
/// when off the record), then notes taken outside any turn.
fn write_turns_and_notes(
    md: &mut String,
    state: &GatheringStateView,
    by_turn: &BTreeMap<Option<String>, Vec<&NoteView>>,
) {
    if !state.turns.is_empty() {
        md.push_str("\n## Turns\n");
        for turn in &state.turns {
            let _ = writeln!(
                md,
                "\n### {}{} ({} of {} min)\n",
                turn.member.name,
                if turn.speaking { ", speaking" } else { "" },
                turn.elapsed_secs.div_ceil(60),
                turn.allotted
            );
            if turn.off_record {
                md.push_str("_Off the record: no notes were kept._\n");
                continue;
            }
            if !turn.feedback_wanted.is_empty() {
                let _ = writeln!(md, "Feedback wanted: {}\n", turn.feedback_wanted);
            }
            for n in by_turn.get(&Some(turn.id.clone())).into_iter().flatten() {
                let _ = writeln!(md, "- {}: {}", n.author_name, n.text);
            }
        }
    }
    if let Some(loose) = by_turn.get(&None) {
        md.push_str("\n## Notes\n\n");
        for n in loose {
            let _ = writeln!(md, "- {}: {}", n.author_name, n.text);
        }
    }
}

/// Contracts made at this gathering, and the reports back given there: on
/// the contracts its report back lists, since its day.
fn write_contracts(
    md: &mut String,
    contracts: &[ContractView],
    gathering_hex: &str,
    report_back: &[ContractView],
    date: &str,
) {
    let made: Vec<_> = contracts
        .iter()
        .filter(|k| k.gathering.as_deref() == Some(gathering_hex))
        .collect();
    if !made.is_empty() {
        md.push_str("\n## Contracts until next time\n\n");
        for k in made {
            let _ = writeln!(
                md,
                "- {}: {}{}",
                k.owner_name,
                k.text,
                by("recorded", &k.recorded_by)
            );
        }
    }
    let reported: Vec<_> = report_back
        .iter()
        .filter(|k| {
            k.reported
                .as_deref()
                .is_some_and(|r| r.get(..10) >= Some(date))
        })
        .collect();
    if !reported.is_empty() {
        md.push_str("\n## Report back\n\n");
        for k in reported {
            let _ = writeln!(
                md,
                "- {}: {} — **{}**. {}{}",
                k.owner_name,
                k.text,
                k.outcome,
                k.reflection,
                by("reported", &k.reported_by)
            );
        }
    }
}

/// A series' report back: the actions its first gathering set, how they
/// went.
fn write_series_review(md: &mut String, review: &RetroView) {
    let _ = writeln!(
        md,
        "\n## The series in review\n\n{} gatherings; {} actions set.\n",
        review.gatherings.len(),
        review.contracts.len()
    );
    for k in &review.contracts {
        let how = if k.outcome.is_empty() {
            "not reported"
        } else {
            &k.outcome
        };
        let _ = writeln!(md, "- {}: {} — **{how}**.", k.owner_name, k.text);
    }
}

/// " (recorded by Ben)" when someone other than the owner did it.
fn by(what: &str, member: &Option<RoleHolder>) -> String {
    member
        .as_ref()
        .map(|m| format!(" ({what} by {})", m.name))
        .unwrap_or_default()
}

/// A stored YYYY-MM-DD date (today if unreadable).
fn practice_date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|_| crate::today())
}

#[cfg(test)]
mod tests {
    use super::write_owner_only;
    use std::error::Error;

    #[test]
    fn exports_are_owner_only_and_replace_whole() -> Result<(), Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("notes.md");
        std::fs::write(&path, "an older export, readable by all")?;
        write_owner_only(&path, b"# Thursday circle")?;
        assert_eq!(std::fs::read(&path)?, b"# Thursday circle");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "readable by its owner only");
        }
        // Nothing but the file itself is left beside it.
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn a_write_that_cannot_happen_says_where_and_keeps_nothing() -> Result<(), Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("missing").join("notes.md");
        let err = write_owner_only(&path, b"x").err().ok_or("no error")?;
        assert_eq!(err.code(), "io");
        assert!(err.to_string().contains("notes.md"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
        Ok(())
    }
}

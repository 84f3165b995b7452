//! A gathering as the facilitator runs it: opened from a template, its
//! agenda (editable) and current step, attendance, time requests fitted into
//! the time left, turns with a timer, and airtime per member.

use crate::plan::holder;
use crate::select::select;
use crate::views::{AirtimeView, GatheringStateView, StepView, TurnView};
use crate::{circle, random_id, CircleId, DocId, Engine, EngineError, Store};
use chrono::{DateTime, NaiveDate, Utc};
use circlekeep_model::agenda::{fit_requests, warn_before_end, StepKind, Template};
use circlekeep_model::docs::{self, GatheringDoc};
use circlekeep_model::MemberId;
use std::collections::BTreeMap;

/// Minutes a gathering lasts when the circle has no cadence.
const DEFAULT_MINUTES: u32 = 120;

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn turn_view(
    id: &str,
    t: &docs::Turn,
    names: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> TurnView {
    let started = parse_time(&t.started).unwrap_or(now);
    let end = t.ended.as_deref().and_then(parse_time).unwrap_or(now);
    // A pause still on counts until the turn's end (or now).
    let pausing = t
        .paused
        .as_deref()
        .and_then(parse_time)
        .map_or(0, |since| (end - since).num_seconds().max(0) as u64);
    let elapsed = ((end - started).num_seconds().max(0) as u64)
        .saturating_sub(t.paused_secs.saturating_add(pausing));
    let allotted = t.allotted * 60;
    let remaining = allotted.saturating_sub(elapsed);
    TurnView {
        id: id.to_owned(),
        member: holder(names, &t.member),
        allotted: t.allotted,
        feedback_wanted: t.feedback_wanted.clone(),
        off_record: t.off_record,
        started: t.started.clone(),
        ended: t.ended.clone(),
        paused: t.paused.is_some() && t.ended.is_none(),
        elapsed_secs: elapsed,
        remaining_secs: remaining,
        warning: t.ended.is_none() && allotted > 0 && remaining <= warn_before_end(allotted),
        speaking: t.speaking,
    }
}

/// The running turn of a gathering, if any: (id, turn).
pub(crate) fn running_turn(doc: &GatheringDoc) -> Option<(&String, &docs::Turn)> {
    docs::running_turn(&doc.turns)
}

impl<S: Store> Engine<S> {
    /// Opens a gathering on `date` from the biweekly template and returns its id.
    pub fn new_gathering(&self, id: CircleId, date: NaiveDate) -> Result<DocId, EngineError> {
        self.open_gathering(id, date, circlekeep_model::agenda::Template::Biweekly)
    }

    /// Finds a gathering by id prefix (4+ hex digits) or date (YYYY-MM-DD).
    pub fn find_gathering(&self, id: CircleId, selector: &str) -> Result<DocId, EngineError> {
        let gatherings = self.circle(id)?.gatherings;
        let found = select(&gatherings, selector, |g| &g.id, |g| Some(g.date.as_str()))
            .map_err(|miss| miss.into_error(selector, EngineError::UnknownGathering))?;
        DocId::from_hex(&found.id).map_err(|e| EngineError::Corrupt(e.to_string()))
    }

    /// The most recent gathering this device can read.
    pub fn latest_gathering(&self, id: CircleId) -> Result<DocId, EngineError> {
        let latest = self
            .circle(id)?
            .gatherings
            .into_iter()
            .rfind(|g| g.readable)
            .ok_or(EngineError::NoGathering)?;
        DocId::from_hex(&latest.id).map_err(|e| EngineError::Corrupt(e.to_string()))
    }

    /// Opens a gathering on `date` from `template` and returns its id. If
    /// the schedule has a gathering that day, the new one belongs to it and
    /// its roles are frozen. A series start reports back two weeks later
    /// (`Engine::start_series` chooses the day); a series report follows
    /// the latest series before it that has none yet.
    pub fn open_gathering(
        &self,
        id: CircleId,
        date: NaiveDate,
        template: Template,
    ) -> Result<DocId, EngineError> {
        if template == Template::SeriesStart {
            return self.start_series(id, date, None);
        }
        self.open_gathering_in(id, date, template, None)
    }

    pub(crate) fn open_gathering_in(
        &self,
        id: CircleId,
        date: NaiveDate,
        template: Template,
        report_on: Option<NaiveDate>,
    ) -> Result<DocId, EngineError> {
        let doc = self.circle_doc(id)?;
        let follows = (template == Template::SeriesReport)
            .then(|| crate::series::awaiting_report(&doc, date))
            .flatten();
        let members = self.with_circle(id, |c, _| Ok(c.membership.members().len()))?;
        let minutes = doc
            .settings
            .cadence
            .as_ref()
            .map_or(DEFAULT_MINUTES, |c| c.minutes as u32);
        let planned = self.planned_on(id, date)?;
        if let Some(p) = &planned {
            if p.gathering.is_some() {
                return Err(EngineError::NotAllowed(
                    "that scheduled gathering is already open",
                ));
            }
            self.freeze_roles(id, p)?;
        }
        let present = members.saturating_sub(planned.as_ref().map_or(0, |p| p.absent.len()));
        let gathering = DocId(circlekeep_seal::random_bytes());
        let info = docs::GatheringInfo {
            date: date.format("%Y-%m-%d").to_string(),
            opened_by: self.me.member_id().to_hex(),
            planned: planned.as_ref().map(|p| p.planned.to_string()),
            report_on: report_on.map(|d| d.to_string()),
            follows,
        };
        let initial = GatheringDoc {
            date: info.date.clone(),
            template: template.name().to_owned(),
            agenda: template
                .agenda(present, minutes)
                .into_iter()
                .map(|s| docs::AgendaStep {
                    kind: s.kind.name().to_owned(),
                    title: s.title,
                    minutes: s.minutes as u64,
                })
                .collect(),
            ..Default::default()
        };
        self.with_circle(id, |c, ctx| {
            c.write(ctx, DocId::CIRCLE, |doc| {
                Ok(docs::put_record(
                    doc,
                    docs::CircleMap::Gatherings,
                    &gathering.to_hex(),
                    &info,
                )?)
            })?;
            c.write(ctx, gathering, |doc| {
                Ok(docs::init_gathering(doc, &initial)?)
            })
        })?;
        Ok(gathering)
    }

    /// Reads a gathering document.
    pub(crate) fn gathering_doc(
        &self,
        id: CircleId,
        gathering: DocId,
    ) -> Result<GatheringDoc, EngineError> {
        self.with_circle(id, |c, _| {
            let doc = c
                .doc(&gathering)
                .ok_or_else(|| EngineError::UnknownGathering(gathering.short()))?;
            Ok(c.read_gathering(doc)?)
        })
    }

    pub(crate) fn write_gathering(
        &self,
        id: CircleId,
        gathering: DocId,
        f: impl FnOnce(&mut automerge::AutoCommit) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        self.gathering_doc(id, gathering)?;
        self.with_circle(id, |c, ctx| c.write(ctx, gathering, f))
    }

    /// Moves the agenda to step `index` (0-based).
    pub fn set_step(&self, id: CircleId, gathering: DocId, index: u64) -> Result<(), EngineError> {
        let doc = self.gathering_doc(id, gathering)?;
        if index as usize >= doc.agenda.len() {
            return Err(EngineError::NotAllowed("the agenda has no such step"));
        }
        self.write_gathering(id, gathering, |d| {
            Ok(docs::put_value(d, &[], "step", Some(index))?)
        })
    }

    /// Moves the agenda on by one step.
    pub fn next_step(&self, id: CircleId, gathering: DocId) -> Result<u64, EngineError> {
        let doc = self.gathering_doc(id, gathering)?;
        let next = doc.step + 1;
        self.set_step(id, gathering, next)?;
        Ok(next)
    }

    /// Inserts a step at `index` (or at the end).
    pub fn add_step(
        &self,
        id: CircleId,
        gathering: DocId,
        index: Option<usize>,
        kind: StepKind,
        title: &str,
        minutes: u64,
    ) -> Result<(), EngineError> {
        let title = crate::check_text(title, 200)?;
        let mut doc = self.gathering_doc(id, gathering)?;
        let at = index.unwrap_or(doc.agenda.len()).min(doc.agenda.len());
        doc.agenda.insert(
            at,
            docs::AgendaStep {
                kind: kind.name().to_owned(),
                title,
                minutes,
            },
        );
        let agenda = doc.agenda;
        // The current step stays the same step.
        let step = if (at as u64) <= doc.step && !agenda.is_empty() {
            doc.step + 1
        } else {
            doc.step
        };
        self.write_gathering(id, gathering, |d| {
            docs::put_root(d, "agenda", &agenda)?;
            Ok(docs::put_value(d, &[], "step", Some(step))?)
        })
    }

    /// Removes the step at `index`.
    pub fn remove_step(
        &self,
        id: CircleId,
        gathering: DocId,
        index: usize,
    ) -> Result<(), EngineError> {
        let mut doc = self.gathering_doc(id, gathering)?;
        if index >= doc.agenda.len() {
            return Err(EngineError::NotAllowed("the agenda has no such step"));
        }
        doc.agenda.remove(index);
        let agenda = doc.agenda;
        let step = if (index as u64) < doc.step {
            doc.step - 1
        } else {
            doc.step.min(agenda.len().saturating_sub(1) as u64)
        };
        self.write_gathering(id, gathering, |d| {
            docs::put_root(d, "agenda", &agenda)?;
            Ok(docs::put_value(d, &[], "step", Some(step))?)
        })
    }

    /// Records whether `member` is present.
    pub fn set_attendance(
        &self,
        id: CircleId,
        gathering: DocId,
        member: MemberId,
        present: bool,
    ) -> Result<(), EngineError> {
        let key = member.to_hex();
        self.write_gathering(id, gathering, |d| {
            Ok(docs::put_value(d, &["attendance"], &key, Some(present))?)
        })
    }

    /// Records how many minutes `member` asks for today.
    pub fn request_time(
        &self,
        id: CircleId,
        gathering: DocId,
        member: MemberId,
        minutes: u64,
    ) -> Result<(), EngineError> {
        if minutes > 240 {
            return Err(EngineError::BadText("ask for at most 240 minutes"));
        }
        let key = member.to_hex();
        self.write_gathering(id, gathering, |d| {
            Ok(docs::put_value(d, &["requests"], &key, Some(minutes))?)
        })
    }

    /// Minutes per member for today's turns: the requests fitted into the
    /// time the agenda gives to turns, among members present (or not
    /// marked absent).
    pub fn fitted_time(
        &self,
        id: CircleId,
        gathering: DocId,
    ) -> Result<BTreeMap<String, u32>, EngineError> {
        let doc = self.gathering_doc(id, gathering)?;
        let present = self.present_members(id, &doc)?;
        let requests: BTreeMap<String, u32> = doc
            .requests
            .iter()
            .map(|(m, r)| (m.clone(), *r as u32))
            .collect();
        let left: u64 = doc
            .agenda
            .iter()
            .filter(|s| s.kind == StepKind::Turns.name())
            .map(|s| s.minutes)
            .sum();
        Ok(fit_requests(&present, &requests, left as u32))
    }

    /// Starts `member`'s turn (ending any running one) with the minutes
    /// fitted for them unless `minutes` says otherwise.
    pub fn start_turn(
        &self,
        id: CircleId,
        gathering: DocId,
        member: MemberId,
        minutes: Option<u64>,
        feedback_wanted: &str,
        off_record: bool,
    ) -> Result<String, EngineError> {
        let allotted = match minutes {
            Some(m) => m,
            None => self
                .fitted_time(id, gathering)?
                .get(&member.to_hex())
                .copied()
                .unwrap_or(10) as u64,
        };
        let turn = docs::Turn {
            member: member.to_hex(),
            allotted,
            feedback_wanted: feedback_wanted.trim().chars().take(500).collect(),
            off_record,
            ..Default::default()
        };
        self.begin(id, gathering, turn)
    }

    /// Starts `member`'s speaking time outside the turns (a check-in, a
    /// report back, appreciations, a discussion), ending any running turn:
    /// it counts as their airtime, but is no turn (they still wait for
    /// one) and ends without a contract. Unless `minutes` says otherwise
    /// it gets the current step's minutes shared among those present.
    pub fn start_speaking(
        &self,
        id: CircleId,
        gathering: DocId,
        member: MemberId,
        minutes: Option<u64>,
        off_record: bool,
    ) -> Result<String, EngineError> {
        let allotted = match minutes {
            Some(m) => m,
            None => {
                let doc = self.gathering_doc(id, gathering)?;
                let step = doc.agenda.get(doc.step as usize).map_or(0, |s| s.minutes);
                let present = self.present_members(id, &doc)?.len().max(1) as u64;
                step.div_ceil(present).max(1)
            }
        };
        let turn = docs::Turn {
            member: member.to_hex(),
            allotted,
            off_record,
            speaking: true,
            ..Default::default()
        };
        self.begin(id, gathering, turn)
    }

    /// Starts `turn` now, after any running one, which it ends.
    fn begin(
        &self,
        id: CircleId,
        gathering: DocId,
        mut turn: docs::Turn,
    ) -> Result<String, EngineError> {
        let doc = self.gathering_doc(id, gathering)?;
        let running = running_turn(&doc).map(|(k, _)| k.clone());
        let turn_id = random_id();
        turn.started = circle::now();
        turn.order = doc.turns.values().map(|t| t.order + 1).max().unwrap_or(0);
        self.write_gathering(id, gathering, |d| {
            if let Some(r) = &running {
                docs::put_value(d, &["turns", r], "ended", Some(circle::now()))?;
            }
            Ok(docs::put_at(d, &["turns"], &turn_id, &turn)?)
        })?;
        Ok(turn_id)
    }

    /// Members (hex) present at the gathering, or not marked absent.
    fn present_members(
        &self,
        id: CircleId,
        doc: &GatheringDoc,
    ) -> Result<Vec<String>, EngineError> {
        let members = self.with_circle(id, |c, _| Ok(c.membership.members().clone()))?;
        Ok(members
            .iter()
            .map(|m| m.to_hex())
            .filter(|m| doc.attendance.get(m) != Some(&false))
            .collect())
    }

    /// Ends the running turn.
    pub fn end_turn(&self, id: CircleId, gathering: DocId) -> Result<(), EngineError> {
        let doc = self.gathering_doc(id, gathering)?;
        let running = running_turn(&doc)
            .map(|(k, _)| k.clone())
            .ok_or(EngineError::NotAllowed("no turn is running"))?;
        self.write_gathering(id, gathering, |d| {
            Ok(docs::put_value(
                d,
                &["turns", &running],
                "ended",
                Some(circle::now()),
            )?)
        })
    }

    /// Pauses the running turn (the facilitator stops the clock: a
    /// question from the room, a break); `false` resumes it.
    pub fn pause_turn(
        &self,
        id: CircleId,
        gathering: DocId,
        pause: bool,
    ) -> Result<(), EngineError> {
        let doc = self.gathering_doc(id, gathering)?;
        let (running, turn) = running_turn(&doc)
            .map(|(k, t)| (k.clone(), t.clone()))
            .ok_or(EngineError::NotAllowed("no turn is running"))?;
        let now = circle::now();
        let since = turn.paused.as_deref().and_then(parse_time);
        match (pause, since) {
            (true, None) => self.write_gathering(id, gathering, |d| {
                Ok(docs::put_value(
                    d,
                    &["turns", &running],
                    "paused",
                    Some(now),
                )?)
            }),
            (false, Some(since)) => {
                let paused = (Utc::now() - since).num_seconds().max(0) as u64;
                self.write_gathering(id, gathering, |d| {
                    docs::put_value(
                        d,
                        &["turns", &running],
                        "paused_secs",
                        Some(turn.paused_secs + paused),
                    )?;
                    Ok(docs::put_value(
                        d,
                        &["turns", &running],
                        "paused",
                        None::<String>,
                    )?)
                })
            }
            // Already as asked.
            _ => Ok(()),
        }
    }

    /// The gathering's state at `now`: agenda, running turn and its timer,
    /// turns, attendance, requests, fitted minutes and airtime.
    pub fn gathering_state(
        &self,
        id: CircleId,
        gathering: DocId,
        now: DateTime<Utc>,
    ) -> Result<GatheringStateView, EngineError> {
        let doc = self.gathering_doc(id, gathering)?;
        let names = crate::circles::profile_names(&self.circle_doc(id)?);
        let fitted = self.fitted_time(id, gathering)?;
        let members = self.with_circle(id, |c, _| Ok(c.membership.members().clone()))?;
        let mut ordered: Vec<(&String, &docs::Turn)> = doc.turns.iter().collect();
        ordered.sort_by(|a, b| (a.1.order, &a.1.started, a.0).cmp(&(b.1.order, &b.1.started, b.0)));
        let turns: Vec<TurnView> = ordered
            .into_iter()
            .map(|(k, t)| turn_view(k, t, &names, now))
            .collect();
        let current_turn = running_turn(&doc).map(|(k, t)| turn_view(k, t, &names, now));
        let mut airtime: Vec<AirtimeView> = members
            .iter()
            .map(|m| {
                let hex = m.to_hex();
                AirtimeView {
                    present: doc.attendance.get(&hex).copied(),
                    requested: doc.requests.get(&hex).copied(),
                    fitted: fitted.get(&hex).map(|f| *f as u64),
                    airtime_secs: turns
                        .iter()
                        .filter(|t| t.member.id == hex)
                        .map(|t| t.elapsed_secs)
                        .sum(),
                    member: holder(&names, &hex),
                }
            })
            .collect();
        airtime.sort_by(|a, b| (&a.member.name, &a.member.id).cmp(&(&b.member.name, &b.member.id)));
        let waiting = airtime
            .iter()
            .filter(|a| {
                a.present != Some(false)
                    && !turns
                        .iter()
                        .any(|t| !t.speaking && t.member.id == a.member.id)
            })
            .map(|a| a.member.clone())
            .collect();
        Ok(GatheringStateView {
            id: gathering.to_hex(),
            date: doc.date.clone(),
            template: doc.template.clone(),
            agenda: doc
                .agenda
                .iter()
                .enumerate()
                .map(|(i, s)| StepView {
                    kind: s.kind.clone(),
                    title: s.title.clone(),
                    minutes: s.minutes,
                    current: i as u64 == doc.step,
                    holds_turns: StepKind::parse(&s.kind).holds_turns(),
                })
                .collect(),
            current_turn,
            turns,
            airtime,
            waiting,
        })
    }
}

//! The circle's practice around gatherings: setup (purpose, cadence, guide),
//! the charter and who accepted it, the schedule and rota, reminders, goals
//! with progress and milestones, and contracts with their report back.

use crate::views::{
    AcceptanceView, ContractHistoryView, PlannedView, PracticeView, ReminderView, RoleHolder,
};
use crate::{check_text, circle, random_id, short_hex, CircleId, Engine, EngineError, Store};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use circlekeep_model::docs::{self, CircleDoc};
use circlekeep_model::rota::{self, Role, Slot};
use circlekeep_model::schedule::Cadence;
use circlekeep_model::DocId;
use circlekeep_seal::epoch::{open_with_identity, seal_to_recipient};
use circlekeep_store::BlobKind;
use std::collections::{BTreeMap, BTreeSet};

/// How far ahead the schedule is generated.
pub const SCHEDULE_DAYS: i64 = 366;
/// Gatherings after which a guide is prompted to hand over and leave.
pub const GUIDE_GATHERINGS: usize = 3;

/// Contract outcomes at report back.
pub const OUTCOMES: [&str; 4] = ["kept", "partly", "not", "renegotiated"];
/// Goal states.
pub const GOAL_STATES: [&str; 3] = ["open", "achieved", "dropped"];

/// What `setup` changes (absent fields stay as they are).
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// The circle's purpose.
    pub purpose: Option<String>,
    /// When it meets.
    pub cadence: Option<Cadence>,
    /// The guide (`Some(None)` removes the role, not the member).
    pub guide: Option<Option<circlekeep_model::MemberId>>,
}

/// One planned gathering with its resolved date, time and roles.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub planned: NaiveDate,
    pub date: NaiveDate,
    pub time: chrono::NaiveTime,
    pub starts: DateTime<Utc>,
    pub cancelled: bool,
    pub roles: rota::Assignment,
    pub absent: BTreeSet<String>,
    pub gathering: Option<String>,
}

pub(crate) fn cadence(doc: &CircleDoc) -> Result<Cadence, EngineError> {
    let c = doc
        .settings
        .cadence
        .as_ref()
        .ok_or(EngineError::NoCadence)?;
    Ok(Cadence::parse(
        c.every_weeks,
        &c.weekday,
        &c.time,
        c.minutes,
        &c.time_zone,
        &c.first,
    )?)
}

/// The schedule from the first gathering until `until`, with the rota
/// among `members` (hex, sorted).
pub(crate) fn plan(
    doc: &CircleDoc,
    members: &[String],
    until: NaiveDate,
) -> Result<Vec<Planned>, EngineError> {
    let cadence = cadence(doc)?;
    let s = &doc.schedule;
    let dates = cadence.dates_until(until);
    let slots: Vec<Slot> = dates
        .iter()
        .map(|d| {
            let key = d.to_string();
            Slot {
                absent: members
                    .iter()
                    .filter(|m| s.absent.get(&format!("{key}/{m}")) == Some(&true))
                    .cloned()
                    .collect(),
                fixed: Role::ALL
                    .into_iter()
                    .filter_map(|r| {
                        s.roles
                            .get(&format!("{key}/{}", r.name()))
                            .map(|m| (r, m.clone()))
                    })
                    .collect(),
                cancelled: s.cancelled.get(&key) == Some(&true),
                key,
            }
        })
        .collect();
    let assignments = rota::assign(members, &slots);
    let opened: BTreeMap<&str, &str> = doc
        .gatherings
        .iter()
        .filter_map(|(id, g)| g.planned.as_deref().map(|p| (p, id.as_str())))
        .collect();
    Ok(dates
        .into_iter()
        .zip(slots)
        .zip(assignments)
        .map(|((planned, slot), roles)| {
            let date = s
                .moved
                .get(&slot.key)
                .and_then(|d| circlekeep_model::schedule::parse_date(d).ok())
                .unwrap_or(planned);
            let time = s
                .times
                .get(&slot.key)
                .and_then(|t| circlekeep_model::schedule::parse_time(t).ok())
                .unwrap_or(cadence.time);
            Planned {
                planned,
                date,
                time,
                starts: cadence.starts_at(date, time),
                cancelled: slot.cancelled,
                gathering: opened.get(slot.key.as_str()).map(|g| (*g).to_owned()),
                roles,
                absent: slot.absent,
            }
        })
        .collect())
}

/// A member as shown next to a role or in a list.
pub(crate) fn holder(names: &BTreeMap<String, String>, hex: &str) -> RoleHolder {
    RoleHolder {
        id: hex.to_owned(),
        name: names.get(hex).cloned().unwrap_or_else(|| short_hex(hex)),
    }
}

pub(crate) fn planned_view(
    p: &Planned,
    cadence: &Cadence,
    names: &BTreeMap<String, String>,
) -> PlannedView {
    PlannedView {
        planned: p.planned.to_string(),
        date: p.date.to_string(),
        time: p.time.format("%H:%M").to_string(),
        time_zone: cadence.time_zone.name().to_owned(),
        starts: p.starts.to_rfc3339(),
        minutes: cadence.minutes as u32,
        cancelled: p.cancelled,
        moved: p.date != p.planned,
        roles: p
            .roles
            .iter()
            .map(|(r, m)| (r.name().to_owned(), holder(names, m)))
            .collect(),
        absent: p.absent.iter().map(|m| holder(names, m)).collect(),
        gathering: p.gathering.clone(),
    }
}

impl<S: Store> Engine<S> {
    /// Current members' hex ids, sorted (the rota's order).
    pub(crate) fn member_hexes(&self, id: CircleId) -> Result<Vec<String>, EngineError> {
        let mut m: Vec<String> = self
            .with_circle(id, |c, _| Ok(c.membership.members().clone()))?
            .iter()
            .map(|m| m.to_hex())
            .collect();
        m.sort();
        Ok(m)
    }

    /// Reads the circle document.
    pub(crate) fn circle_doc(&self, id: CircleId) -> Result<CircleDoc, EngineError> {
        self.with_circle(id, |c, _| c.circle_doc().ok_or(EngineError::Unreadable))
    }

    /// Writes to the circle document with `f`.
    pub(crate) fn write_circle_doc(
        &self,
        id: CircleId,
        f: impl FnOnce(&mut automerge::AutoCommit) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        self.with_circle(id, |c, ctx| c.write(ctx, DocId::CIRCLE, f))
    }

    /// Sets the circle's purpose, cadence and guide.
    pub fn setup(&self, id: CircleId, setup: &Setup) -> Result<(), EngineError> {
        let purpose = setup
            .purpose
            .as_deref()
            .map(|p| check_text(p, 2_000))
            .transpose()?;
        let guide = match setup.guide {
            Some(Some(g)) => {
                if !self.member_hexes(id)?.contains(&g.to_hex()) {
                    return Err(EngineError::UnknownMember(g.short()));
                }
                Some(Some(g.to_hex()))
            }
            Some(None) => Some(None),
            None => None,
        };
        let cadence = setup.cadence.as_ref().map(|c| docs::CadenceDoc {
            every_weeks: c.every_weeks as u64,
            weekday: c.weekday.to_string().to_lowercase(),
            time: c.time.format("%H:%M").to_string(),
            minutes: c.minutes as u64,
            time_zone: c.time_zone.name().to_owned(),
            first: c.first.to_string(),
        });
        self.write_circle_doc(id, |doc| {
            if let Some(p) = &purpose {
                docs::update_text(doc, &["settings", "purpose"], p)?;
            }
            if let Some(c) = &cadence {
                docs::put_at(doc, &["settings"], "cadence", &Some(c.clone()))?;
            }
            if let Some(g) = &guide {
                docs::put_at(doc, &["settings"], "guide", g)?;
            }
            Ok(())
        })
    }

    /// Replaces the charter's text; everyone is asked to accept it again.
    pub fn edit_charter(&self, id: CircleId, text: &str) -> Result<(), EngineError> {
        let text = check_text(text, crate::MAX_TEXT_CHARS)?;
        self.write_circle_doc(id, |doc| {
            Ok(docs::update_text(doc, &["charter", "text"], &text)?)
        })
    }

    /// Records that this device's member accepts the charter as it stands.
    pub fn accept_charter(&self, id: CircleId) -> Result<(), EngineError> {
        let doc = self.circle_doc(id)?;
        let acceptance = docs::Acceptance {
            at: circle::now(),
            version: docs::charter_version(doc.charter.text.as_str()),
        };
        let me = self.me.member_id().to_hex();
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_at(
                doc,
                &["charter", "accepted"],
                &me,
                &acceptance,
            )?)
        })
    }

    /// The circle's practice: purpose, cadence, guide and its prompt, who
    /// accepted the charter, the next gatherings with their roles.
    pub fn practice(&self, id: CircleId, today: NaiveDate) -> Result<PracticeView, EngineError> {
        let doc = self.circle_doc(id)?;
        let members = self.member_hexes(id)?;
        let names = crate::profile_names(&doc);
        let version = docs::charter_version(doc.charter.text.as_str());
        let charter = members
            .iter()
            .map(|m| AcceptanceView {
                member: holder(&names, m),
                accepted: doc
                    .charter
                    .accepted
                    .get(m)
                    .filter(|a| a.version == version)
                    .map(|a| a.at.clone()),
            })
            .collect();
        let held = doc
            .gatherings
            .values()
            .filter(|g| g.date.as_str() <= today.to_string().as_str())
            .count();
        let guide = doc.settings.guide.clone().filter(|g| members.contains(g));
        let guide_prompt = guide
            .as_ref()
            .filter(|_| held >= GUIDE_GATHERINGS)
            .map(|g| {
                format!(
                    "{} has guided {held} gatherings: time to hand over. \
                     Removing the guide (`circlekeep member remove`) re-keys the circle.",
                    holder(&names, g).name
                )
            });
        let cadence = cadence(&doc).ok();
        let next = match &cadence {
            Some(c) => {
                // Three that take place, and those cancelled among them (so
                // members see them, and can restore them).
                let mut held = 0;
                plan(&doc, &members, today + Duration::days(SCHEDULE_DAYS))?
                    .iter()
                    .filter(|p| p.date >= today)
                    .take_while(|p| {
                        let more = held < 3;
                        held += usize::from(!p.cancelled);
                        more
                    })
                    .map(|p| planned_view(p, c, &names))
                    .collect()
            }
            None => Vec::new(),
        };
        Ok(PracticeView {
            purpose: doc.settings.purpose.as_str().to_owned(),
            cadence: cadence.map(|c| {
                format!(
                    "every {} week(s) on {} at {} ({}), {} minutes, from {}",
                    c.every_weeks,
                    c.weekday,
                    c.time.format("%H:%M"),
                    c.time_zone.name(),
                    c.minutes,
                    c.first_date()
                )
            }),
            guide: guide.map(|g| holder(&names, &g)),
            guide_prompt,
            charter_version: version,
            charter,
            next,
        })
    }

    /// The schedule for the coming year (from `from`), with roles.
    pub fn schedule(&self, id: CircleId, from: NaiveDate) -> Result<Vec<PlannedView>, EngineError> {
        let doc = self.circle_doc(id)?;
        let cadence = cadence(&doc)?;
        let names = crate::profile_names(&doc);
        let members = self.member_hexes(id)?;
        Ok(plan(&doc, &members, from + Duration::days(SCHEDULE_DAYS))?
            .iter()
            .filter(|p| p.planned >= from || p.date >= from)
            .map(|p| planned_view(p, &cadence, &names))
            .collect())
    }

    /// The planned gathering a person meant by `date` (its planned or
    /// moved-to date).
    fn find_planned(
        &self,
        id: CircleId,
        date: NaiveDate,
    ) -> Result<(CircleDoc, Vec<String>, Planned), EngineError> {
        let doc = self.circle_doc(id)?;
        let members = self.member_hexes(id)?;
        let found = plan(
            &doc,
            &members,
            date.max(crate::today()) + Duration::days(SCHEDULE_DAYS),
        )?
        .into_iter()
        .find(|p| p.planned == date)
        .or_else(|| {
            plan(&doc, &members, date + Duration::days(SCHEDULE_DAYS))
                .ok()?
                .into_iter()
                .find(|p| p.date == date)
        })
        .ok_or_else(|| EngineError::NotScheduled(date.to_string()))?;
        Ok((doc, members, found))
    }

    /// Moves one gathering to another date and/or time.
    pub fn reschedule(
        &self,
        id: CircleId,
        date: NaiveDate,
        to: NaiveDate,
        time: Option<chrono::NaiveTime>,
    ) -> Result<(), EngineError> {
        let (_, _, p) = self.find_planned(id, date)?;
        let key = p.planned.to_string();
        self.write_circle_doc(id, |doc| {
            let moved = (to != p.planned).then(|| to.to_string());
            docs::put_value(doc, &["schedule", "moved"], &key, moved)?;
            if let Some(t) = time {
                let t = t.format("%H:%M").to_string();
                docs::put_value(doc, &["schedule", "times"], &key, Some(t))?;
            }
            docs::put_value::<bool>(doc, &["schedule", "cancelled"], &key, None)?;
            Ok(())
        })
    }

    /// Cancels one gathering (or with `cancel = false` restores it).
    pub fn cancel_gathering(
        &self,
        id: CircleId,
        date: NaiveDate,
        cancel: bool,
    ) -> Result<(), EngineError> {
        let (_, _, p) = self.find_planned(id, date)?;
        let key = p.planned.to_string();
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_value(
                doc,
                &["schedule", "cancelled"],
                &key,
                cancel.then_some(true),
            )?)
        })
    }

    /// Records that `member` will (not) come to the gathering on `date`; the
    /// rota skips them.
    pub fn set_absent(
        &self,
        id: CircleId,
        date: NaiveDate,
        member: circlekeep_model::MemberId,
        absent: bool,
    ) -> Result<(), EngineError> {
        let (_, members, p) = self.find_planned(id, date)?;
        if !members.contains(&member.to_hex()) {
            return Err(EngineError::UnknownMember(member.short()));
        }
        let key = format!("{}/{}", p.planned, member.to_hex());
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_value(
                doc,
                &["schedule", "absent"],
                &key,
                absent.then_some(true),
            )?)
        })
    }

    /// Swaps who holds `role` at two gatherings.
    pub fn swap_role(
        &self,
        id: CircleId,
        role: Role,
        a: NaiveDate,
        b: NaiveDate,
    ) -> Result<(), EngineError> {
        let (_, _, pa) = self.find_planned(id, a)?;
        let (_, _, pb) = self.find_planned(id, b)?;
        let (Some(ma), Some(mb)) = (pa.roles.get(&role), pb.roles.get(&role)) else {
            return Err(EngineError::NotAllowed(
                "a cancelled gathering has no roles to swap",
            ));
        };
        let (ka, kb) = (
            format!("{}/{}", pa.planned, role.name()),
            format!("{}/{}", pb.planned, role.name()),
        );
        if pa.absent.contains(mb) || pb.absent.contains(ma) {
            return Err(EngineError::NotAllowed(
                "one of them said they will not come to the other gathering",
            ));
        }
        let (ma, mb) = (ma.clone(), mb.clone());
        self.write_circle_doc(id, |doc| {
            docs::put_value(doc, &["schedule", "roles"], &ka, Some(mb))?;
            docs::put_value(doc, &["schedule", "roles"], &kb, Some(ma))?;
            Ok(())
        })
    }

    /// Freezes the roles of the planned gathering on `planned`, so later
    /// changes of who is in the circle do not rewrite who held them.
    pub(crate) fn freeze_roles(&self, id: CircleId, planned: &Planned) -> Result<(), EngineError> {
        let key = planned.planned.to_string();
        let roles = planned.roles.clone();
        self.write_circle_doc(id, |doc| {
            for (role, member) in &roles {
                let k = format!("{key}/{}", role.name());
                docs::put_value(doc, &["schedule", "roles"], &k, Some(member.clone()))?;
            }
            Ok(())
        })
    }

    /// The planned gathering on `date`, if the circle has a cadence.
    pub(crate) fn planned_on(
        &self,
        id: CircleId,
        date: NaiveDate,
    ) -> Result<Option<Planned>, EngineError> {
        match self.find_planned(id, date) {
            Ok((_, _, p)) => Ok(Some(p)),
            Err(EngineError::NoCadence | EngineError::NotScheduled(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reminders due at `now`: gatherings starting within `within`, and a
    /// nudge for circles that skipped their last two gatherings.
    pub fn reminders(
        &self,
        now: DateTime<Utc>,
        within: Duration,
    ) -> Result<Vec<ReminderView>, EngineError> {
        let me = self.me.member_id().to_hex();
        let mut out = Vec::new();
        for summary in self.circles()? {
            if !summary.member {
                continue;
            }
            let Ok(id) = CircleId::from_hex(&summary.id) else {
                continue;
            };
            let Ok(doc) = self.circle_doc(id) else {
                continue;
            };
            let Ok(cadence) = cadence(&doc) else {
                continue;
            };
            let members = self.member_hexes(id)?;
            let names = crate::profile_names(&doc);
            let today = now.date_naive();
            let planned = plan(&doc, &members, today + Duration::days(60))?;
            for p in planned.iter().filter(|p| !p.cancelled) {
                if p.starts >= now && p.starts - now <= within {
                    let mine: Vec<&str> = p
                        .roles
                        .iter()
                        .filter(|(_, m)| **m == me)
                        .map(|(r, _)| r.name())
                        .collect();
                    let hours = (p.starts - now).num_minutes() as f64 / 60.0;
                    let mut text = format!(
                        "{} meets in {:.0} h: {} {} ({}).",
                        doc.settings.name,
                        hours.ceil(),
                        p.date,
                        p.time.format("%H:%M"),
                        cadence.time_zone.name()
                    );
                    if !mine.is_empty() {
                        text.push_str(&format!(" You are {}.", mine.join(" and ")));
                    }
                    out.push(ReminderView {
                        circle: summary.id.clone(),
                        kind: "upcoming".into(),
                        text,
                        gathering: Some(planned_view(p, &cadence, &names)),
                    });
                }
            }
            let past: Vec<&Planned> = planned
                .iter()
                .filter(|p| !p.cancelled && p.starts < now)
                .collect();
            if past.len() >= 2 && past[past.len() - 2..].iter().all(|p| p.gathering.is_none()) {
                out.push(ReminderView {
                    circle: summary.id.clone(),
                    kind: "nudge".into(),
                    text: format!(
                        "{} has not met for its last two gatherings. A short check-in keeps a circle alive.",
                        doc.settings.name
                    ),
                    gathering: None,
                });
            }
        }
        Ok(out)
    }

    /// Reminders of gatherings starting within `within` that this device
    /// has not announced yet (a moved gathering counts as new), now marked
    /// announced: what to show as a system notification, once each. What
    /// was announced is kept sealed to this device, past gatherings pruned.
    pub fn reminders_to_announce(
        &self,
        now: DateTime<Utc>,
        within: Duration,
    ) -> Result<Vec<ReminderView>, EngineError> {
        // (circle, planned date, start as RFC 3339)
        type Seen = BTreeSet<(String, String, String)>;
        let stored = self
            .store
            .blob(BlobKind::Announced, b"")
            .map_err(EngineError::store)?;
        // Unreadable (another identity's, or damaged): start afresh.
        let mut seen: Seen = stored
            .and_then(|sealed| open_with_identity(self.me.age_identity(), &sealed).ok())
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .unwrap_or_default();
        let due: Vec<ReminderView> = self
            .reminders(now, within)?
            .into_iter()
            .filter(|r| {
                r.gathering.as_ref().is_some_and(|g| {
                    seen.insert((r.circle.clone(), g.planned.clone(), g.starts.clone()))
                })
            })
            .collect();
        if due.is_empty() {
            return Ok(due);
        }
        let yesterday = now - Duration::days(1);
        seen.retain(|(_, _, starts)| {
            DateTime::parse_from_rfc3339(starts).is_ok_and(|s| s >= yesterday)
        });
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&seen).map_err(|e| EngineError::Corrupt(e.to_string()))?,
        );
        let sealed = seal_to_recipient(&self.me.recipient(), &plain);
        self.store
            .put_blob(BlobKind::Announced, b"", Some(&sealed))
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)?;
        Ok(due)
    }

    /// Adds a progress note to a goal.
    pub fn goal_progress(
        &self,
        id: CircleId,
        goal: &str,
        text: &str,
    ) -> Result<String, EngineError> {
        let text = check_text(text, crate::MAX_TEXT_CHARS)?;
        let goal = self.find_goal(id, goal)?;
        let note_id = random_id();
        let note = docs::ProgressNote {
            author: self.me.member_id().to_hex(),
            text,
            created: circle::now(),
        };
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_at(
                doc,
                &["goals", &goal, "progress"],
                &note_id,
                &note,
            )?)
        })?;
        Ok(note_id)
    }

    /// Adds a milestone to a goal.
    pub fn goal_milestone(
        &self,
        id: CircleId,
        goal: &str,
        text: &str,
    ) -> Result<String, EngineError> {
        let text = check_text(text, 2_000)?;
        let goal = self.find_goal(id, goal)?;
        let milestone_id = random_id();
        let milestone = docs::Milestone {
            text,
            reached: None,
        };
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_at(
                doc,
                &["goals", &goal, "milestones"],
                &milestone_id,
                &milestone,
            )?)
        })?;
        Ok(milestone_id)
    }

    /// Marks a goal's milestone reached (to celebrate).
    pub fn reach_milestone(
        &self,
        id: CircleId,
        goal: &str,
        milestone: &str,
    ) -> Result<(), EngineError> {
        let goal = self.find_goal(id, goal)?;
        let doc = self.circle_doc(id)?;
        let milestone = doc.goals[&goal]
            .milestones
            .keys()
            .find(|m| m.starts_with(milestone.trim()) && milestone.trim().len() >= 4)
            .cloned()
            .ok_or_else(|| EngineError::UnknownGoal(milestone.to_owned()))?;
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_value(
                doc,
                &["goals", &goal, "milestones", &milestone],
                "reached",
                Some(circle::now()),
            )?)
        })
    }

    /// Sets a goal's status: `open`, `achieved` or `dropped`.
    pub fn goal_status(&self, id: CircleId, goal: &str, status: &str) -> Result<(), EngineError> {
        let status = status.trim();
        if !GOAL_STATES.contains(&status) {
            return Err(EngineError::BadText("a goal is open, achieved or dropped"));
        }
        let goal = self.find_goal(id, goal)?;
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_value(
                doc,
                &["goals", &goal],
                "status",
                Some(status),
            )?)
        })
    }

    /// Reports back on a contract: outcome and (optionally) what was learnt.
    /// The reflection is merged character by character with concurrent edits.
    pub fn report_contract(
        &self,
        id: CircleId,
        contract: &str,
        outcome: Option<&str>,
        reflection: Option<&str>,
    ) -> Result<(), EngineError> {
        if let Some(o) = outcome {
            if !OUTCOMES.contains(&o.trim()) {
                return Err(EngineError::BadText(
                    "an outcome is kept, partly, not or renegotiated",
                ));
            }
        }
        let reflection = reflection
            .map(|r| {
                if r.chars().count() > crate::MAX_TEXT_CHARS {
                    Err(EngineError::BadText("text is too long"))
                } else {
                    Ok(r.to_owned())
                }
            })
            .transpose()?;
        let contract = self.find_contract(id, contract)?;
        self.write_circle_doc(id, |doc| {
            if let Some(o) = outcome {
                let path = ["contracts", contract.as_str(), "report"];
                docs::put_value(doc, &path, "outcome", Some(o.trim()))?;
                docs::put_value(doc, &path, "reported", Some(circle::now()))?;
            }
            if let Some(r) = &reflection {
                docs::update_text(doc, &["contracts", &contract, "report", "reflection"], r)?;
            }
            Ok(())
        })
    }

    /// Each member's contracts, oldest first, with their report back.
    pub fn contract_history(
        &self,
        id: CircleId,
        member: Option<circlekeep_model::MemberId>,
    ) -> Result<Vec<ContractHistoryView>, EngineError> {
        let doc = self.circle_doc(id)?;
        let names = crate::profile_names(&doc);
        let mut by_member: BTreeMap<String, Vec<crate::views::ContractView>> = BTreeMap::new();
        for view in self.circle(id)?.contracts {
            if member.is_some_and(|m| m.to_hex() != view.owner) {
                continue;
            }
            by_member.entry(view.owner.clone()).or_default().push(view);
        }
        Ok(by_member
            .into_iter()
            .map(|(owner, contracts)| ContractHistoryView {
                kept: contracts.iter().filter(|c| c.outcome == "kept").count(),
                member: holder(&names, &owner),
                contracts,
            })
            .collect())
    }

    fn find_goal(&self, id: CircleId, selector: &str) -> Result<String, EngineError> {
        let doc = self.circle_doc(id)?;
        find_key(doc.goals.keys(), selector)
            .ok_or_else(|| EngineError::UnknownGoal(selector.into()))
    }

    pub(crate) fn find_contract(
        &self,
        id: CircleId,
        selector: &str,
    ) -> Result<String, EngineError> {
        let doc = self.circle_doc(id)?;
        find_key(doc.contracts.keys(), selector)
            .ok_or_else(|| EngineError::UnknownContract(selector.into()))
    }
}

/// The one key starting with `selector` (4+ characters), if exactly one does.
fn find_key<'a>(keys: impl Iterator<Item = &'a String>, selector: &str) -> Option<String> {
    let wanted = selector.trim().to_lowercase();
    if wanted.len() < 4 {
        return None;
    }
    let mut found = keys.filter(|k| k.starts_with(&wanted));
    match (found.next(), found.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

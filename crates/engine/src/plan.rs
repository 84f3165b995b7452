//! The schedule and rota: planned gatherings from the cadence for a year
//! ahead, each with its date, time and roles; moving, cancelling, absences,
//! swaps, and freezing the roles of a gathering once it is held.

use crate::short_hex;
use crate::views::{PlannedView, RoleHolder};
use crate::{CircleId, Engine, EngineError, Store};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use circlekeep_model::docs::{self, CircleDoc};
use circlekeep_model::rota::{self, Role, Slot};
use circlekeep_model::schedule::Cadence;
use std::collections::{BTreeMap, BTreeSet};

/// How far ahead the schedule is generated.
pub const SCHEDULE_DAYS: i64 = 366;

/// Where one gathering goes: its date, and optionally a new local start
/// time and a place of its own (empty: the circle's place again).
#[derive(Clone, Debug)]
pub struct Move {
    /// The date it takes place.
    pub date: NaiveDate,
    /// A new local start time.
    pub time: Option<chrono::NaiveTime>,
    /// Where it meets instead of the circle's place.
    pub place: Option<String>,
}

/// Longest place (an address or a video link), in characters.
pub const MAX_PLACE_CHARS: usize = 500;

/// A place as typed, trimmed, on one line, within [`MAX_PLACE_CHARS`].
pub(crate) fn check_place(text: &str) -> Result<String, EngineError> {
    let place = text.trim();
    if place.contains(['\n', '\r']) {
        return Err(EngineError::BadText("a place is one line"));
    }
    if place.chars().count() > MAX_PLACE_CHARS {
        return Err(EngineError::BadText("that place is too long"));
    }
    Ok(place.to_owned())
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
    pub place: Option<String>,
}

pub(crate) fn cadence(doc: &CircleDoc) -> Result<Cadence, EngineError> {
    let c = doc
        .settings
        .cadence
        .as_ref()
        .ok_or(EngineError::NoCadence)?;
    Ok(Cadence::try_from(c)?)
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
    let own = Role::circle_roles(&doc.settings.roles);
    let roles: Vec<Role> = Role::CORE.into_iter().chain(own.iter().cloned()).collect();
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
                fixed: roles
                    .iter()
                    .cloned()
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
    let assignments = rota::assign(members, &own, &slots);
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
                place: s
                    .places
                    .get(&slot.key)
                    .or(doc.settings.place.as_ref())
                    .filter(|p| !p.is_empty())
                    .cloned(),
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
        place: p.place.clone(),
    }
}

impl<S: Store> Engine<S> {
    /// The schedule for the coming year (from `from`), with roles.
    pub fn schedule(&self, id: CircleId, from: NaiveDate) -> Result<Vec<PlannedView>, EngineError> {
        let doc = self.circle_doc(id)?;
        let cadence = cadence(&doc)?;
        let names = crate::circles::profile_names(&doc);
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

    /// Moves one gathering to another date, time and/or place.
    pub fn reschedule(&self, id: CircleId, date: NaiveDate, to: &Move) -> Result<(), EngineError> {
        let place = to.place.as_deref().map(check_place).transpose()?;
        let (_, _, p) = self.find_planned(id, date)?;
        let key = p.planned.to_string();
        self.write_circle_doc(id, |doc| {
            let moved = (to.date != p.planned).then(|| to.date.to_string());
            docs::put_value(doc, &["schedule", "moved"], &key, moved)?;
            if let Some(t) = to.time {
                let t = t.format("%H:%M").to_string();
                docs::put_value(doc, &["schedule", "times"], &key, Some(t))?;
            }
            if let Some(place) = place {
                // An empty place goes back to the circle's.
                let place = (!place.is_empty()).then_some(place);
                docs::put_value(doc, &["schedule", "places"], &key, place)?;
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
        let role = if Role::CORE.contains(&role) {
            role
        } else {
            Role::circle_roles(&self.circle_doc(id)?.settings.roles)
                .into_iter()
                .find(|r| r.name().eq_ignore_ascii_case(role.name()))
                .ok_or(EngineError::NotAllowed(
                    "the circle has no such role (add it in the circle's setup)",
                ))?
        };
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
}

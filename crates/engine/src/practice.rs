//! The circle's practice around gatherings: setup (purpose, cadence, guide),
//! the charter and who accepted it, the practice view (next gathering,
//! roles, guide prompt) and reminders. The schedule is in `plan`, goals in
//! `goals`, contracts in `contracts`.

use crate::plan::{cadence, check_place, holder, plan, planned_view, Planned, SCHEDULE_DAYS};
use crate::views::{AcceptanceView, PracticeView, ReminderView};
use crate::{check_text, circle, CircleId, Engine, EngineError, Store};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use circlekeep_model::docs::{self, CircleDoc};
use circlekeep_model::rota::Role;
use circlekeep_model::schedule::Cadence;
use circlekeep_model::DocId;
use circlekeep_seal::epoch::{open_with_identity, seal_to_recipient};
use circlekeep_store::BlobKind;
use std::collections::BTreeSet;

/// Gatherings after which a guide is prompted to hand over and leave.
pub const GUIDE_GATHERINGS: usize = 3;

/// What `setup` changes (absent fields stay as they are).
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// The circle's purpose.
    pub purpose: Option<String>,
    /// When it meets.
    pub cadence: Option<Cadence>,
    /// The guide (`Some(None)` removes the role, not the member).
    pub guide: Option<Option<circlekeep_model::MemberId>>,
    /// Where the circle meets (empty: no place).
    pub place: Option<String>,
    /// The roles the circle rotates beside facilitator, timekeeper and
    /// host, replacing those it had (empty: none).
    pub roles: Option<Vec<String>>,
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

    /// Sets the circle's purpose, cadence, guide, place and own roles.
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
        let cadence = setup.cadence.as_ref().map(Cadence::to_doc);
        let place = setup.place.as_deref().map(check_place).transpose()?;
        let roles = setup.roles.as_deref().map(circle_roles).transpose()?;
        self.write_circle_doc(id, |doc| {
            if let Some(r) = &roles {
                docs::put_at(doc, &["settings"], "roles", r)?;
            }
            if let Some(p) = place {
                let p = (!p.is_empty()).then_some(p);
                docs::put_at(doc, &["settings"], "place", &p)?;
            }
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
        let names = crate::circles::profile_names(&doc);
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
                let name = holder(&names, g).name;
                format!(
                    "{name} has guided {held} gatherings: time to hand over. \
                     {name} then leaves the circle, with thanks, and it is re-keyed."
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
        let rhythm = cadence.as_ref().and(doc.settings.cadence.clone());
        Ok(PracticeView {
            purpose: doc.settings.purpose.as_str().to_owned(),
            rhythm,
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
            place: doc.settings.place.clone(),
            roles: Role::CORE
                .into_iter()
                .chain(Role::circle_roles(&doc.settings.roles))
                .map(|r| r.name().to_owned())
                .collect(),
            guide: guide.map(|g| holder(&names, &g)),
            guide_prompt,
            charter_version: version,
            charter,
            next,
        })
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
            let today = now.date_naive();
            out.extend(crate::series::reminders(&summary.id, &doc, today, within));
            let Ok(cadence) = cadence(&doc) else {
                continue;
            };
            let members = self.member_hexes(id)?;
            let names = crate::circles::profile_names(&doc);
            let planned = plan(&doc, &members, today + Duration::days(60))?;
            // Read only when a gathering is near (this runs every minute).
            let mut open = None;
            for p in planned.iter().filter(|p| !p.cancelled) {
                if p.starts >= now && p.starts - now <= within {
                    let view = planned_view(p, &cadence, &names);
                    let open = match open {
                        Some(ref open) => open,
                        None => open.insert(self.my_open_contracts(id)?),
                    };
                    out.extend(crate::contracts::due_reminder(
                        &summary.id,
                        &doc,
                        open,
                        &view,
                    ));
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
                    if let Some(place) = &p.place {
                        text.push_str(&format!(" At {place}."));
                    }
                    if !mine.is_empty() {
                        text.push_str(&format!(" You are {}.", mine.join(" and ")));
                    }
                    out.push(ReminderView {
                        circle: summary.id.clone(),
                        circle_name: doc.settings.name.clone(),
                        mine: mine.iter().map(|r| (*r).to_owned()).collect(),
                        on: None,
                        due: 0,
                        kind: "upcoming".into(),
                        text,
                        gathering: Some(view),
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
                    circle_name: doc.settings.name.clone(),
                    mine: Vec::new(),
                    on: None,
                    due: 0,
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
                // A gathering, and the contracts due at it, once each.
                r.gathering.as_ref().is_some_and(|g| {
                    let about = match r.kind.as_str() {
                        "upcoming" => g.planned.clone(),
                        kind => format!("{kind}:{}", g.planned),
                    };
                    seen.insert((r.circle.clone(), about, g.starts.clone()))
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
}

/// The circle's own roles as typed: each a valid name, none twice, at
/// most `rota::MAX_CIRCLE_ROLES`.
fn circle_roles(typed: &[String]) -> Result<Vec<String>, EngineError> {
    let mut roles: Vec<String> = Vec::new();
    for text in typed.iter().filter(|t| !t.trim().is_empty()) {
        let role = Role::circle(text)?;
        if roles.iter().any(|r| r.eq_ignore_ascii_case(role.name())) {
            return Err(EngineError::BadText("a role is named twice"));
        }
        roles.push(role.name().to_owned());
    }
    if roles.len() > circlekeep_model::rota::MAX_CIRCLE_ROLES {
        return Err(EngineError::BadText(
            "a circle adds at most 4 roles of its own",
        ));
    }
    Ok(roles)
}

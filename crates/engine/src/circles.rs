//! Circles and their members as this device sees them: founding, listing,
//! finding by a person's words, the full view, adding, removing, leaving.

use crate::circle::CircleRuntime;
use crate::select::select;
use crate::views::{CircleSummary, CircleView, ContractView, GatheringView, GoalView, MemberView};
use crate::{check_text, short_hex, views, DocId, HistoryPolicy, MemberCard, MemberId};
use crate::{CircleId, Engine, EngineError, Store};
use circlekeep_model::docs;
use circlekeep_model::membership::Membership;
use circlekeep_seal::card::fingerprint;
use std::collections::BTreeMap;

impl<S: Store> Engine<S> {
    /// Founds a circle with this device as its first member.
    pub fn create_circle(
        &self,
        name: &str,
        history: HistoryPolicy,
    ) -> Result<CircleId, EngineError> {
        let name = check_text(name, 200)?;
        let runtime = CircleRuntime::found(&self.ctx(), &name, history)?;
        let id = runtime.id;
        self.lock().insert(id, runtime);
        self.link_siblings(id)?;
        Ok(id)
    }

    /// Every circle this device holds.
    pub fn circles(&self) -> Result<Vec<CircleSummary>, EngineError> {
        let ids = self.store.circles().map_err(EngineError::store)?;
        let me = self.me.member_id();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let summary = self.with_circle(id, |c, _| {
                Ok(CircleSummary {
                    id: id.to_hex(),
                    short: id.short(),
                    name: c.circle_doc().map(|d| d.settings.name),
                    members: c.membership.members().len(),
                    member: c.membership.is_member(&me),
                    invitation: c.invitation,
                })
            })?;
            out.push(summary);
        }
        Ok(out)
    }

    /// Finds a circle by id prefix (4+ hex digits), name, or name prefix.
    pub fn find_circle(&self, selector: &str) -> Result<CircleId, EngineError> {
        let all = self.circles()?;
        let found = select(&all, selector, |c| &c.id, |c| c.name.as_deref())
            .map_err(|miss| miss.into_error(selector, EngineError::UnknownCircle))?;
        CircleId::from_hex(&found.id).map_err(|e| EngineError::Corrupt(e.to_string()))
    }

    /// A circle in full: settings, charter, members, gatherings, goals, contracts.
    pub fn circle(&self, id: CircleId) -> Result<CircleView, EngineError> {
        let me = self.me.member_id();
        self.with_circle(id, |c, _| {
            let doc = c.circle_doc().ok_or(EngineError::Unreadable)?;
            let names = profile_names(&doc);
            let name_of = |hex: &str| names.get(hex).cloned().unwrap_or_else(|| short_hex(hex));
            let mut goals: Vec<GoalView> = doc
                .goals
                .iter()
                .map(|(id, g)| GoalView {
                    id: id.clone(),
                    owner: g.owner.clone(),
                    owner_name: name_of(&g.owner),
                    text: g.text.as_str().to_owned(),
                    status: g.status.clone(),
                    created: g.created.clone(),
                    progress: {
                        let mut p: Vec<_> = g
                            .progress
                            .iter()
                            .map(|(id, n)| views::ProgressView {
                                id: id.clone(),
                                author: n.author.clone(),
                                author_name: name_of(&n.author),
                                text: n.text.clone(),
                                created: n.created.clone(),
                            })
                            .collect();
                        p.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
                        p
                    },
                    milestones: {
                        let mut m: Vec<_> = g
                            .milestones
                            .iter()
                            .map(|(id, m)| views::MilestoneView {
                                id: id.clone(),
                                text: m.text.clone(),
                                reached: m.reached.clone(),
                            })
                            .collect();
                        m.sort_by(|a, b| a.id.cmp(&b.id));
                        m
                    },
                })
                .collect();
            goals.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
            let mut contracts: Vec<ContractView> = doc
                .contracts
                .iter()
                .map(|(id, k)| ContractView {
                    id: id.clone(),
                    owner: k.owner.clone(),
                    owner_name: name_of(&k.owner),
                    text: k.text.as_str().to_owned(),
                    goal: k.goal.clone(),
                    gathering: k.gathering.clone(),
                    created: k.created.clone(),
                    outcome: k.report.outcome.clone(),
                    reflection: k.report.reflection.as_str().to_owned(),
                    reported: k.report.reported.clone(),
                    recorded_by: other_than(&k.owner, &k.recorded_by, &names),
                    reported_by: other_than(&k.owner, &k.report.reported_by, &names),
                })
                .collect();
            contracts.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
            Ok(CircleView {
                id: id.to_hex(),
                short: id.short(),
                name: doc.settings.name.clone(),
                purpose: doc.settings.purpose.as_str().to_owned(),
                history: c.history().name().to_owned(),
                charter: doc.charter.text.as_str().to_owned(),
                member: c.membership.is_member(&me),
                invitation: c.invitation,
                members: member_views(&c.membership, &names, &me),
                gatherings: gathering_views(c, &doc),
                goals,
                contracts,
                sealed_entries: c.sealed_entries(),
                rejected_entries: c.rejected_entries(),
                forks: fork_views(c, &names, &self.me.device_id()),
                keepers: c
                    .keepers()
                    .iter()
                    .map(crate::keepers::keeper_view)
                    .collect(),
            })
        })
    }

    /// The current members of a circle.
    pub fn members(&self, id: CircleId) -> Result<Vec<MemberView>, EngineError> {
        let me = self.me.member_id();
        self.with_circle(id, |c, _| {
            let names = c
                .circle_doc()
                .map(|d| profile_names(&d))
                .unwrap_or_default();
            Ok(member_views(&c.membership, &names, &me))
        })
    }

    /// Finds a current member by id prefix (4+ hex digits), name, or name prefix.
    pub fn find_member(&self, id: CircleId, selector: &str) -> Result<MemberId, EngineError> {
        let members = self.members(id)?;
        let found = select(&members, selector, |m| &m.id, |m| Some(m.name.as_str()))
            .map_err(|miss| miss.into_error(selector, EngineError::UnknownMember))?;
        MemberId::from_hex(&found.id).map_err(|e| EngineError::Corrupt(e.to_string()))
    }

    /// Adds the owner of a member card to a circle.
    pub fn add_member(&self, id: CircleId, card: &str) -> Result<MemberView, EngineError> {
        let card: MemberCard = card.parse()?;
        self.refuse_retired(&card)?;
        self.with_circle(id, |c, ctx| c.add_member(ctx, &card))?;
        Ok(MemberView {
            id: card.member.to_hex(),
            short: card.member.short(),
            name: card.name.clone(),
            fingerprint: card.fingerprint(),
            me: false,
        })
    }

    /// Removes a member; what is written afterwards is sealed away from them.
    pub fn remove_member(&self, id: CircleId, member: MemberId) -> Result<(), EngineError> {
        self.with_circle(id, |c, ctx| c.remove_member(ctx, member))
    }

    /// Leaves a circle.
    pub fn leave_circle(&self, id: CircleId) -> Result<(), EngineError> {
        self.with_circle(id, |c, ctx| c.leave(ctx))
    }

    /// The heads of every document this device can read, for checking that
    /// devices converged: document id → sorted change hashes (hex).
    pub fn heads(&self, id: CircleId) -> Result<BTreeMap<String, Vec<String>>, EngineError> {
        self.with_circle(id, |c, _| Ok(c.heads()))
    }
}

/// Display names by member (hex): a member without a name of their own
/// (see `CircleRuntime::bind_names`) is left out, so views show the short
/// id; names two members share carry the short id too, so no member can
/// pass as another by choosing the same name.
pub(crate) fn profile_names(doc: &docs::CircleDoc) -> BTreeMap<String, String> {
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    for p in doc.members.values().filter(|p| !p.name.is_empty()) {
        *taken.entry(p.name.trim().to_lowercase()).or_default() += 1;
    }
    doc.members
        .iter()
        .filter(|(_, p)| !p.name.is_empty())
        .map(|(id, p)| {
            let shared = taken[&p.name.trim().to_lowercase()] > 1;
            let name = if shared {
                format!("{} ({})", p.name, short_hex(id))
            } else {
                p.name.clone()
            };
            (id.clone(), name)
        })
        .collect()
}

pub(crate) fn member_views(
    membership: &Membership,
    names: &BTreeMap<String, String>,
    me: &MemberId,
) -> Vec<MemberView> {
    let mut views: Vec<MemberView> = membership
        .members()
        .iter()
        .map(|m| MemberView {
            id: m.to_hex(),
            short: m.short(),
            name: names.get(&m.to_hex()).cloned().unwrap_or_else(|| m.short()),
            fingerprint: fingerprint(m),
            me: m == me,
        })
        .collect();
    views.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    views
}

pub(crate) fn gathering_views(c: &CircleRuntime, doc: &docs::CircleDoc) -> Vec<GatheringView> {
    let mut views: Vec<GatheringView> = doc
        .gatherings
        .iter()
        .map(|(id, g)| {
            let readable = DocId::from_hex(id)
                .ok()
                .and_then(|d| c.doc(&d))
                .is_some_and(|d| docs::read_gathering(d).is_ok());
            GatheringView {
                id: id.clone(),
                short: id.chars().take(8).collect(),
                date: g.date.clone(),
                readable,
                report_on: g.report_on.clone(),
                follows: g.follows.clone(),
            }
        })
        .collect();
    views.sort_by(|a, b| (&a.date, &a.id).cmp(&(&b.date, &b.id)));
    views
}

/// `member` as a role holder, unless they are `owner` or nobody.
fn other_than(
    owner: &str,
    member: &str,
    names: &BTreeMap<String, String>,
) -> Option<views::RoleHolder> {
    (!member.is_empty() && member != owner).then(|| crate::plan::holder(names, member))
}

/// The current devices proven to have forked their logs here, under their
/// members (once retired, or its member removed, a device's fork grows no
/// more; the proof is still kept and handed on).
fn fork_views(
    c: &CircleRuntime,
    names: &BTreeMap<String, String>,
    this_device: &MemberId,
) -> Vec<views::ForkView> {
    c.forks()
        .iter()
        .filter(|(device, _)| c.membership.devices().contains_key(device))
        .map(|(device, at)| {
            let member = c.membership.owner(device).unwrap_or(*device);
            views::ForkView {
                device: device.to_hex(),
                device_short: device.short(),
                member: crate::plan::holder(names, &member.to_hex()),
                at: *at,
                this_device: device == this_device,
            }
        })
        .collect()
}

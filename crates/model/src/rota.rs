//! The rota: who facilitates, keeps time and hosts each gathering.
//!
//! Rules (a deterministic function of members, roles, gatherings,
//! absences and fixed roles, so every device computes the same rota):
//!
//! 1. Gatherings are assigned in date order; cancelled ones get nobody.
//! 2. A fixed role (a swap, or the roles frozen when a gathering was opened)
//!    stands as written, and counts like any other turn.
//! 3. The open roles (facilitator, timekeeper, host, then the circle's
//!    own, at most [`MAX_CIRCLE_ROLES`]) go to present members so that, in this order of preference: nobody holds two roles
//!    unless fewer members than roles are present; the sum of squares of
//!    how often each chosen member held the role (plus a quarter of their
//!    roles overall) is smallest; whoever held it longest ago (never before
//!    first) goes first; then a hash of gathering, role and member (so no
//!    one is always first in line).
//!
//! The least choice is found role by role over who is taken so far: exact
//! for up to 10 members present (18 with the practice's roles only);
//! beyond that the best [`KEPT_CHOICES`] partial choices are kept, still
//! the same on every device.
//!
//! Absent members are skipped and catch up later: coming back, they hold
//! the role least often and are first in line.

use std::collections::{BTreeMap, BTreeSet};

/// The most roles a circle may add beside the three of the practice.
pub const MAX_CIRCLE_ROLES: usize = 4;

/// Longest name of a circle's own role, in characters.
pub const MAX_ROLE_CHARS: usize = 40;

/// A role at a gathering.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Walks the circle through the agenda; carries the admin.
    Facilitator,
    /// Watches the clock.
    Timekeeper,
    /// Hosts (room, lunch).
    Host,
    /// A role the circle added (lunch, note-taker, …), by its name.
    Circle(String),
}

impl Role {
    /// The practice's roles, in assignment order.
    pub const CORE: [Role; 3] = [Role::Facilitator, Role::Timekeeper, Role::Host];

    /// The role's name in documents, the CLI and exports.
    pub fn name(&self) -> &str {
        match self {
            Role::Facilitator => "facilitator",
            Role::Timekeeper => "timekeeper",
            Role::Host => "host",
            Role::Circle(name) => name,
        }
    }

    /// The practice's role named `text`.
    pub fn parse(text: &str) -> Option<Role> {
        Role::CORE
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(text.trim()))
    }

    /// A role the circle adds, named `text`: letters, digits, spaces and
    /// hyphens, 1 to [`MAX_ROLE_CHARS`] characters, not a practice role's
    /// name. Spaces are trimmed and runs of them made one.
    pub fn circle(text: &str) -> Result<Role, crate::BadInput> {
        let name = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let allowed = |c: char| c.is_alphanumeric() || c == ' ' || c == '-';
        if name.is_empty()
            || name.chars().count() > MAX_ROLE_CHARS
            || !name.chars().all(allowed)
            || Role::parse(&name).is_some()
        {
            return Err(crate::BadInput {
                code: crate::ErrorCode::BadRole,
                expected: "a circle's own role is named in up to 40 letters, digits, spaces or hyphens, and is not facilitator, timekeeper or host",
            });
        }
        Ok(Role::Circle(name))
    }

    /// The circle's own roles as stored in its document: valid names only,
    /// each once (case aside), at most [`MAX_CIRCLE_ROLES`], in order. A
    /// hostile list costs no more than a short one.
    pub fn circle_roles<'a>(stored: impl IntoIterator<Item = &'a String>) -> Vec<Role> {
        let mut out: Vec<Role> = Vec::new();
        for text in stored.into_iter().take(64) {
            let Ok(role) = Role::circle(text) else {
                continue;
            };
            if !out
                .iter()
                .any(|r| r.name().eq_ignore_ascii_case(role.name()))
            {
                out.push(role);
            }
            if out.len() == MAX_CIRCLE_ROLES {
                break;
            }
        }
        out
    }
}

impl std::str::FromStr for Role {
    type Err = crate::BadInput;

    /// A practice role by name, or else a role of the circle's own.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match Role::parse(text) {
            Some(role) => Ok(role),
            None => Role::circle(text),
        }
    }
}

/// One gathering as the rota sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// A stable key (the gathering's planned date), for tie-breaking.
    pub key: String,
    /// Members who said they will not come.
    pub absent: BTreeSet<String>,
    /// Roles already decided (swaps, frozen roles).
    pub fixed: BTreeMap<Role, String>,
    /// Cancelled gatherings get no roles.
    pub cancelled: bool,
}

/// Who holds which role at one gathering.
pub type Assignment = BTreeMap<Role, String>;

/// How often (and when last) each member held each role, as the rota
/// goes through the year.
#[derive(Default)]
struct Record<'a> {
    held: BTreeMap<(&'a Role, &'a str), (u32, Option<usize>)>,
    total: BTreeMap<&'a str, u32>,
}

impl<'a> Record<'a> {
    /// What choosing `member` for `role` costs, to add up over a choice:
    /// (count, count², recency), where count includes a quarter of their
    /// roles overall.
    fn cost(&self, role: &Role, member: &str) -> (u64, u64, u64) {
        let (count, last) = self.held.get(&(role, member)).copied().unwrap_or((0, None));
        let count = count as u64 + self.total.get(member).copied().unwrap_or(0) as u64 / 4;
        (count, count * count, last.map_or(0, |l| l as u64 + 1))
    }

    fn count(&mut self, role: &'a Role, member: &'a str, index: usize) {
        let entry = self.held.entry((role, member)).or_insert((0, None));
        entry.0 += 1;
        entry.1 = Some(index);
        *self.total.entry(member).or_insert(0) += 1;
    }
}

/// The rota for `slots` (in date order) among `members`, for the
/// practice's roles and then `circle_roles` (the circle's own, in order).
pub fn assign(members: &[String], circle_roles: &[Role], slots: &[Slot]) -> Vec<Assignment> {
    assign_with(members, circle_roles, slots, assign_open)
}

/// How [`assign`] fills a gathering's open roles (tests compare it with
/// trying every assignment).
type Chooser = fn(&mut Assignment, &[Role], &[&str], &Slot, &Record<'_>);

fn assign_with(
    members: &[String],
    circle_roles: &[Role],
    slots: &[Slot],
    choose: Chooser,
) -> Vec<Assignment> {
    let roles: Vec<Role> = Role::CORE
        .into_iter()
        .chain(circle_roles.iter().take(MAX_CIRCLE_ROLES).cloned())
        .collect();
    let mut record = Record::default();
    let mut out = Vec::with_capacity(slots.len());
    for (index, slot) in slots.iter().enumerate() {
        let mut assignment = Assignment::new();
        if slot.cancelled {
            out.push(assignment);
            continue;
        }
        let present: Vec<&str> = members
            .iter()
            .map(String::as_str)
            .filter(|m| !slot.absent.contains(*m))
            .collect();
        for (role, member) in &slot.fixed {
            assignment.insert(role.clone(), member.clone());
        }
        choose(&mut assignment, &roles, &present, slot, &record);
        for (role, member) in &assignment {
            let known_role = roles.iter().find(|r| *r == role);
            let known_member = members.iter().find(|m| *m == member);
            if let (Some(r), Some(m)) = (known_role, known_member) {
                record.count(r, m.as_str(), index);
            }
        }
        out.push(assignment);
    }
    out
}

/// Most partial choices [`assign_open`] keeps per role.
const KEPT_CHOICES: usize = 1024;

/// A partial choice: its costs summed (doubled, squares, sum, recency),
/// its tie-breaks in role order, and who (index into those present) holds
/// each role so far.
type Choice = ((u32, u64, u64, u64), Vec<[u8; 8]>, Vec<usize>);

/// Those of `roles` that `assignment` leaves to fill, in order.
fn open_roles<'a>(assignment: &Assignment, roles: &'a [Role]) -> Vec<&'a Role> {
    roles
        .iter()
        .filter(|r| !assignment.contains_key(*r))
        .collect()
}

/// Fills the open ones of `roles` at `slot`, all together, with the least
/// (doubled, squares, sum, recency, tie-breaks). The costs add up role by
/// role, so keeping the best choice per set of members taken finds the
/// same choice as trying every assignment.
fn assign_open(
    assignment: &mut Assignment,
    roles: &[Role],
    present: &[&str],
    slot: &Slot,
    record: &Record<'_>,
) {
    let open = open_roles(assignment, roles);
    let taken: Vec<bool> = present
        .iter()
        .map(|m| assignment.values().any(|held| held == m))
        .collect();
    let mut states: BTreeMap<Vec<bool>, Choice> = BTreeMap::new();
    states.insert(taken, Default::default());
    for role in &open {
        let mut next: BTreeMap<Vec<bool>, Choice> = BTreeMap::new();
        for (taken, (sums, hashes, chosen)) in &states {
            for (i, m) in present.iter().enumerate() {
                let (count, square, last) = record.cost(role, m);
                let doubled = u32::from(taken[i]);
                let sums = (
                    sums.0 + doubled,
                    sums.1 + square,
                    sums.2 + count,
                    sums.3 + last,
                );
                let mut hashes = hashes.clone();
                hashes.push(tie_break(&slot.key, role, m));
                let mut now_taken = taken.clone();
                now_taken[i] = true;
                let better = next
                    .get(&now_taken)
                    .is_none_or(|(s, h, _)| (&sums, &hashes) < (s, h));
                if better {
                    let mut chosen = chosen.clone();
                    chosen.push(i);
                    next.insert(now_taken, (sums, hashes, chosen));
                }
            }
        }
        if next.len() > KEPT_CHOICES {
            let mut ranked: Vec<(Vec<bool>, Choice)> = next.into_iter().collect();
            ranked.sort_by(|a, b| (&a.1 .0, &a.1 .1).cmp(&(&b.1 .0, &b.1 .1)));
            ranked.truncate(KEPT_CHOICES);
            next = ranked.into_iter().collect();
        }
        states = next;
    }
    let best = states
        .into_values()
        .min_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    if let Some((_, _, chosen)) = best.filter(|(_, _, c)| c.len() == open.len()) {
        for (role, i) in open.into_iter().zip(chosen) {
            assignment.insert(role.clone(), present[i].to_owned());
        }
    }
}

fn tie_break(key: &str, role: &Role, member: &str) -> [u8; 8] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(key.as_bytes());
    hasher.update(role.name().as_bytes());
    hasher.update(member.as_bytes());
    let mut out = [0; 8];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    out
}

/// How often each member held `role` in `rota`.
pub fn counts(rota: &[Assignment], role: &Role) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for assignment in rota {
        if let Some(m) = assignment.get(role) {
            *out.entry(m.clone()).or_insert(0) += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    fn spread(rota: &[Assignment], members: &[String], role: Role) -> usize {
        let c = counts(rota, &role);
        let all: Vec<usize> = members
            .iter()
            .map(|m| c.get(m).copied().unwrap_or(0))
            .collect();
        all.iter().max().unwrap_or(&0) - all.iter().min().unwrap_or(&0)
    }

    #[test]
    fn a_full_year_without_absences_is_even() {
        let ms = members(6);
        let slots: Vec<Slot> = (0..26)
            .map(|i| Slot {
                key: format!("d{i}"),
                ..Default::default()
            })
            .collect();
        let rota = assign(&ms, &[], &slots);
        for role in Role::CORE {
            assert!(spread(&rota, &ms, role.clone()) <= 1, "{role:?}");
        }
        for a in &rota {
            let people: BTreeSet<&String> = a.values().collect();
            assert_eq!(people.len(), 3, "three different people: {a:?}");
        }
    }

    proptest! {
        /// Over a year with sporadic absences, nobody absent is given a role,
        /// and everyone's count of each role stays within one, plus the most
        /// gatherings anyone missed, of everyone else's.
        #[test]
        fn fair_over_a_year_with_absences(
            n in 3usize..=8,
            absences in prop::collection::vec(prop::collection::btree_set(0usize..8, 0..2), 26),
        ) {
            let ms = members(n);
            let slots: Vec<Slot> = absences
                .iter()
                .enumerate()
                .map(|(i, away)| Slot {
                    key: format!("d{i}"),
                    absent: away.iter().filter(|a| **a < n).map(|a| ms[*a].clone()).collect(),
                    ..Default::default()
                })
                .collect();
            let rota = assign(&ms, &[], &slots);
            for (slot, a) in slots.iter().zip(&rota) {
                for m in a.values() {
                    prop_assert!(!slot.absent.contains(m));
                }
            }
            // Someone away k times may miss up to k turns; nobody else falls behind.
            let most_absent = ms
                .iter()
                .map(|m| slots.iter().filter(|s| s.absent.contains(m)).count())
                .max()
                .unwrap_or(0);
            for role in Role::CORE {
                prop_assert!(
                    spread(&rota, &ms, role.clone()) <= 1 + most_absent,
                    "{:?}: {:?}", role, counts(&rota, &role)
                );
            }
        }

        /// The circle's own roles rotate as fairly as the practice's, and
        /// nobody holds two roles while someone present holds none.
        #[test]
        fn a_circle_s_own_roles_rotate_fairly(
            n in 3usize..=8,
            extra in 1usize..=MAX_CIRCLE_ROLES,
            absences in prop::collection::vec(prop::collection::btree_set(0usize..8, 0..2), 26),
        ) {
            let ms = members(n);
            let own: Vec<Role> = ["lunch", "note-taker", "snacks", "photos"][..extra]
                .iter()
                .map(|r| Role::circle(r).expect("a role name"))
                .collect();
            let slots: Vec<Slot> = absences
                .iter()
                .enumerate()
                .map(|(i, away)| Slot {
                    key: format!("d{i}"),
                    absent: away.iter().filter(|a| **a < n).map(|a| ms[*a].clone()).collect(),
                    ..Default::default()
                })
                .collect();
            let rota = assign(&ms, &own, &slots);
            let most_absent = ms
                .iter()
                .map(|m| slots.iter().filter(|s| s.absent.contains(m)).count())
                .max()
                .unwrap_or(0);
            for (slot, a) in slots.iter().zip(&rota) {
                let present = n - slot.absent.iter().filter(|m| ms.contains(m)).count();
                prop_assert_eq!(a.len(), 3 + extra, "every role filled: {:?}", a);
                let people: BTreeSet<&String> = a.values().collect();
                prop_assert_eq!(people.len(), present.min(3 + extra), "{:?}", a);
                for m in a.values() {
                    prop_assert!(!slot.absent.contains(m));
                }
            }
            for role in own {
                prop_assert!(
                    spread(&rota, &ms, role.clone()) <= 1 + most_absent,
                    "{:?}: {:?}", role, counts(&rota, &role)
                );
            }
        }

        /// A swap (two fixed roles exchanging the computed holders) stands
        /// as written, and the rest of the year stays fair around it.
        #[test]
        fn swaps_keep_counts(n in 3usize..=8, a in 0usize..26, b in 0usize..26) {
            let ms = members(n);
            let mut slots: Vec<Slot> = (0..26)
                .map(|i| Slot { key: format!("d{i}"), ..Default::default() })
                .collect();
            let before = assign(&ms, &[], &slots);
            let (x, y) = (before[a][&Role::Facilitator].clone(), before[b][&Role::Facilitator].clone());
            slots[a].fixed.insert(Role::Facilitator, y.clone());
            slots[b].fixed.insert(Role::Facilitator, x.clone());
            let after = assign(&ms, &[], &slots);
            prop_assert_eq!(&after[a][&Role::Facilitator], &y);
            prop_assert_eq!(&after[b][&Role::Facilitator], &x);
            prop_assert!(spread(&after, &ms, Role::Facilitator) <= 2);
        }
    }

    /// Tries every assignment of `present` to the open roles.
    fn brute_force(
        assignment: &mut Assignment,
        roles: &[Role],
        present: &[&str],
        slot: &Slot,
        record: &Record<'_>,
    ) {
        let open = open_roles(assignment, roles);
        let busy: BTreeSet<&str> = assignment.values().map(String::as_str).collect();
        let mut every: Vec<Vec<&str>> = vec![Vec::new()];
        for _ in &open {
            every = every
                .into_iter()
                .flat_map(|prefix| {
                    present
                        .iter()
                        .map(move |m| [prefix.clone(), vec![*m]].concat())
                })
                .collect();
        }
        let cost = |choice: &[&str]| {
            let mut people = busy.clone();
            let mut sums = (0u32, 0u64, 0u64, 0u64);
            let mut hashes = Vec::new();
            for (role, m) in open.iter().zip(choice) {
                let (count, square, last) = record.cost(role, m);
                sums.0 += u32::from(!people.insert(m));
                sums.1 += square;
                sums.2 += count;
                sums.3 += last;
                hashes.push(tie_break(&slot.key, role, m));
            }
            (sums, hashes)
        };
        if let Some(best) = every
            .iter()
            .filter(|_| !present.is_empty())
            .min_by_key(|c| cost(c))
        {
            for (role, m) in open.iter().zip(best) {
                assignment.insert((*role).clone(), (*m).to_owned());
            }
        }
    }

    proptest! {
        /// Role by role over who is taken finds what trying every
        /// assignment finds, swaps and absences included.
        #[test]
        fn the_search_finds_the_least_choice(
            n in 1usize..=6,
            extra in 0usize..=2,
            absences in prop::collection::vec(prop::collection::btree_set(0usize..6, 0..3), 10),
            swap in prop::option::of((0usize..10, 0usize..6)),
        ) {
            let ms = members(n);
            let own: Vec<Role> = ["lunch", "notes"][..extra]
                .iter()
                .map(|r| Role::circle(r).expect("a role name"))
                .collect();
            let mut slots: Vec<Slot> = absences
                .iter()
                .enumerate()
                .map(|(i, away)| Slot {
                    key: format!("d{i}"),
                    absent: away.iter().filter(|a| **a < n).map(|a| ms[*a].clone()).collect(),
                    ..Default::default()
                })
                .collect();
            if let Some((at, who)) = swap.filter(|(_, who)| *who < n) {
                slots[at].fixed.insert(Role::Timekeeper, ms[who].clone());
            }
            prop_assert_eq!(
                assign(&ms, &own, &slots),
                assign_with(&ms, &own, &slots, brute_force)
            );
        }
    }

    #[test]
    fn cancelled_gatherings_and_lone_members() {
        let ms = members(2);
        let slots = vec![
            Slot {
                key: "a".into(),
                cancelled: true,
                ..Default::default()
            },
            Slot {
                key: "b".into(),
                ..Default::default()
            },
        ];
        let rota = assign(&ms, &[], &slots);
        assert!(rota[0].is_empty());
        assert_eq!(rota[1].len(), 3, "two members still fill three roles");
    }
}

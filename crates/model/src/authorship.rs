//! Who wrote what: the fields of a document that name a member (a note's
//! author, a goal's or contract's owner, who opened a gathering, whose
//! acceptance of the charter, whose display name) are set from the signer
//! of the operation that wrote them, never taken as the document says.
//!
//! Every Automerge change in a circle is signed by its author's device key
//! and its actor id is that device id (ingest refuses any other), so the
//! actor in an operation's id *is* the signing device, and the member is
//! the device's owner in the membership log (`owner` below maps a device's
//! hex id to its member's). Any member can put any field
//! in the shared documents, so a field saying `"author": "<Ada>"` proves
//! nothing; the id of the operation that created the note does. Records are
//! created whole by their author (`put_record`, `put_note`), so the author of
//! a record is the actor of the operation that put its object in place.
//!
//! Rules (each tested below and attacked in `tests/it/authorship.rs`):
//! - a note, goal, contract, progress note or gathering belongs to whoever
//!   created its object: a copy of Ada's fields made by Mallory is Mallory's;
//! - except a contract recorded on its owner's behalf (the facilitator
//!   writing down Ada's commitment): it is the named owner's only while its
//!   creator also wrote `owner` and `on_behalf`, and always says who
//!   recorded it, as a report back says who set its outcome;
//! - a charter acceptance, and a member's pulse after a gathering, count
//!   only if the member wrote them themself;
//! - a display name is shown only if written by the member or by who added
//!   them (the engine checks the adder against the membership log).
//!
//! Overwriting someone's record or name is still possible for a member (the
//! documents are shared), but it shows as the overwriter's, or as no name:
//! the attack becomes a visible erasure, never a spoof.

use crate::docs::{CircleDoc, Contract, GatheringDoc};
use automerge::{ObjId, ObjType, ReadDoc, Value, ROOT};
use std::collections::HashMap;

/// Maps the hex id of the device that signed a change to its member's hex
/// id (a member's first device is the member itself).
pub type Owner<'a> = &'a dyn Fn(String) -> String;

/// The identity map: every device is its own member (documents read with
/// no membership log at hand).
pub fn own(device: String) -> String {
    device
}

/// The member (hex id) whose device's operation put the current value at
/// `key` of `obj`, if there is one.
fn writer(doc: &impl ReadDoc, owner: Owner<'_>, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (_, ObjId::Id(_, actor, _)) => Some(owner(actor.to_hex_string())),
        (_, ObjId::Root) => None,
    }
}

/// The map object at `path` from the root, if there is one.
fn map_at(doc: &impl ReadDoc, path: &[&str]) -> Option<ObjId> {
    let mut obj = ROOT;
    for key in path {
        match doc.get(&obj, *key).ok()?? {
            (Value::Object(ObjType::Map), id) => obj = id,
            _ => return None,
        }
    }
    Some(obj)
}

/// Who created each record of the map at `path`: record key → member hex.
fn creators(doc: &impl ReadDoc, owner: Owner<'_>, path: &[&str]) -> HashMap<String, String> {
    let Some(obj) = map_at(doc, path) else {
        return HashMap::new();
    };
    doc.keys(&obj)
        .filter_map(|key| writer(doc, owner, &obj, &key).map(|w| (key, w)))
        .collect()
}

/// Sets each claimed author of `circle` (read from `doc`) from the signer:
/// owners of goals and contracts, authors of progress notes, openers of
/// gatherings; drops charter acceptances a member did not write.
pub fn attribute_circle(doc: &impl ReadDoc, owner: Owner<'_>, circle: &mut CircleDoc) {
    let goals = creators(doc, owner, &["goals"]);
    for (id, goal) in &mut circle.goals {
        goal.owner = goals.get(id).cloned().unwrap_or_default();
        let progress = creators(doc, owner, &["goals", id, "progress"]);
        for (note_id, note) in &mut goal.progress {
            note.author = progress.get(note_id).cloned().unwrap_or_default();
        }
    }
    let contracts = creators(doc, owner, &["contracts"]);
    for (id, contract) in &mut circle.contracts {
        attribute_contract(doc, owner, id, contract, contracts.get(id));
    }
    let gatherings = creators(doc, owner, &["gatherings"]);
    for (id, gathering) in &mut circle.gatherings {
        gathering.opened_by = gatherings.get(id).cloned().unwrap_or_default();
    }
    circle.charter.accepted.retain(|member, _| {
        written_by(
            doc,
            owner,
            &["charter", "accepted", member],
            &["at", "version"],
            member,
        )
    });
}

/// A contract's owner, recorder and reporter, from the signers.
fn attribute_contract(
    doc: &impl ReadDoc,
    owner: Owner<'_>,
    id: &str,
    contract: &mut Contract,
    creator: Option<&String>,
) {
    let recorder = creator.cloned().unwrap_or_default();
    let on_behalf = contract.on_behalf
        && !contract.owner.is_empty()
        && written_by(
            doc,
            owner,
            &["contracts", id],
            &["owner", "on_behalf"],
            &recorder,
        );
    if !on_behalf {
        contract.owner = recorder.clone();
    }
    contract.on_behalf = on_behalf && contract.owner != recorder;
    contract.recorded_by = recorder;
    contract.report.reported_by = map_at(doc, &["contracts", id, "report"])
        .and_then(|report| writer(doc, owner, &report, "outcome"))
        .filter(|_| !contract.report.outcome.is_empty())
        .unwrap_or_default();
}

/// Whether every one of `keys` of the map at `path` was last written by `member`.
fn written_by(
    doc: &impl ReadDoc,
    owner: Owner<'_>,
    path: &[&str],
    keys: &[&str],
    member: &str,
) -> bool {
    map_at(doc, path).is_some_and(|obj| {
        keys.iter()
            .all(|key| writer(doc, owner, &obj, key).as_deref() == Some(member))
    })
}

/// Sets each note's author in `gathering` (read from `doc`) from the signer.
pub fn attribute_gathering(doc: &impl ReadDoc, owner: Owner<'_>, gathering: &mut GatheringDoc) {
    let notes = creators(doc, owner, &["notes"]);
    for (id, note) in &mut gathering.notes {
        note.author = notes.get(id).cloned().unwrap_or_default();
    }
    // A member's pulse counts only as they answered it themself.
    gathering.pulse.retain(|member, _| {
        written_by(
            doc,
            owner,
            &["pulse", member],
            &["heard", "useful", "time_fair", "at"],
            member,
        )
    });
}

/// Who wrote each member's current display name: member hex → writer hex.
pub fn name_writers(doc: &impl ReadDoc, owner: Owner<'_>) -> HashMap<String, String> {
    let Some(members) = map_at(doc, &["members"]) else {
        return HashMap::new();
    };
    doc.keys(&members)
        .filter_map(|member| {
            let profile = map_at(doc, &["members", &member])?;
            writer(doc, owner, &profile, "name").map(|w| (member, w))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::{self, CircleMap, Note, Profile};
    use automerge::AutoCommit;

    const ADA: [u8; 32] = [0xad; 32];
    const MALLORY: [u8; 32] = [0x66; 32];

    fn hex(actor: [u8; 32]) -> String {
        automerge::ActorId::from(actor).to_hex_string()
    }

    fn note_by(claimed: [u8; 32]) -> Note {
        Note {
            author: hex(claimed),
            text: autosurgeon::Text::with_value("I was there"),
            ..Default::default()
        }
    }

    #[test]
    fn a_note_is_its_creator_s_whatever_its_author_field_says() {
        let mut ada = docs::new_doc(&ADA);
        docs::init_gathering(&mut ada, &GatheringDoc::default()).expect("init");
        docs::put_note(&mut ada, "a", &note_by(ADA)).expect("ada's note");
        let mut mallory = ada.fork().with_actor(MALLORY.as_slice().into());
        docs::put_note(&mut mallory, "m", &note_by(ADA)).expect("spoofed note");
        // Mallory also rewrites the author field of Ada's own note.
        docs::put_value(&mut mallory, &["notes", "a"], "author", Some(hex(MALLORY)))
            .expect("forged field");
        let read = docs::read_gathering(&mallory).expect("read");
        assert_eq!(read.notes["a"].author, hex(ADA));
        assert_eq!(read.notes["m"].author, hex(MALLORY));
    }

    proptest::proptest! {
        /// Whoever claims what, and in whatever order the writers' changes
        /// merge, each note is attributed to the actor that created it.
        #[test]
        fn every_note_is_attributed_to_its_creator(
            writes in proptest::collection::vec((0u8..4, 0u8..4, 0usize..6, proptest::bool::ANY), 1..40),
            order in proptest::collection::vec(0usize..4, 4),
        ) {
            let actor = |i: u8| [0x10 + i; 32];
            let mut base = docs::new_doc(&actor(0));
            docs::init_gathering(&mut base, &GatheringDoc::default()).expect("init");
            let mut writers: Vec<AutoCommit> =
                (0..4).map(|i| base.fork().with_actor(actor(i).as_slice().into())).collect();
            let mut created = std::collections::HashMap::new();
            for (by, claimed, note, forge_field) in writes {
                let id = format!("n{note}");
                let doc = &mut writers[usize::from(by)];
                if forge_field && docs::has_note(doc, &id) {
                    docs::put_value(doc, &["notes", &id], "author", Some(hex(actor(claimed))))
                        .expect("forge");
                } else {
                    docs::put_note(doc, &id, &note_by(actor(claimed))).expect("note");
                    created.insert((by, id), ());
                }
            }
            let mut merged = base.fork();
            for i in order {
                merged.merge(&mut writers[i]).expect("merge");
            }
            let read = docs::read_gathering(&merged).expect("read");
            for (id, note) in &read.notes {
                let creators: Vec<String> = (0..4)
                    .filter(|by| created.contains_key(&(*by, id.clone())))
                    .map(|by| hex(actor(by)))
                    .collect();
                proptest::prop_assert!(creators.contains(&note.author), "{id}: {} not in {creators:?}", note.author);
            }
        }
    }

    fn contract_for(owner: [u8; 32], on_behalf: bool) -> Contract {
        Contract {
            owner: hex(owner),
            on_behalf,
            text: autosurgeon::Text::with_value("Ask for the review"),
            ..Default::default()
        }
    }

    #[test]
    fn a_contract_recorded_on_a_members_behalf_says_who_recorded_it() {
        const BEN: [u8; 32] = [0xbe; 32];
        let mut ada = docs::new_doc(&ADA);
        docs::init_circle(&mut ada, &CircleDoc::default()).expect("init");
        docs::put_record(
            &mut ada,
            CircleMap::Contracts,
            "own",
            &contract_for(ADA, false),
        )
        .expect("ada's own");
        // Ben, facilitating, writes down Ada's next contract for her.
        let mut ben = ada.fork().with_actor(BEN.as_slice().into());
        docs::put_record(
            &mut ben,
            CircleMap::Contracts,
            "for",
            &contract_for(ADA, true),
        )
        .expect("recorded for ada");
        // Mallory tries to pass Ada's own contract off as Ben's, recorded by
        // Ada, and reports it broken.
        let mut mallory = ben.fork().with_actor(MALLORY.as_slice().into());
        docs::put_value(&mut mallory, &["contracts", "own"], "owner", Some(hex(BEN)))
            .expect("forged owner");
        docs::put_value(&mut mallory, &["contracts", "own"], "on_behalf", Some(true))
            .expect("forged flag");
        docs::put_value(
            &mut mallory,
            &["contracts", "own", "report"],
            "outcome",
            Some("not"),
        )
        .expect("report");
        let read = docs::read_circle(&mallory).expect("read");
        let own = &read.contracts["own"];
        assert_eq!(
            (own.owner.as_str(), own.on_behalf),
            (hex(ADA).as_str(), false)
        );
        assert_eq!(own.recorded_by, hex(ADA));
        assert_eq!(own.report.reported_by, hex(MALLORY));
        let recorded = &read.contracts["for"];
        assert_eq!(
            (recorded.owner.as_str(), recorded.on_behalf),
            (hex(ADA).as_str(), true)
        );
        assert_eq!(recorded.recorded_by, hex(BEN));
        assert_eq!(
            recorded.report.reported_by, "",
            "no outcome yet, no reporter"
        );
    }

    #[test]
    fn an_acceptance_counts_only_if_the_member_wrote_it() {
        let mut ada = docs::new_doc(&ADA);
        docs::init_circle(&mut ada, &CircleDoc::default()).expect("init");
        let mut mallory = ada.fork().with_actor(MALLORY.as_slice().into());
        let acceptance = docs::Acceptance {
            at: "2026-12-03T09:00:00Z".into(),
            version: "v".into(),
        };
        docs::put_at(
            &mut mallory,
            &["charter", "accepted"],
            &hex(ADA),
            &acceptance,
        )
        .expect("forged acceptance");
        docs::put_at(
            &mut mallory,
            &["charter", "accepted"],
            &hex(MALLORY),
            &acceptance,
        )
        .expect("own acceptance");
        let read = docs::read_circle(&mallory).expect("read");
        assert_eq!(
            read.charter.accepted.keys().collect::<Vec<_>>(),
            [&hex(MALLORY)]
        );
    }

    #[test]
    fn a_pulse_counts_only_if_the_member_answered_it() {
        let mut ada = docs::new_doc(&ADA);
        docs::init_gathering(&mut ada, &GatheringDoc::default()).expect("init");
        let answer = |n| docs::Pulse {
            heard: n,
            useful: n,
            time_fair: n,
            at: "2026-12-03T21:00:00Z".into(),
        };
        docs::put_at(&mut ada, &["pulse"], &hex(ADA), &answer(5)).expect("ada's own");
        let mut mallory = ada.fork().with_actor(MALLORY.as_slice().into());
        // Mallory answers for a member who did not, and lowers Ada's score.
        docs::put_at(&mut mallory, &["pulse"], &hex([0xbb; 32]), &answer(1)).expect("forged");
        docs::put_value(&mut mallory, &["pulse", &hex(ADA)], "heard", Some(1u64))
            .expect("overwritten");
        docs::put_at(&mut mallory, &["pulse"], &hex(MALLORY), &answer(2)).expect("own");
        let read = docs::read_gathering(&mallory).expect("read");
        assert_eq!(read.pulse.keys().collect::<Vec<_>>(), [&hex(MALLORY)]);
    }

    #[test]
    fn a_name_is_known_by_who_wrote_it() {
        let mut ada = docs::new_doc(&ADA);
        docs::init_circle(&mut ada, &CircleDoc::default()).expect("init");
        let profile = |name: &str| Profile {
            name: name.into(),
            joined: String::new(),
        };
        docs::put_record(&mut ada, CircleMap::Members, &hex(ADA), &profile("Ada"))
            .expect("ada names herself");
        let mut mallory = ada.fork().with_actor(MALLORY.as_slice().into());
        docs::put_value(
            &mut mallory,
            &["members", &hex(ADA)],
            "name",
            Some("Mallory"),
        )
        .expect("renamed");
        assert_eq!(name_writers(&ada, &own)[&hex(ADA)], hex(ADA));
        assert_eq!(name_writers(&mallory, &own)[&hex(ADA)], hex(MALLORY));
    }
}

//! Strong removal of content: which entries a removal's cut voids.

use super::*;

fn cut(log: &mut Log, author: u8, removal: OpHash, held: &[(u8, u64)]) -> OpHash {
    let held = held.iter().map(|(d, s)| (m(*d), *s)).collect();
    log.push(author, vec![removal], Action::Cut { removal, held })
}

/// Ada (1) founds with Bo (2) and Cy (3); returns the log and its heads
/// before any removal.
fn circle() -> (Log, Vec<OpHash>) {
    let mut log = Log::new(1);
    log.add(1, 2);
    log.add(1, 3);
    let before = log.heads();
    (log, before)
}

#[test]
fn an_entry_past_the_cut_is_void_unless_it_knows_of_the_removal() {
    let (mut log, before) = circle();
    let removal = log.remove_after(1, 2, before.clone());
    cut(&mut log, 1, removal, &[(2, 5)]);
    let state = log.state();
    assert!(!state.voids_entry(&m(2), 5, &before), "held by the remover");
    assert!(state.voids_entry(&m(2), 6, &before), "past the cut");
    assert!(state.voids_entry(&m(2), 6, &[]), "naming no heads at all");
    assert!(!state.voids_entry(&m(3), 60, &before), "another member's");
    // Bo, added again after the removal, writes knowing of it.
    log.add(1, 2);
    let after = log.heads();
    let state = log.state();
    assert!(!state.voids_entry(&m(2), 60, &after));
    assert!(state.voids_entry(&m(2), 60, &before), "still backdated");
}

#[test]
fn a_removal_without_a_cut_voids_no_entry() {
    let (mut log, before) = circle();
    log.remove_after(1, 2, before.clone());
    assert!(!log.state().voids_entry(&m(2), 1000, &before));
}

#[test]
fn of_two_removals_the_highest_cut_counts() {
    let (mut log, before) = circle();
    let by_ada = log.remove_after(1, 2, before.clone());
    let by_cy = log.remove_after(3, 2, before.clone());
    cut(&mut log, 1, by_ada, &[(2, 3)]);
    cut(&mut log, 3, by_cy, &[(2, 7)]);
    let state = log.state();
    assert!(!state.voids_entry(&m(2), 7, &before));
    assert!(state.voids_entry(&m(2), 8, &before));
    // An entry that knows of one removal only is judged by the other.
    assert!(!state.voids_entry(&m(2), 7, &[by_ada]));
    assert!(state.voids_entry(&m(2), 4, &[by_cy]));
}

#[test]
fn a_void_removal_s_cut_voids_nothing() {
    // Bo answers Ada's removal with a backdated removal of Ada and a cut
    // at 0: Ada is senior, so Bo's removal is void, and so is its cut.
    let (mut log, before) = circle();
    let by_ada = log.remove_after(1, 2, before.clone());
    cut(&mut log, 1, by_ada, &[(2, 4)]);
    let by_bo = log.remove_after(2, 1, before.clone());
    cut(&mut log, 2, by_bo, &[(1, 0)]);
    let state = log.state();
    assert!(!state.voids_entry(&m(1), 100, &before));
    assert!(state.voids_entry(&m(2), 5, &before));
}

#[test]
fn a_retired_device_s_entries_past_its_cut_are_void_and_its_member_s_stay() {
    let (mut log, before) = circle();
    let link = log.link_after(2, 2, 20, before);
    let linked = vec![link];
    let retire = log.retire_after(2, 20, linked.clone());
    cut(&mut log, 2, retire, &[(20, 4)]);
    let state = log.state();
    assert!(!state.voids_entry(&m(20), 4, &linked));
    assert!(state.voids_entry(&m(20), 5, &linked));
    assert!(
        !state.voids_entry(&m(2), 500, &linked),
        "the member's other device"
    );
}

#[test]
fn a_device_the_cut_does_not_name_is_cut_at_zero() {
    let (mut log, before) = circle();
    let link = log.link_after(2, 2, 20, before);
    let removal = log.remove_after(1, 2, vec![link]);
    cut(&mut log, 1, removal, &[(2, 9)]);
    let state = log.state();
    assert!(state.voids_entry(&m(20), 1, &[link]));
    assert!(!state.voids_entry(&m(2), 9, &[link]));
}

#[test]
fn a_cut_must_follow_its_author_s_own_removal_at_once() {
    let (mut log, before) = circle();
    let removal = log.remove_after(1, 2, before.clone());
    let add = log.add_after(1, 4, vec![removal]);
    let bad = [
        // Not the removal's author.
        make(
            Some(log.circle),
            3,
            vec![removal],
            Action::Cut {
                removal,
                held: vec![],
            },
        ),
        // Not right after it.
        make(
            Some(log.circle),
            1,
            vec![add],
            Action::Cut {
                removal,
                held: vec![],
            },
        ),
        // Not a removal.
        make(
            Some(log.circle),
            1,
            vec![add],
            Action::Cut {
                removal: add,
                held: vec![],
            },
        ),
        // A device named twice.
        make(
            Some(log.circle),
            1,
            vec![removal],
            Action::Cut {
                removal,
                held: vec![(m(2), 9), (m(2), 1)],
            },
        ),
        // Too many devices.
        make(
            Some(log.circle),
            1,
            vec![removal],
            Action::Cut {
                removal,
                held: (0..=MAX_CUT_DEVICES as u8).map(|d| (m(d), 0)).collect(),
            },
        ),
    ];
    let bad_hashes: Vec<OpHash> = bad.iter().map(|op| op.hash).collect();
    let (state, rejected) = Membership::build(log.circle, log.ops.iter().cloned().chain(bad));
    for hash in bad_hashes {
        assert!(
            rejected.contains(&(hash, OpRejection::BadCut)),
            "{hash:?} not refused: {rejected:?}"
        );
    }
    assert!(!state.voids_entry(&m(2), 1000, &before));
}

#[test]
fn a_leave_is_cut_by_the_others_and_what_the_leaver_writes_past_it_is_void() {
    let (mut log, before) = circle();
    let leave = log.push(2, before.clone(), Action::Leave);
    assert!(
        !log.state().voids_entry(&m(2), 1000, &before),
        "nobody has cut it yet"
    );
    assert_eq!(
        log.state().uncut_leaves(&m(1)),
        vec![(leave, vec![m(2)])],
        "Ada should cut it"
    );
    assert!(
        log.state().uncut_leaves(&m(2)).is_empty(),
        "never the leaver"
    );
    cut(&mut log, 1, leave, &[(2, 5)]);
    let state = log.state();
    assert!(state.uncut_leaves(&m(1)).is_empty(), "cut once");
    assert!(!state.voids_entry(&m(2), 5, &before), "held by Ada");
    assert!(state.voids_entry(&m(2), 6, &before), "past Ada's cut");
    assert!(!state.voids_entry(&m(3), 60, &before), "another member's");
}

#[test]
fn neither_the_leaver_for_another_device_nor_one_who_has_not_seen_the_leave_cuts_it() {
    let (mut log, before) = circle();
    let link = log.link_after(2, 2, 20, before.clone());
    let leave = log.push(2, vec![link], Action::Leave);
    let cut_by = |author: u8, deps: Vec<OpHash>, device: u8| {
        let held = vec![(m(device), u64::MAX)];
        make(
            Some(log.circle),
            author,
            deps,
            Action::Cut {
                removal: leave,
                held,
            },
        )
    };
    let bad = [
        // The leaver, for its other device.
        cut_by(2, vec![leave], 20),
        // The leaver's other device.
        cut_by(20, vec![leave], 20),
        // Cy, naming heads without the leave.
        cut_by(3, vec![link], 2),
    ];
    let refused: Vec<OpHash> = bad.iter().map(|op| op.hash).collect();
    let (state, rejected) = Membership::build(log.circle, log.ops.iter().cloned().chain(bad));
    for hash in refused {
        assert!(
            rejected.iter().any(|(h, _)| *h == hash),
            "{hash:?} not refused: {rejected:?}"
        );
    }
    assert_eq!(state.uncut_leaves(&m(3)), vec![(leave, vec![m(2), m(20)])]);
    cut(&mut log, 3, leave, &[(2, 1), (20, 1)]);
    assert!(log.state().voids_entry(&m(20), 2, &[link]));
}

#[test]
fn the_leaving_device_s_own_cut_keeps_its_last_notes() {
    // Bo wrote up to 8 and left; Ada heard of the leave holding 5.
    let (mut log, before) = circle();
    let leave = log.push(2, before.clone(), Action::Leave);
    cut(&mut log, 2, leave, &[(2, 8)]);
    cut(&mut log, 1, leave, &[(2, 5)]);
    let state = log.state();
    assert!(
        !state.voids_entry(&m(2), 8, &before),
        "written before leaving"
    );
    assert!(state.voids_entry(&m(2), 9, &before), "written after");
    assert!(
        state.uncut_leaves(&m(2)).is_empty(),
        "the leaver is not asked to cut for the others"
    );
}

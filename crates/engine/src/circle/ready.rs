//! Which decrypted entries a document can take now: those whose changes'
//! dependencies are all in it (or come earlier in the same batch), in an
//! order that puts every dependency first. The rest wait here, in the
//! runtime's `queued`, not in Automerge's own queue: Automerge would apply a
//! queued change the moment its dependency arrives, so a change that fails
//! only then (a member can sign one) would be blamed on the honest entry
//! that brought the dependency. Here it is applied, and blamed, alone.

use super::{CircleRuntime, Position};
use automerge::{AutoCommit, Change, ChangeHash};
use circlekeep_model::DocId;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

/// An entry's decrypted changes.
pub(super) type Item = (Position, Vec<Change>);

/// An entry held back until a change it depends on is in its document.
pub(super) struct Waiting {
    doc: DocId,
    changes: Vec<Change>,
    /// A dependency not in the document yet.
    on: ChangeHash,
}

/// Splits `items` into those `doc` can take now, every item after the
/// items it depends on, and those that wait, each with a dependency
/// missing (in the document and among the ready ones).
pub(super) fn in_order(
    doc: &mut AutoCommit,
    items: Vec<Item>,
) -> (Vec<Item>, Vec<(Item, ChangeHash)>) {
    let produced: HashMap<ChangeHash, usize> = items
        .iter()
        .enumerate()
        .flat_map(|(i, (_, changes))| changes.iter().map(move |c| (c.hash(), i)))
        .collect();
    // What the document lacks of what the batch does not bring itself (one
    // look at its change graph; nothing waits in Automerge's queue).
    let outside: Vec<ChangeHash> = items
        .iter()
        .flat_map(|(_, changes)| changes.iter().flat_map(|c| c.deps().iter().copied()))
        .filter(|dep| !produced.contains_key(dep))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let absent: HashSet<ChangeHash> = if outside.is_empty() {
        HashSet::new()
    } else {
        doc.get_missing_deps(&outside).into_iter().collect()
    };
    // Per item: how many other items it waits for, and whether it needs
    // a change nobody here has.
    let mut waits_for = vec![0usize; items.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    let mut missing: Vec<Option<ChangeHash>> = vec![None; items.len()];
    for (i, (_, changes)) in items.iter().enumerate() {
        let deps: BTreeSet<ChangeHash> = changes
            .iter()
            .flat_map(|c| c.deps().iter().copied())
            .collect();
        for dep in deps {
            match produced.get(&dep) {
                Some(&j) if j == i => {}
                Some(&j) => {
                    waits_for[i] += 1;
                    dependents[j].push(i);
                }
                None if absent.contains(&dep) => missing[i] = missing[i].or(Some(dep)),
                None => {}
            }
        }
    }
    let mut next: VecDeque<usize> = (0..items.len())
        .filter(|&i| waits_for[i] == 0 && missing[i].is_none())
        .collect();
    let mut order = Vec::with_capacity(items.len());
    while let Some(i) = next.pop_front() {
        order.push(i);
        for &k in &dependents[i] {
            waits_for[k] -= 1;
            if waits_for[k] == 0 && missing[k].is_none() {
                next.push_back(k);
            }
        }
    }
    let is_ready: BTreeSet<usize> = order.iter().copied().collect();
    let mut slots: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    let mut ready: Vec<Item> = order.iter().filter_map(|&i| slots[i].take()).collect();
    let mut waiting = Vec::new();
    for (i, slot) in slots.iter_mut().enumerate() {
        let Some(item) = slot.take() else { continue };
        // What it waits on: a change nobody here has, or one of an item
        // that waits itself.
        let on = missing[i].or_else(|| {
            item.1
                .iter()
                .flat_map(|c| c.deps().iter())
                .find(|d| produced.get(d).is_some_and(|j| !is_ready.contains(j)))
                .copied()
        });
        match on {
            Some(on) => waiting.push((item, on)),
            // Cannot happen (it would be ready); Automerge decides then.
            None => ready.push(item),
        }
    }
    (ready, waiting)
}

impl CircleRuntime {
    /// Holds `item` of `doc` back until the change `on` is in `doc`.
    pub(super) fn hold_back(&mut self, doc: DocId, (position, changes): Item, on: ChangeHash) {
        self.release(&position);
        self.waiting_on
            .entry((doc, on))
            .or_default()
            .insert(position);
        self.queued.insert(position, Waiting { doc, changes, on });
    }

    /// Forgets that the entry at `position` waits (applied, refused or
    /// about to be tried again).
    pub(super) fn release(&mut self, position: &Position) -> Option<Item> {
        let waiting = self.queued.remove(position)?;
        let key = (waiting.doc, waiting.on);
        if let Some(set) = self.waiting_on.get_mut(&key) {
            set.remove(position);
            if set.is_empty() {
                self.waiting_on.remove(&key);
            }
        }
        Some((*position, waiting.changes))
    }

    /// The held-back entries of `doc` that waited on one of `arrived`
    /// (taken out: to be tried again).
    pub(super) fn woken_by(&mut self, doc: DocId, arrived: &[ChangeHash]) -> Vec<Item> {
        let positions: Vec<Position> = arrived
            .iter()
            .filter_map(|hash| self.waiting_on.get(&(doc, *hash)))
            .flatten()
            .copied()
            .collect();
        positions.iter().filter_map(|p| self.release(p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::in_order;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, Change, ROOT};
    use circlekeep_model::MemberId;

    fn edit(doc: &mut AutoCommit, key: &str) -> Change {
        doc.put(ROOT, key, 1).expect("put");
        doc.commit();
        doc.get_last_local_change().expect("change").clone()
    }

    #[test]
    fn dependencies_come_first_and_what_lacks_one_waits() {
        let mut author = AutoCommit::new();
        let (a, b, c) = (
            edit(&mut author, "a"),
            edit(&mut author, "b"),
            edit(&mut author, "c"),
        );
        let at = |seq| (MemberId([1; 32]), seq);
        // c and b arrive before a: a goes first, then b, then c.
        let mut empty = AutoCommit::new();
        let (ready, waiting) = in_order(
            &mut empty,
            vec![
                (at(3), vec![c.clone()]),
                (at(2), vec![b.clone()]),
                (at(1), vec![a.clone()]),
            ],
        );
        let order: Vec<u64> = ready.iter().map(|((_, seq), _)| *seq).collect();
        assert_eq!(order, [1, 2, 3]);
        assert!(waiting.is_empty());
        // Without a, b waits on a and c on b.
        let (ready, waiting) =
            in_order(&mut empty, vec![(at(3), vec![c.clone()]), (at(2), vec![b])]);
        assert!(ready.is_empty());
        let on: Vec<_> = waiting.iter().map(|((p, _), on)| (p.1, *on)).collect();
        assert_eq!(on.len(), 2);
        assert!(on.contains(&(2, a.hash())));
        // Holding a, c alone waits on b.
        let mut holding = AutoCommit::new();
        holding.apply_changes([a]).expect("apply");
        let (ready, waiting) = in_order(&mut holding, vec![(at(3), vec![c])]);
        assert!(ready.is_empty());
        assert_eq!(waiting.len(), 1);
    }
}

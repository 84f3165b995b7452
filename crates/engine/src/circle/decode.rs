//! Automerge changes from other members, checked before Automerge parses
//! them: only change chunks, inflated within a limit, and declaring at most
//! so many operations. automerge 0.12 trusts what a change declares: it
//! walks every declared operation (`verify_ops`), and a run-length column
//! declares 2^62 of them in a few bytes. The operation count is the length
//! of the action column (where automerge's walk stops), and each
//! operation's predecessors are the predecessor group's counts; both are
//! read here from the run lengths, in time linear in the bytes.

use crate::error::Rejection;
use automerge::Change;
use std::io::Read;

/// Largest Automerge change taken, once inflated (an entry is at most
/// 8 MiB signed).
pub(super) const MAX_CHANGE_BYTES: u64 = 16 << 20;

/// Most operations one change (or all the changes of one entry or fold)
/// may declare. A write here is at most 20,000 characters; deleting a
/// longer stretch of a note is many operations in few bytes, so the bound
/// is absolute rather than a ratio to the bytes.
pub const MAX_CHANGE_OPS: u64 = 1 << 20;

/// Most predecessors (what an operation overwrites or deletes) one change
/// may declare in all.
const MAX_CHANGE_PREDS: u64 = 2 * MAX_CHANGE_OPS;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Column specifications (id << 4 | type): the action column (integers)
/// and the predecessor group.
const ACTION_COLUMN: u64 = 4 << 4 | 2;
const PRED_GROUP: u64 = 7 << 4;

/// Decodes an Automerge change, containing any panic on hostile bytes;
/// returns it with the operations it declares.
#[cfg(test)]
fn decode_change(bytes: Vec<u8>) -> Result<(Change, u64), Rejection> {
    let ops = check_change_chunk(&bytes)?;
    Ok((parse_checked(bytes)?, ops))
}

/// Has automerge parse a change [`check_change_chunk`] took, containing
/// any panic.
fn parse_checked(bytes: Vec<u8>) -> Result<Change, Rejection> {
    std::panic::catch_unwind(move || Change::from_bytes(bytes))
        .map_err(|_| Rejection::BadChange("change could not be decoded".into()))?
        .map_err(|e| Rejection::BadChange(e.to_string()))
}

/// Decodes the changes of one entry or fold, refusing the lot if together
/// they declare more than [`MAX_CHANGE_OPS`] operations.
pub(super) fn decode_changes(raw: Vec<Vec<u8>>) -> Result<Vec<Change>, Rejection> {
    let mut declared = 0u64;
    let mut changes = Vec::with_capacity(raw.len());
    for bytes in raw {
        let ops = check_change_chunk(&bytes)?;
        declared = declared.saturating_add(ops);
        if declared > MAX_CHANGE_OPS {
            return Err(too_many("its changes declare"));
        }
        changes.push(parse_checked(bytes)?);
    }
    Ok(changes)
}

fn too_many(what: &str) -> Rejection {
    Rejection::BadChange(format!(
        "{what} more than {MAX_CHANGE_OPS} Automerge operations"
    ))
}

/// Refuses bytes that are not one Automerge change, or that declare too
/// many operations, before Automerge parses them (given other chunks — a
/// bundle, a whole document — it parses them in full before saying they
/// are not a change, and it inflates a compressed change without limit).
/// Returns the operations the change declares.
pub(crate) fn check_change_chunk(bytes: &[u8]) -> Result<u64, Rejection> {
    let refuse = |why: &str| Err(Rejection::BadChange(why.into()));
    if bytes.get(..4) != Some(MAGIC.as_slice()) {
        return refuse("not an Automerge change");
    }
    // Magic, checksum, chunk type, the length (LEB128), then the body.
    let chunk_type = bytes.get(8).copied();
    let mut rest = bytes.get(9..).unwrap_or_default();
    let Some(body) = uleb(&mut rest)
        .ok()
        .and_then(|len| usize::try_from(len).ok())
        .and_then(|len| rest.get(..len))
    else {
        return refuse("truncated Automerge change");
    };
    let declared = match chunk_type {
        Some(1) => declared_ops(body),
        Some(2) => {
            let mut inflated = Vec::new();
            match flate2::bufread::DeflateDecoder::new(body)
                .take(MAX_CHANGE_BYTES + 1)
                .read_to_end(&mut inflated)
            {
                Ok(n) if n as u64 <= MAX_CHANGE_BYTES => declared_ops(&inflated),
                Ok(_) => return refuse("compressed Automerge change inflates too far"),
                Err(_) => return refuse("compressed Automerge change does not inflate"),
            }
        }
        _ => return refuse("not an Automerge change"),
    };
    declared.map_err(|why| Rejection::BadChange(why.into()))
}

/// The operations a change body declares, read from its columns' run
/// lengths; refused past the limits.
fn declared_ops(body: &[u8]) -> Result<u64, &'static str> {
    const MALFORMED: &str = "malformed Automerge change";
    let mut r = body;
    let deps = uleb(&mut r)?;
    skip(&mut r, deps.checked_mul(32).ok_or(MALFORMED)?)?;
    let actor = uleb(&mut r)?;
    skip(&mut r, actor)?;
    uleb(&mut r)?; // seq
    uleb(&mut r)?; // start op
    sleb(&mut r)?; // time
    let message = uleb(&mut r)?;
    skip(&mut r, message)?;
    // Each other actor is at least its length byte: the loop ends with the bytes.
    for _ in 0..uleb(&mut r)? {
        let len = uleb(&mut r)?;
        skip(&mut r, len)?;
    }
    let mut columns = Vec::new();
    for _ in 0..uleb(&mut r)? {
        columns.push((uleb(&mut r)?, uleb(&mut r)?));
    }
    let (mut ops, mut preds) = (0, 0);
    for (spec, len) in columns {
        let data = take(&mut r, len)?;
        if spec == ACTION_COLUMN {
            ops = ops.max(run_lengths(data, MAX_CHANGE_OPS)?.0);
        } else if spec == PRED_GROUP {
            preds = preds.max(run_lengths(data, MAX_CHANGE_PREDS)?.1);
        }
    }
    if ops > MAX_CHANGE_OPS {
        return Err("the change declares too many Automerge operations");
    }
    if preds > MAX_CHANGE_PREDS {
        return Err("the change declares too many predecessors");
    }
    Ok(ops)
}

/// Rows and the sum of the values of a run-length-encoded column of
/// unsigned integers, stopping as soon as either passes `limit` (each run
/// is at least two bytes, so this is linear in the bytes).
fn run_lengths(mut data: &[u8], limit: u64) -> Result<(u64, u64), &'static str> {
    let (mut rows, mut sum) = (0u64, 0u64);
    while !data.is_empty() && rows <= limit && sum <= limit {
        let run = sleb(&mut data)?;
        if run > 0 {
            // `run` copies of one value.
            let value = uleb(&mut data)?;
            rows = rows.saturating_add(run.unsigned_abs());
            sum = sum.saturating_add(value.saturating_mul(run.unsigned_abs()));
        } else if run < 0 {
            // `-run` literal values.
            for _ in 0..run.unsigned_abs() {
                let value = uleb(&mut data)?;
                rows = rows.saturating_add(1);
                sum = sum.saturating_add(value);
                if data.is_empty() {
                    break;
                }
            }
        } else {
            // A run of nulls.
            rows = rows.saturating_add(uleb(&mut data)?);
        }
    }
    Ok((rows, sum))
}

fn uleb(r: &mut &[u8]) -> Result<u64, &'static str> {
    leb128::read::unsigned(r).map_err(|_| "malformed Automerge change")
}

fn sleb(r: &mut &[u8]) -> Result<i64, &'static str> {
    leb128::read::signed(r).map_err(|_| "malformed Automerge change")
}

fn take<'a>(r: &mut &'a [u8], len: u64) -> Result<&'a [u8], &'static str> {
    let len = usize::try_from(len).map_err(|_| "truncated Automerge change")?;
    if len > r.len() {
        return Err("truncated Automerge change");
    }
    let (head, tail) = r.split_at(len);
    *r = tail;
    Ok(head)
}

fn skip(r: &mut &[u8], len: u64) -> Result<(), &'static str> {
    take(r, len).map(|_| ())
}

/// A change by `actor` that sets one map key `rows` times, each column one
/// run: about 70 bytes whatever `rows` is (tests of the limits).
#[cfg(any(test, feature = "test-support"))]
pub(crate) fn change_declaring(actor: &[u8], rows: u64) -> Vec<u8> {
    fn u(out: &mut Vec<u8>, v: u64) {
        let _ = leb128::write::unsigned(out, v);
    }
    fn s(out: &mut Vec<u8>, v: u64) {
        let _ = leb128::write::signed(out, i64::try_from(v).unwrap_or(i64::MAX));
    }
    // Key "k" (strings), insert false (booleans), action 1 "set", value
    // null (metadata 0), no predecessors (group counts 0): `rows` each.
    let mut key = Vec::new();
    s(&mut key, rows);
    key.extend_from_slice(&[1, b'k']);
    let mut insert = Vec::new();
    u(&mut insert, rows);
    let mut action = Vec::new();
    s(&mut action, rows);
    u(&mut action, 1);
    let mut value = Vec::new();
    s(&mut value, rows);
    u(&mut value, 0);
    let mut preds = Vec::new();
    s(&mut preds, rows);
    u(&mut preds, 0);
    let columns = [
        (1 << 4 | 5, key),
        (3 << 4 | 4, insert),
        (ACTION_COLUMN, action),
        (5 << 4 | 6, value),
        (PRED_GROUP, preds),
    ];
    // No dependencies, the actor, seq 1, start op 1, time 0, no message,
    // no other actors, then the columns.
    let mut body = vec![0];
    u(&mut body, actor.len() as u64);
    body.extend_from_slice(actor);
    body.extend_from_slice(&[1, 1, 0, 0, 0]);
    u(&mut body, columns.len() as u64);
    for (spec, data) in &columns {
        u(&mut body, *spec);
        u(&mut body, data.len() as u64);
    }
    for (_, data) in &columns {
        body.extend_from_slice(data);
    }
    // Magic, a checksum automerge does not check for a lone change, type 1.
    let mut chunk = MAGIC.to_vec();
    chunk.extend_from_slice(&[0, 0, 0, 0, 1]);
    u(&mut chunk, body.len() as u64);
    chunk.extend_from_slice(&body);
    chunk
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ReadDoc, ROOT};
    use circlekeep_model::docs::new_doc;
    use std::io::Write;

    /// At least `bytes` zero bytes, deflated (a few kilobytes).
    pub(crate) fn deflated_zeros(bytes: u64) -> Vec<u8> {
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..bytes.div_ceil(1 << 20) {
            deflate.write_all(&zeros).expect("deflate");
        }
        deflate.finish().expect("deflate")
    }

    #[test]
    fn only_change_chunks_reach_automerge_and_none_inflates_without_limit() {
        let mut doc = new_doc(&[1; 32]);
        let text = doc.put_object(ROOT, "text", ObjType::Text).expect("text");
        doc.commit();
        let small = doc
            .get_last_local_change()
            .expect("change")
            .raw_bytes()
            .to_vec();
        doc.splice_text(&text, 0, 0, &"long note ".repeat(2000))
            .expect("splice");
        doc.commit();
        let mut large = doc.get_last_local_change().expect("change").clone();
        let large = large.bytes().to_vec();
        assert_eq!(small[8], 1);
        assert_eq!(large[8], 2, "a large change compresses");
        for change in [small, large] {
            assert!(decode_change(change).is_ok());
        }
        // A whole document and a bundle are not changes: refused unparsed
        // (automerge's bundle decoder can be made to allocate gigabytes).
        let hashes: Vec<_> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        let bundle = doc.bundle(hashes).expect("bundle").bytes().to_vec();
        for other in [doc.save(), bundle, b"not automerge".to_vec(), vec![]] {
            assert!(check_change_chunk(&other).is_err());
        }
        // A compressed change that would inflate past the limit.
        let deflated = deflated_zeros(MAX_CHANGE_BYTES + (1 << 20));
        let mut bomb = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
        leb128::write::unsigned(&mut bomb, deflated.len() as u64).expect("length");
        bomb.extend_from_slice(&deflated);
        assert!(check_change_chunk(&bomb).is_err());
    }

    /// What is counted is what automerge walks: the same 70-byte change
    /// with 2^21 rows decodes in automerge as 2^21 operations; with 2^62
    /// (which automerge would walk for years) it is refused here at once.
    #[test]
    fn a_change_may_not_declare_more_operations_than_the_limit() {
        let actor = [7u8; 16];
        let small = change_declaring(&actor, 3);
        assert_eq!(check_change_chunk(&small), Ok(3));
        let (change, declared) = decode_change(small).expect("decodes");
        assert_eq!((change.len(), declared), (3, 3));

        let over = change_declaring(&actor, 2 << 20);
        assert!(over.len() < 80, "{} bytes", over.len());
        let walked = Change::from_bytes(over.clone()).expect("automerge decodes it");
        assert_eq!(
            walked.len(),
            2 << 20,
            "automerge walks every declared operation"
        );
        assert!(check_change_chunk(&over).is_err());

        let bomb = change_declaring(&actor, 1 << 62);
        let started = std::time::Instant::now();
        assert!(matches!(decode_change(bomb), Err(Rejection::BadChange(_))));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));

        // Many changes of one entry are bounded together.
        let half = change_declaring(&actor, MAX_CHANGE_OPS / 2 + 1);
        assert!(decode_changes(vec![half.clone()]).is_ok());
        assert!(decode_changes(vec![half.clone(), half]).is_err());
    }

    /// A predecessor count of 2^62 on one operation is refused too.
    #[test]
    fn a_change_may_not_declare_too_many_predecessors() {
        let mut preds = Vec::new();
        let _ = leb128::write::signed(&mut preds, 1);
        let _ = leb128::write::unsigned(&mut preds, 1 << 62);
        let change = change_declaring(&[7u8; 16], 1);
        // Swap the group's data (its last column, two bytes) for that run.
        let mut hostile = change[..change.len() - 2].to_vec();
        hostile.extend_from_slice(&preds);
        let at = hostile.len() - preds.len();
        assert_eq!(&change[at - 2..at], &hostile[at - 2..at]);
        assert!(check_change_chunk(&hostile).is_err());
        assert!(run_lengths(&preds, MAX_CHANGE_PREDS).expect("runs").1 > MAX_CHANGE_PREDS);
    }

    #[test]
    fn run_lengths_are_read_in_time_linear_in_the_bytes() {
        // A literal run that claims 2^62 values and holds three.
        let mut data = Vec::new();
        let _ = leb128::write::signed(&mut data, -(1 << 62));
        data.extend_from_slice(&[1, 2, 3]);
        assert_eq!(run_lengths(&data, 10), Ok((3, 6)));
        // Nulls count as rows, not values.
        let mut nulls = vec![0];
        let _ = leb128::write::unsigned(&mut nulls, 5);
        assert_eq!(run_lengths(&nulls, 10), Ok((5, 0)));
        assert!(run_lengths(&[0x80], 10).is_err());
    }

    proptest::proptest! {
        /// Every change automerge makes (text splices, deletes of long
        /// stretches, map and list writes, overwrites), plain or
        /// compressed, is taken, and declares what automerge counts.
        #[test]
        fn honest_changes_declare_what_automerge_counts(
            edits in proptest::collection::vec((0usize..4, 0usize..200, 0usize..300, "[a-z ]{0,40}"), 1..25)
        ) {
            let mut doc = new_doc(&[3; 32]);
            let text = doc.put_object(ROOT, "text", ObjType::Text).expect("text");
            let list = doc.put_object(ROOT, "list", ObjType::List).expect("list");
            doc.commit();
            for (kind, at, len, words) in edits {
                let chars = doc.length(&text);
                let at = at.min(chars);
                match kind {
                    0 => doc.splice_text(&text, at, 0, &words.repeat(1 + len / 8)).expect("insert"),
                    1 => doc.splice_text(&text, at, isize::try_from(len.min(chars - at)).expect("len"), "").expect("delete"),
                    2 => doc.put(ROOT, words.as_str(), len as u64).expect("put"),
                    _ => doc.insert(&list, at.min(doc.length(&list)), words.as_str()).expect("insert"),
                }
                doc.commit();
                let mut change = doc.get_last_local_change().expect("change").clone();
                let ops = change.len() as u64;
                proptest::prop_assert_eq!(check_change_chunk(change.raw_bytes()), Ok(ops));
                proptest::prop_assert_eq!(check_change_chunk(change.bytes().as_ref()), Ok(ops));
            }
        }
    }
}

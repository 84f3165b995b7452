//! Crafted decoder bombs, each signed by a member and imported alone, as a
//! hostile member's device would send them: changes that declare billions
//! of operations, compressed changes that inflate without end, changes
//! Automerge panics on, and honest changes with bytes flipped (their
//! checksum made right again). Each must be refused (or taken, if it is
//! still a valid change) quickly, and all of them together within a
//! bounded amount of memory.

use crate::report::Figure;
use crate::Result;
use circlekeep_engine::bundle::Bundle;
use circlekeep_engine::testing::{
    change_automerge_fails_on, change_declaring_ops, fix_chunk_checksum, Craft,
};
use circlekeep_engine::{CircleId, DocId, EngineError, HistoryPolicy};
use circlekeep_sync::Replica;
use circlekeep_tests::{circle_of, Peer};
use std::io::Write;
use std::time::Instant;

/// A compressed change chunk (type 2) whose body is `bytes` zeros, deflated.
fn inflating_change(bytes: u64) -> Vec<u8> {
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..bytes.div_ceil(1 << 20) {
        let _ = deflate.write_all(&zeros);
    }
    let body = deflate.finish().unwrap_or_default();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = body.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        chunk.push(if len == 0 { byte } else { byte | 0x80 });
        if len == 0 {
            break;
        }
    }
    chunk.extend_from_slice(&body);
    chunk
}

/// Bomb number `i`: one of four kinds, in turn.
fn bomb(i: u64, bo: &Peer, honest: &[u8], inflating: &[u8]) -> Vec<u8> {
    let author = bo.identity().device_id();
    match i % 4 {
        0 => change_declaring_ops(&author, 1 << (21 + i % 42)),
        1 => change_automerge_fails_on(&author),
        2 => inflating.to_vec(),
        _ => {
            let mut flipped = honest.to_vec();
            let mut dice = fastrand::Rng::with_seed(i);
            for _ in 0..1 + i % 4 {
                let at = dice.usize(9..flipped.len());
                flipped[at] ^= dice.u8(1..);
            }
            fix_chunk_checksum(&mut flipped);
            flipped
        }
    }
}

/// Bo's next entry in Ada's eyes: the sequence number and chain hash of
/// what Ada holds of Bo's log.
fn next_place(ada: &Peer, bo: &Peer, circle: CircleId) -> Craft {
    let summary = ada.engine().summary(&circle).unwrap_or_default();
    let author = bo.identity().device_id();
    let seq = summary.have.get(&author).copied().unwrap_or(0);
    Craft {
        seq: Some(seq + 1),
        prev: Some(summary.tips.get(&author).copied()),
        ..Craft::default()
    }
}

/// The process's peak resident memory so far (`VmHWM`), in MiB.
pub fn peak_resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Imports `count` bombs one by one; the slowest and p99 import, how many
/// were refused, and the process's peak memory.
pub fn bombs(quick: bool) -> Result<Vec<Figure>> {
    let count: u64 = if quick { 200 } else { 1_000 };
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g: DocId = ada.new_gathering(circle, circlekeep_tests::date("2026-12-03"))?;
    ada.add_note(circle, g, "Ada's note")?;
    ada.send(&bo, circle);
    bo.add_note(circle, g, "Bo's honest note")?;
    let honest = bo.own_raw_changes(circle, g)?.pop().unwrap_or_default();
    let inflating = inflating_change(1 << 30);
    let mut bundle = Bundle::decode(&bo.export_bundle(circle, None)?).map_err(EngineError::from)?;
    let mut times = Vec::with_capacity(count as usize);
    let mut refused = 0;
    for i in 0..count {
        let craft = Craft {
            doc: g,
            changes: vec![bomb(i, &bo, &honest, &inflating)],
            ..next_place(&ada, &bo, circle)
        };
        bundle.entries = vec![bo.craft_entry(circle, craft)?];
        let file = bundle.encode();
        let started = Instant::now();
        let report = ada.import_bundle(&file)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        refused += usize::from(report.refused > 0);
    }
    times.sort_by(f64::total_cmp);
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    let slowest = times.last().copied().unwrap_or_default();
    Ok(vec![
        Figure::bounded(
            &format!("decoder bombs: slowest of {count} (refused {refused})"),
            slowest,
            "ms",
            100.0,
        ),
        Figure::plain(&format!("decoder bombs: p99 of {count}"), p99, "ms"),
        Figure::bounded(
            "decoder bombs: peak resident memory of the process (section runs first)",
            peak_resident_mib(),
            "MiB",
            256.0,
        ),
    ])
}

//! Circlekeep's benchmark suite: every performance target of DESIGN §4
//! beside the baseline it is judged against, measured in one run.
//!
//! `cargo bench -p circlekeep-bench` (or `./scripts/run-benchmarks`); add
//! `-- --quick` for a smaller, faster run, and section names (e.g.
//! `-- latency`) to run only those. Prints a table and writes
//! `target/bench/results.json` and `target/bench/scaling.svg`.

#[path = "suite/desktop.rs"]
mod desktop;

use circlekeep_bench::generator::{generate, CircleSpec, GeneratedCircle};
use circlekeep_bench::plain;
use circlekeep_bench::report::{self, Figure, ScalePoint};
use circlekeep_bench::traces::{self, Trace};
use circlekeep_bench::{BenchError, Result};
use circlekeep_engine::{CircleId, DocId, HistoryPolicy, MemberId, NaiveDate, TextEdit};
use circlekeep_sync::{Node, Replica, Ticket};
use circlekeep_tests::Peer;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type BenchNode = Node<circlekeep_tests::TestEngine>;

/// Keystrokes the pipeline commits as one change (one sealed entry).
const KEYSTROKES_PER_ENTRY: usize = 32;

struct Options {
    quick: bool,
    traces: PathBuf,
    out: PathBuf,
}

fn main() -> std::process::ExitCode {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var_os("CIRCLEKEEP_BENCH_QUICK").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let options = Options {
        quick,
        traces: std::env::var_os("CIRCLEKEEP_TRACES")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("../shared/data/editing-traces")),
        out: root.join("target/bench"),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "Circlekeep benchmarks ({} run) on {} cores",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut figures = Vec::new();
    let mut failed = Vec::new();
    let scaling = std::cell::RefCell::new(Vec::new());
    type Section<'a> = (&'a str, Box<dyn FnOnce() -> Result<Vec<Figure>> + 'a>);
    let sections: Vec<Section<'_>> = vec![
        // First, so the process's peak memory is this section's.
        (
            "hostile input",
            Box::new(|| circlekeep_bench::hostile::bombs(options.quick)),
        ),
        (
            "editing trace automerge-paper",
            Box::new(|| runtime.block_on(sequential_trace(&options))),
        ),
        (
            "editing trace friendsforever",
            Box::new(|| concurrent_trace(&options)),
        ),
        ("latency", Box::new(|| runtime.block_on(latency(&options)))),
        (
            "membership rebuild",
            Box::new(|| Ok(circlekeep_bench::membership::rebuild(options.quick))),
        ),
        (
            "newcomer catch-up and scaling",
            Box::new(|| {
                runtime.block_on(catch_up_and_scaling(&options, &mut scaling.borrow_mut()))
            }),
        ),
        ("keeper", Box::new(|| runtime.block_on(keeper(&options)))),
        (
            "desktop app",
            Box::new(|| {
                // The window harness panics when the window misbehaves.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    runtime.block_on(desktop::desktop(options.quick, &options.out))
                }))
                .unwrap_or_else(|_| Err(BenchError::Check("the app misbehaved".into())))
            }),
        ),
    ];
    // Other arguments pick sections by name (e.g. `-- latency`).
    let picked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for (name, run) in sections {
        if !picked.is_empty() && !picked.iter().any(|p| name.contains(p.as_str())) {
            continue;
        }
        println!("\n== {name}");
        let started = Instant::now();
        match run() {
            Ok(mut got) => {
                print!("{}", report::table(&got));
                figures.append(&mut got);
            }
            Err(e) => {
                eprintln!("!! {name} failed: {e}");
                failed.push(name);
            }
        }
        println!("({name}: {:.0} s)", started.elapsed().as_secs_f64());
    }
    println!("\n== all figures\n{}", report::table(&figures));
    let json = options.out.join("results.json");
    if let Err(e) = report::write_json(&figures, &json) {
        eprintln!("cannot write {}: {e}", json.display());
        return std::process::ExitCode::FAILURE;
    }
    println!("wrote {}", json.display());
    let markdown = options.out.join("results.md");
    match std::fs::write(&markdown, report::markdown(&figures)) {
        Ok(()) => println!("wrote {} (the table in BENCHMARKS.md)", markdown.display()),
        Err(e) => eprintln!("cannot write {}: {e}", markdown.display()),
    }
    let scaling = scaling.take();
    if !scaling.is_empty() {
        let svg = options.out.join("scaling.svg");
        match report::plot_scaling(&scaling, &svg) {
            Ok(()) => println!("wrote {}", svg.display()),
            Err(e) => eprintln!("cannot plot: {e}"),
        }
        let _ = std::fs::write(
            options.out.join("scaling.json"),
            serde_json::to_vec_pretty(&scaling).unwrap_or_default(),
        );
    }
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("failed sections: {failed:?}");
        std::process::ExitCode::FAILURE
    }
}

/// A keeper: two members who missed the last gatherings catch up, one
/// from a member and one through the keeper; then one keeper holds many
/// circles shaped like that one (a year each).
async fn keeper(options: &Options) -> Result<Vec<Figure>> {
    let (circles, gatherings, missed) = if options.quick {
        (10, 8, 2)
    } else {
        (100, 26, 6)
    };
    let spec = CircleSpec {
        gatherings,
        ..CircleSpec::TWO_YEARS
    };
    let (mut figures, shape) =
        circlekeep_bench::keeper::catch_up_through_keeper(spec, missed).await?;
    println!("a year of that circle: {shape:?} (synthetic circles take this shape)");
    // A synthetic entry's payload is what is left of a real one's size.
    let payload = shape.entry_bytes.saturating_sub(300).max(64);
    figures.extend(circlekeep_bench::keeper::many_circles(
        circles,
        spec.members,
        shape.per_author,
        payload,
    )?);
    Ok(figures)
}

fn check(what: &str, ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(BenchError::Check(what.into()))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A trace replay through the pipeline against plain Automerge's (≤ 3×).
fn replay_figure(name: &str, pipeline: Duration, plain: Duration) -> Figure {
    let (value, baseline) = (pipeline.as_secs_f64(), plain.as_secs_f64());
    Figure::against(name, value, "s", baseline, "plain Automerge")
        .target("≤ 3× plain", value <= 3.0 * baseline)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A circle of `devices` (the first founds it) with one gathering holding
/// one empty note, everyone holding all of it.
fn circle_with_note(devices: &[&Peer]) -> Result<(CircleId, DocId, String)> {
    let founder = devices[0].engine();
    let circle = founder.create_circle("Bench circle", HistoryPolicy::NewcomersSeeHistory)?;
    for d in &devices[1..] {
        founder.add_member(circle, &d.card())?;
    }
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default();
    let gathering = founder.new_gathering(circle, date)?;
    let note = founder.add_note(circle, gathering, "x")?;
    founder.edit_note(
        circle,
        gathering,
        &note,
        &[TextEdit {
            position: 0,
            delete: 1,
            insert: String::new(),
        }],
    )?;
    let bundle = founder.export_bundle(circle, None)?;
    for d in &devices[1..] {
        d.engine().import_bundle(&bundle)?;
        d.engine().accept_circle(circle)?;
    }
    Ok((circle, gathering, note))
}

fn note_text(device: &Peer, circle: CircleId, gathering: DocId, note: &str) -> Result<String> {
    let notes = device.engine().notes(circle, Some(gathering))?;
    notes
        .into_iter()
        .flat_map(|g| g.notes)
        .find(|n| n.id == note)
        .map(|n| n.text)
        .ok_or_else(|| BenchError::Check("note missing".into()))
}

fn held(device: &Peer, circle: CircleId, author: MemberId) -> u64 {
    device
        .engine()
        .summary(&circle)
        .and_then(|s| s.have.get(&author).copied())
        .unwrap_or(0)
}

/// Waits until `device` holds `author`'s log up to `seq`.
async fn wait_for(
    device: &Peer,
    circle: CircleId,
    author: MemberId,
    seq: u64,
    limit: Duration,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    let mut changes = device.engine().subscribe();
    while held(device, circle, author) < seq {
        if Instant::now() > deadline {
            return Err(BenchError::Check(format!(
                "timed out waiting for entry {seq} (have {})",
                held(device, circle, author)
            )));
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), changes.recv()).await;
    }
    Ok(())
}

/// Starts nodes for `devices`, tells each where the others are, keeps them
/// connected, and waits until every pair is connected.
async fn connected_nodes(devices: &[&Peer]) -> Result<Vec<BenchNode>> {
    let mut nodes = Vec::new();
    for d in devices {
        nodes.push(d.node().await);
    }
    for a in &nodes {
        for b in &nodes {
            if a.id() != b.id() {
                a.add_address(&b.addr());
            }
        }
    }
    for n in &nodes {
        n.keep_connected();
    }
    let ids: Vec<String> = nodes.iter().map(|n| n.id().to_hex()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = nodes.iter().all(|n| {
            n.status().circles.iter().all(|c| {
                c.members
                    .iter()
                    .filter(|m| ids.contains(&m.member))
                    .all(|m| m.connected && m.in_sync)
            })
        });
        if all {
            return Ok(nodes);
        }
        if Instant::now() > deadline {
            return Err(BenchError::Check("members did not all connect".into()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn shutdown(nodes: Vec<BenchNode>) {
    for n in nodes {
        n.shutdown().await;
    }
}

fn bytes_sent(nodes: &[&BenchNode]) -> u64 {
    nodes.iter().map(|n| n.status().bytes_sent).sum()
}

/// automerge-paper keystroke by keystroke through the pipeline and through
/// plain Automerge; then the same history synced sealed and plain.
async fn sequential_trace(options: &Options) -> Result<Vec<Figure>> {
    let trace = Trace::load(&options.traces.join("automerge-paper.json.gz"))?;
    let mut keystrokes: Vec<TextEdit> = trace.keystrokes().cloned().collect();
    let full = !options.quick;
    if !full {
        keystrokes.truncate(20_000);
    }
    let batch = KEYSTROKES_PER_ENTRY;
    println!("{} keystrokes, {batch} per change/entry", keystrokes.len());
    let (raw, mut raw_doc) = plain::replay_sequential(&keystrokes, batch)?;
    if full {
        check(
            "plain replay ends in endContent",
            raw.text == trace.end_content,
        )?;
    }

    let author = Peer::new("Author", 101);
    let reader = Peer::new("Reader", 102);
    let newcomer = Peer::new("Catcher", 103);
    let (circle, gathering, note) = circle_with_note(&[&author, &reader, &newcomer])?;
    let me = author.engine().identity().member_id();
    let nodes = connected_nodes(&[&author, &reader]).await?;
    let wire_before = bytes_sent(&[&nodes[0], &nodes[1]]);
    let disk_before = author.disk_bytes();
    let mut durable = Vec::with_capacity(keystrokes.len() / batch + 1);
    let started = Instant::now();
    for chunk in keystrokes.chunks(batch) {
        let t = Instant::now();
        author.engine().edit_note(circle, gathering, &note, chunk)?;
        durable.push(ms(t.elapsed()));
    }
    let last = held(&author, circle, me);
    wait_for(&reader, circle, me, last, Duration::from_secs(600)).await?;
    let elapsed = started.elapsed();
    let wire = bytes_sent(&[&nodes[0], &nodes[1]]) - wire_before;
    shutdown(nodes).await;
    let text = note_text(&reader, circle, gathering, &note)?;
    check(
        "the reader's text equals plain Automerge's",
        text == raw.text,
    )?;
    let disk = author.disk_bytes().saturating_sub(disk_before);
    durable.sort_by(f64::total_cmp);

    // The author's device folds its log at its next checkpoint (the app
    // and `serve` write one 2 s after typing stops), in the background.
    let folding_started = Instant::now();
    author.engine().checkpoint()?;
    let folding = folding_started.elapsed();
    let catcher_disk_before = newcomer.disk_bytes();

    // The same history, synced to a member who was offline all along.
    let catcher_nodes = vec![author.node().await, newcomer.node().await];
    catcher_nodes[1].add_address(&catcher_nodes[0].addr());
    let probe = CallProbe::start(&newcomer);
    let started_sync = Instant::now();
    let sync = {
        let node = &catcher_nodes[1];
        let once = node.sync_once(Duration::from_secs(600));
        let caught = wait_for(&newcomer, circle, me, last, Duration::from_secs(600));
        let (_, caught) = tokio::join!(once, caught);
        caught?;
        started_sync.elapsed()
    };
    let longest_wait = probe.finish();
    let sealed_sync_bytes = bytes_sent(&[&catcher_nodes[0], &catcher_nodes[1]]);
    shutdown(catcher_nodes).await;
    let catcher_disk = newcomer.disk_bytes().saturating_sub(catcher_disk_before);
    let caught_text = note_text(&newcomer, circle, gathering, &note)?;
    check(
        "the catching-up member's text matches",
        caught_text == raw.text,
    )?;
    let mut plain_sync = plain::sync_over_iroh(&raw_doc.doc).await?;
    check(
        "plain sync delivered the document",
        plain_sync.received.get_heads() == raw_doc.doc.get_heads(),
    )?;

    let n = keystrokes.len() as f64;
    let name = if full {
        "automerge-paper"
    } else {
        "automerge-paper (first 20k)"
    };
    Ok(vec![
        replay_figure(
            &format!("{name}: replay through the pipeline"),
            elapsed,
            raw.elapsed,
        ),
        Figure::against(
            &format!("{name}: per keystroke"),
            elapsed.as_secs_f64() * 1e6 / n,
            "µs",
            raw.elapsed.as_secs_f64() * 1e6 / n,
            "plain Automerge",
        ),
        Figure::against(
            &format!("{name}: author's bytes on disk"),
            disk as f64,
            "B",
            raw.saved_bytes as f64,
            "Automerge save()",
        ),
        Figure::against(
            &format!("{name}: bytes on the wire (live)"),
            wire as f64,
            "B",
            raw.change_bytes as f64,
            "raw changes",
        ),
        Figure::bounded(
            &format!("{name}: edit durable (p99 of edit_note)"),
            percentile(&durable, 99.0),
            "ms",
            100.0,
        ),
        Figure::plain(
            &format!("{name}: author folds its log (background, at its next checkpoint)"),
            folding.as_secs_f64(),
            "s",
        ),
        Figure::against(
            &format!("{name}: bytes on disk of the member who caught up"),
            catcher_disk as f64,
            "B",
            raw.saved_bytes as f64,
            "Automerge save()",
        ),
        Figure::against(
            &format!("{name}: history sync, sealed vs Automerge sync (time)"),
            sync.as_secs_f64(),
            "s",
            plain_sync.elapsed.as_secs_f64(),
            "Automerge sync over iroh",
        )
        .target(
            "≤ 1.1×",
            sync.as_secs_f64() <= 1.1 * plain_sync.elapsed.as_secs_f64(),
        ),
        Figure::bounded(
            &format!("{name}: longest engine call wait during that sync"),
            ms(longest_wait),
            "ms",
            100.0,
        ),
        Figure::against(
            &format!("{name}: history sync, sealed vs Automerge sync (bytes)"),
            sealed_sync_bytes as f64,
            "B",
            plain_sync.bytes as f64,
            "Automerge sync over iroh",
        )
        .target(
            "≤ 1.2×",
            sealed_sync_bytes as f64 <= 1.2 * plain_sync.bytes as f64,
        ),
    ])
}

/// friendsforever's two authors on two devices, each step typed against
/// exactly what its author had seen.
fn concurrent_trace(options: &Options) -> Result<Vec<Figure>> {
    let trace = Trace::load(&options.traces.join("friendsforever.json.gz"))?;
    let steps = traces::plan(&trace)?;
    println!(
        "{} transactions by {} authors in {} steps",
        trace.txns.len(),
        trace.agents,
        steps.len()
    );
    let raw = plain::replay_concurrent(&trace, &steps)?;
    check(
        "plain replay ends in endContent",
        raw.text == trace.end_content,
    )?;
    let window_agrees = plain::window_equals_whole_walk(&trace, &steps)?;
    check(
        "applying where a change lands equals automerge's whole walk",
        window_agrees,
    )?;

    let devices: Vec<Peer> = (0..trace.agents)
        .map(|a| Peer::new(&format!("Friend {a}"), 200 + a as u8))
        .collect();
    let refs: Vec<&Peer> = devices.iter().collect();
    let (circle, gathering, note) = circle_with_note(&refs)?;
    let ids: Vec<MemberId> = devices
        .iter()
        .map(|d| d.engine().identity().member_id())
        .collect();
    let base: Vec<u64> = devices
        .iter()
        .zip(&ids)
        .map(|(d, id)| held(d, circle, *id))
        .collect();
    let deliver = |to: usize, from: usize, upto: u64| -> Result<()> {
        let known = devices[to].engine().summary(&circle).unwrap_or_default();
        let records = devices[from]
            .engine()
            .records_since(&circle, &known, usize::MAX);
        let entries: Vec<Vec<u8>> = records
            .entries
            .into_iter()
            .filter(|(author, seq, _)| *author != ids[from] || *seq <= upto)
            .map(|(_, _, bytes)| bytes)
            .collect();
        let ops = records.ops.into_iter().map(|(_, b)| b).collect();
        let got = devices[to]
            .engine()
            .ingest(&circle, &ids[from], ops, entries);
        check("delivered entries are accepted", got.rejected == 0)
    };
    let started = Instant::now();
    for step in &steps {
        let me = step.agent;
        for (other, &need) in step.needs.iter().enumerate() {
            let upto = base[other] + need as u64;
            if other != me && held(&devices[me], circle, ids[other]) < upto {
                deliver(me, other, upto)?;
            }
        }
        let edits: Vec<TextEdit> = step
            .txns
            .iter()
            .flat_map(|&t| trace.txns[t].patches.iter().cloned())
            .collect();
        devices[me]
            .engine()
            .edit_note(circle, gathering, &note, &edits)?;
    }
    for to in 0..devices.len() {
        for from in 0..devices.len() {
            if to != from {
                deliver(to, from, u64::MAX)?;
            }
        }
    }
    let elapsed = started.elapsed();
    let texts: Vec<String> = devices
        .iter()
        .map(|d| note_text(d, circle, gathering, &note))
        .collect::<Result<_>>()?;
    let equal = texts.iter().all(|t| *t == trace.end_content);
    check("both devices end in endContent", equal)?;
    Ok(vec![
        replay_figure("friendsforever: two devices replay", elapsed, raw.elapsed),
        Figure::plain(
            "friendsforever: both devices' text equals endContent",
            f64::from(u8::from(equal)),
            "bool",
        )
        .target("= 1", equal),
        Figure::plain(
            "friendsforever: patched apply saves the same bytes as the whole walk",
            f64::from(u8::from(window_agrees)),
            "bool",
        )
        .target("= 1", window_agrees),
    ])
}

/// Eight members on loopback; one types into a note holding `history`
/// changes, at 8 keystrokes a second and then in a burst.
async fn latency(options: &Options) -> Result<Vec<Figure>> {
    // (members, changes already in the note): DESIGN's eight members, and
    // two, which shows one device's cost without eight sharing the cores.
    let runs: &[(usize, usize)] = if options.quick {
        &[(8, 20_000), (2, 20_000)]
    } else {
        &[(8, 20_000), (2, 20_000), (8, 100_000)]
    };
    let mut figures = Vec::new();
    for &(members, history) in runs {
        figures.extend(latency_at(members, history, options.quick).await?);
    }
    for history in [20_000, 100_000] {
        if options.quick && history > 20_000 {
            continue;
        }
        figures.push(Figure::plain(
            &format!(
                "plain Automerge: apply one keystroke to {}k changes",
                history / 1000
            ),
            ms(plain::apply_one_keystroke(history)?),
            "ms",
        ));
    }
    Ok(figures)
}

async fn latency_at(members: usize, history: usize, quick: bool) -> Result<Vec<Figure>> {
    let devices: Vec<Peer> = (0..members)
        .map(|i| Peer::new(&format!("Member {i}"), 30 + i as u8))
        .collect();
    let refs: Vec<&Peer> = devices.iter().collect();
    let (circle, gathering, note) = circle_with_note(&refs)?;
    let writer = &devices[0];
    let me = writer.engine().identity().member_id();
    // Build the history: one change per keystroke, a few entries.
    let mut length = 0;
    let keys: Vec<TextEdit> = (0..history)
        .map(|i| {
            let edit = TextEdit {
                position: length,
                delete: 0,
                insert: if i % 7 == 6 { " " } else { "a" }.into(),
            };
            length += 1;
            edit
        })
        .collect();
    for chunk in keys.chunks(5_000) {
        writer
            .engine()
            .edit_note_change_per_edit(circle, gathering, &note, chunk)?;
    }
    let bundle = writer.engine().export_bundle(circle, None)?;
    for d in &devices[1..] {
        d.engine().import_bundle(&bundle)?;
        d.engine().accept_circle(circle)?;
    }
    let nodes = connected_nodes(&refs).await?;
    // Receivers note when each of the writer's entries is applied.
    // Per receiver: (writer's entry, when it was applied).
    type Arrivals = Arc<Mutex<Vec<Vec<(u64, Instant)>>>>;
    let arrivals: Arrivals = Arc::new(Mutex::new(vec![Vec::new(); members]));
    let mut watchers = Vec::new();
    for (i, d) in devices.iter().enumerate().skip(1) {
        let engine = d.engine().clone();
        let arrivals = arrivals.clone();
        let mut changes = engine.subscribe();
        let mut seen = held(d, circle, me);
        watchers.push(tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
                let now = Instant::now();
                let have = engine
                    .summary(&circle)
                    .and_then(|s| s.have.get(&me).copied())
                    .unwrap_or(0);
                if have > seen {
                    if let Ok(mut a) = arrivals.lock() {
                        a[i].extend((seen + 1..=have).map(|s| (s, now)));
                    }
                    seen = have;
                }
            }
        }));
    }
    let mut figures = Vec::new();
    let label = format!("{members} members, {}k changes", history / 1000);
    let steady = if quick { 40 } else { 120 };
    for (mode, count, gap) in [
        ("8 keys/s", steady, Duration::from_millis(125)),
        ("burst", 60, Duration::ZERO),
    ] {
        let wire_before = nodes[0].status().bytes_sent;
        let again_before: u64 = nodes.iter().map(|n| n.status().received_again).sum();
        let summary_before = writer.engine().summary(&circle).unwrap_or_default();
        let mut sent = Vec::with_capacity(count);
        let mut first_entry = summary_before.clone();
        let mut position = length;
        let mut tick = tokio::time::interval(gap.max(Duration::from_millis(1)));
        for i in 0..count {
            if !gap.is_zero() {
                tick.tick().await;
            }
            let t = Instant::now();
            writer.engine().edit_note(
                circle,
                gathering,
                &note,
                &[TextEdit {
                    position,
                    delete: 0,
                    insert: if i % 6 == 5 { " " } else { "b" }.into(),
                }],
            )?;
            position += 1;
            sent.push((held(writer, circle, me), t));
            if i == 0 {
                first_entry = writer.engine().summary(&circle).unwrap_or_default();
            }
        }
        length = position;
        let last = held(writer, circle, me);
        for d in &devices[1..] {
            wait_for(d, circle, me, last, Duration::from_secs(120)).await?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if mode != "burst" {
            // Measured now, not while keystrokes are in flight: reading a
            // 20k-change document's changes holds the writer up for ~40 ms.
            let first = first_entry.have.get(&me).copied().unwrap_or(0);
            let entry: usize = writer
                .engine()
                .records_since(&circle, &summary_before, usize::MAX)
                .entries
                .iter()
                .filter(|(author, seq, _)| *author == me && *seq <= first)
                .map(|(_, _, bytes)| bytes.len())
                .sum();
            let change = writer
                .engine()
                .raw_changes(circle, gathering)?
                .last()
                .map_or(0, Vec::len);
            figures.push(Figure::against(
                &format!("sealed entry for one keystroke, {label}"),
                entry as f64,
                "B",
                change as f64,
                "its Automerge change",
            ));
        }
        let wire = nodes[0].status().bytes_sent - wire_before;
        let again = nodes.iter().map(|n| n.status().received_again).sum::<u64>() - again_before;
        let mut latencies = Vec::new();
        if let Ok(a) = arrivals.lock() {
            for got in a.iter().skip(1) {
                for (seq, t) in &sent {
                    if let Some((_, at)) = got.iter().find(|(s, _)| s == seq) {
                        latencies.push(ms(at.saturating_duration_since(*t)));
                    }
                }
            }
        }
        check(
            "every keystroke arrived everywhere",
            latencies.len() == count * (members - 1),
        )?;
        latencies.sort_by(f64::total_cmp);
        let p99 = percentile(&latencies, 99.0);
        let mut p99_figure =
            Figure::bounded(&format!("latency, {mode}, {label}: p99"), p99, "ms", 50.0);
        if mode == "burst" {
            p99_figure.target = None;
            p99_figure.met = None;
        }
        figures.push(Figure::plain(
            &format!("latency, {mode}, {label}: p50"),
            percentile(&latencies, 50.0),
            "ms",
        ));
        figures.push(p99_figure);
        figures.push(Figure::plain(
            &format!("latency, {mode}, {label}: max"),
            latencies.last().copied().unwrap_or(f64::NAN),
            "ms",
        ));
        if mode != "burst" {
            figures.push(Figure::bounded(
                &format!("wire bytes per keystroke per peer, {label}"),
                wire as f64 / count as f64 / (members - 1) as f64,
                "B",
                400.0,
            ));
            // Each keystroke should reach each member once, from its author.
            figures.push(Figure::plain(
                &format!("copies received twice per keystroke, whole mesh, {label}"),
                again as f64 / count as f64,
                "records",
            ));
        }
    }
    for w in watchers {
        w.abort();
    }
    shutdown(nodes).await;
    Ok(figures)
}

/// What one newcomer's first sync of a generated circle cost.
struct CatchUp {
    generated: GeneratedCircle,
    elapsed: Duration,
    bytes: u64,
    longest_wait: Duration,
    open: Duration,
    first_screen: Duration,
}

/// A UI-like caller asking a device's engine for the circle list every
/// 10 ms, timing how long each call waits.
struct CallProbe {
    probing: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Duration>,
}

impl CallProbe {
    fn start(device: &Peer) -> CallProbe {
        let probing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let engine = device.engine().clone();
        let running = probing.clone();
        let thread = std::thread::spawn(move || {
            let mut longest = Duration::ZERO;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let _ = engine.circles();
                longest = longest.max(t.elapsed());
                std::thread::sleep(Duration::from_millis(10));
            }
            longest
        });
        CallProbe { probing, thread }
    }

    /// Stops probing; the longest wait seen.
    fn finish(self) -> Duration {
        self.probing
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

async fn catch_up(spec: CircleSpec) -> Result<CatchUp> {
    let generated = generate(spec)?;
    let circle = generated.circle;
    let founder = &generated.devices[0];
    let mut newcomer = Peer::new("Newcomer", 99);
    let founder_node = founder.node().await;
    let (secret, expires) = founder
        .engine()
        .create_invite(circle, Duration::from_secs(600))?;
    let ticket: Ticket = founder_node.ticket(circle, secret, expires);
    let newcomer_node = newcomer.node().await;
    let probe = CallProbe::start(&newcomer);
    let started = Instant::now();
    let joined = newcomer_node
        .join(&ticket, &newcomer.card())
        .await
        .map_err(|e| BenchError::Network(e.to_string()))?;
    let elapsed = started.elapsed();
    let longest_wait = probe.finish();
    check("joined the circle", joined == circle)?;
    let bytes = founder_node.status().bytes_sent + newcomer_node.status().bytes_sent;
    newcomer_node.shutdown().await;
    founder_node.shutdown().await;
    drop((newcomer_node, founder_node));
    // Every record, not equal heads: a newcomer writes its own name into
    // the circle document as it joins, which the founder gets later.
    let held = |peer: &Peer| peer.engine().summary(&circle).unwrap_or_default();
    check(
        "the newcomer holds what the founder holds",
        held(founder).covered_by(&held(&newcomer)),
    )?;
    let readable = newcomer.engine().notes(circle, None)?;
    check(
        "the newcomer reads every gathering",
        readable.iter().filter(|g| !g.notes.is_empty()).count() == spec.gatherings,
    )?;
    let open = newcomer.restart(true);
    let t = Instant::now();
    let circles = newcomer.engine().circles()?;
    let view = newcomer.engine().circle(circle)?;
    let latest = newcomer.engine().latest_gathering(circle)?;
    let notes = newcomer.engine().notes(circle, Some(latest))?;
    let first_screen = t.elapsed();
    check(
        "first screen has content",
        circles.len() == 1 && !view.members.is_empty() && !notes.is_empty(),
    )?;
    Ok(CatchUp {
        generated,
        elapsed,
        bytes,
        longest_wait,
        open,
        first_screen,
    })
}

async fn catch_up_and_scaling(
    options: &Options,
    scaling: &mut Vec<ScalePoint>,
) -> Result<Vec<Figure>> {
    let headline = if options.quick {
        CircleSpec {
            gatherings: 13,
            ..CircleSpec::TWO_YEARS
        }
    } else {
        CircleSpec::TWO_YEARS
    };
    let t = Instant::now();
    let run = catch_up(headline).await?;
    println!(
        "generated {} members × {} gatherings: {} writes in {:.1} s",
        headline.members,
        headline.gatherings,
        run.generated.writes,
        t.elapsed().as_secs_f64()
    );
    let label = format!(
        "{} members, {} gatherings",
        headline.members, headline.gatherings
    );
    let store = run.generated.devices[0].disk_bytes();
    let mut figures = vec![
        Figure::bounded(
            &format!("newcomer first sync, {label}"),
            run.elapsed.as_secs_f64(),
            "s",
            2.0,
        ),
        Figure::plain(
            &format!("newcomer first sync bytes, {label}"),
            run.bytes as f64,
            "B",
        ),
        Figure::bounded(
            &format!("longest engine call wait during catch-up, {label}"),
            ms(run.longest_wait),
            "ms",
            100.0,
        ),
        Figure::plain(
            &format!("open store from disk, {label}"),
            ms(run.open),
            "ms",
        ),
        Figure::bounded(
            &format!("open + first screen, {label}"),
            ms(run.open + run.first_screen),
            "ms",
            1000.0,
        ),
        Figure::plain(&format!("founder's store, {label}"), store as f64, "B"),
    ];
    let years_of = |g: usize| g as f64 / 26.0;
    scaling.push(ScalePoint {
        members: headline.members,
        years: years_of(headline.gatherings),
        catch_up_s: run.elapsed.as_secs_f64(),
        store_mb: store as f64 / 1e6,
    });
    drop(run);
    let grid: Vec<(usize, usize)> = if options.quick {
        vec![(3, 13), (8, 6)]
    } else {
        vec![(3, 52), (5, 52), (8, 13), (8, 26), (8, 104)]
    };
    for (members, gatherings) in grid {
        let spec = CircleSpec {
            members,
            gatherings,
            ..CircleSpec::TWO_YEARS
        };
        let run = catch_up(spec).await?;
        let store = run.generated.devices[0].disk_bytes();
        println!(
            "  {members} members, {gatherings} gatherings: catch-up {:.2} s, store {:.1} MB",
            run.elapsed.as_secs_f64(),
            store as f64 / 1e6
        );
        scaling.push(ScalePoint {
            members,
            years: years_of(gatherings),
            catch_up_s: run.elapsed.as_secs_f64(),
            store_mb: store as f64 / 1e6,
        });
    }
    scaling.sort_by(|a, b| {
        (a.members, a.years)
            .partial_cmp(&(b.members, b.years))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for p in scaling.iter() {
        figures.push(Figure::plain(
            &format!(
                "scaling: catch-up, {} members, {:.1} years",
                p.members, p.years
            ),
            p.catch_up_s,
            "s",
        ));
        figures.push(Figure::plain(
            &format!(
                "scaling: founder's store, {} members, {:.1} years",
                p.members, p.years
            ),
            p.store_mb,
            "MB",
        ));
    }
    Ok(figures)
}

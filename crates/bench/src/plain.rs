//! Baselines: the same work done by plain Automerge, without sealing,
//! signing, storing or Circlekeep's protocol — in memory, and Automerge's
//! own sync protocol over an iroh connection on loopback.

use crate::traces::{Step, Trace};
use crate::{BenchError, Result};
use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ObjId, ObjType, ReadDoc, ROOT};
use circlekeep_engine::TextEdit;
use iroh::endpoint::presets;
use iroh::{Endpoint, RelayMode};
use std::time::{Duration, Instant};

const ALPN: &[u8] = b"circlekeep-bench/automerge-sync/1";

/// A text document as the engine shapes one (UTF-16 positions), with one
/// text object.
pub struct PlainText {
    /// The document.
    pub doc: AutoCommit,
    text: ObjId,
}

impl PlainText {
    /// A new document holding an empty text, written by `actor`.
    pub fn new(actor: u8) -> Result<PlainText> {
        let mut doc = AutoCommit::new_with_encoding(automerge::TextEncoding::Utf16CodeUnit)
            .with_actor(vec![actor; 32].into());
        let text = doc.put_object(ROOT, "text", ObjType::Text)?;
        doc.commit();
        Ok(PlainText { doc, text })
    }

    /// A copy of `other` writing as `actor`.
    pub fn fork(other: &mut PlainText, actor: u8) -> PlainText {
        PlainText {
            doc: other.doc.fork().with_actor(vec![actor; 32].into()),
            text: other.text.clone(),
        }
    }

    /// Applies splices and commits them as one change; returns it.
    pub fn type_change(&mut self, edits: &[TextEdit]) -> Result<Option<Change>> {
        for e in edits {
            let delete =
                isize::try_from(e.delete).map_err(|_| BenchError::Check("delete".into()))?;
            self.doc
                .splice_text(&self.text, e.position, delete, &e.insert)?;
        }
        self.doc.commit();
        Ok(self.doc.get_last_local_change())
    }

    /// The text.
    pub fn text(&self) -> Result<String> {
        Ok(self.doc.text(&self.text)?)
    }
}

/// What a plain replay did.
pub struct PlainRun {
    /// Wall time.
    pub elapsed: Duration,
    /// Bytes of the changes the author produced (what a minimal wire carries).
    pub change_bytes: u64,
    /// Size of the author's saved document.
    pub saved_bytes: u64,
    /// The receiver's final text.
    pub text: String,
    /// Changes produced.
    pub changes: usize,
}

/// Replays keystrokes into one document, committing every `batch`, and
/// applies the changes to a second document in one go (the least work that
/// leaves two replicas holding the text).
pub fn replay_sequential(keystrokes: &[TextEdit], batch: usize) -> Result<(PlainRun, PlainText)> {
    let started = Instant::now();
    let mut author = PlainText::new(1)?;
    let mut receiver = PlainText::fork(&mut author, 2);
    let mut change_bytes = 0u64;
    let mut made = Vec::with_capacity(keystrokes.len() / batch.max(1) + 1);
    for chunk in keystrokes.chunks(batch.max(1)) {
        if let Some(change) = author.type_change(chunk)? {
            change_bytes += change.raw_bytes().len() as u64;
            made.push(change);
        }
    }
    let changes = made.len();
    receiver.doc.apply_changes(made)?;
    let text = receiver.text()?;
    let elapsed = started.elapsed();
    let saved_bytes = author.doc.save().len() as u64;
    Ok((
        PlainRun {
            elapsed,
            change_bytes,
            saved_bytes,
            text,
            changes,
        },
        author,
    ))
}

/// Median time plain Automerge takes to apply one single-keystroke change
/// to a replica of a text holding `history` changes.
pub fn apply_one_keystroke(history: usize) -> Result<Duration> {
    let mut author = PlainText::new(1)?;
    for i in 0..history {
        let at = i;
        author.type_change(&[TextEdit {
            position: at,
            delete: 0,
            insert: "a".into(),
        }])?;
    }
    let mut receiver = PlainText::fork(&mut author, 2);
    let mut times = Vec::new();
    for i in 0..21 {
        let change = author
            .type_change(&[TextEdit {
                position: history + i,
                delete: 0,
                insert: "b".into(),
            }])?
            .ok_or_else(|| BenchError::Check("no change".into()))?;
        let started = Instant::now();
        receiver.doc.apply_changes([change])?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Replays a concurrent trace on one document per author, delivering
/// exactly what each step needs.
pub fn replay_concurrent(trace: &Trace, steps: &[Step]) -> Result<PlainRun> {
    let started = Instant::now();
    let mut base = PlainText::new(0)?;
    let mut change_bytes = 0u64;
    let (mut docs, changes) = replay_each(trace, steps, &mut base, |change| {
        change_bytes += change.raw_bytes().len() as u64;
        Ok(())
    })?;
    let (first, rest) = docs
        .split_first_mut()
        .ok_or_else(|| BenchError::Check("no authors".into()))?;
    for other in rest {
        first.doc.merge(&mut other.doc)?;
    }
    let text = first.text()?;
    Ok(PlainRun {
        elapsed: started.elapsed(),
        change_bytes,
        saved_bytes: first.doc.save().len() as u64,
        text,
        changes,
    })
}

/// Replays a concurrent trace as [`replay_concurrent`] does and hands every
/// change, as it is made, to two observers: one applies it as the app does
/// (our automerge patch walks only where it lands), one logs patches, which
/// makes automerge walk the whole text as unpatched 0.12 does. Whether the
/// two end in the same saved bytes.
pub fn window_equals_whole_walk(trace: &Trace, steps: &[Step]) -> Result<bool> {
    let mut base = PlainText::new(0)?;
    let mut window = PlainText::fork(&mut base, 0xaa);
    let mut whole = PlainText::fork(&mut base, 0xbb);
    replay_each(trace, steps, &mut base, |change| {
        window.doc.apply_changes([change.clone()])?;
        window.doc.reset_diff_cursor();
        whole.doc.update_diff_cursor();
        whole.doc.apply_changes([change.clone()])?;
        Ok(())
    })?;
    Ok(window.doc.save() == whole.doc.save() && window.text()? == trace.end_content)
}

/// Each author's document, forked from `base`, typing its steps after
/// taking exactly what each step needs from the others; `made_one` sees every
/// change as it is made. Returns the documents and how many changes.
fn replay_each(
    trace: &Trace,
    steps: &[Step],
    base: &mut PlainText,
    mut made_one: impl FnMut(&Change) -> Result<()>,
) -> Result<(Vec<PlainText>, usize)> {
    let mut docs: Vec<PlainText> = (0..trace.agents)
        .map(|a| PlainText::fork(base, a as u8 + 1))
        .collect();
    let mut made: Vec<Vec<Change>> = vec![Vec::new(); trace.agents];
    let mut applied = vec![vec![0usize; trace.agents]; trace.agents];
    for step in steps {
        let me = step.agent;
        for (other, &need) in step.needs.iter().enumerate() {
            if other != me && applied[me][other] < need {
                let missing = made[other][applied[me][other]..need].to_vec();
                docs[me].doc.apply_changes(missing)?;
                applied[me][other] = need;
            }
        }
        let edits: Vec<TextEdit> = step
            .txns
            .iter()
            .flat_map(|&t| trace.txns[t].patches.iter().cloned())
            .collect();
        let change = docs[me]
            .type_change(&edits)?
            .ok_or_else(|| BenchError::Check("a step made no change".into()))?;
        made_one(&change)?;
        made[me].push(change);
    }
    Ok((docs, made.iter().map(Vec::len).sum()))
}

/// What a plain Automerge sync over iroh did.
pub struct PlainSync {
    /// From dialing to the receiver holding everything.
    pub elapsed: Duration,
    /// Frame bytes both sides wrote.
    pub bytes: u64,
    /// The receiver's document afterwards.
    pub received: AutoCommit,
}

async fn loopback_endpoint(alpn: bool) -> Result<Endpoint> {
    let mut builder = Endpoint::builder(presets::Minimal)
        .relay_mode(RelayMode::Disabled)
        .clear_ip_transports()
        .bind_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(|e| BenchError::Network(e.to_string()))?;
    if alpn {
        builder = builder.alpns(vec![ALPN.to_vec()]);
    }
    builder
        .bind()
        .await
        .map_err(|e| BenchError::Network(e.to_string()))
}

fn net<E: std::fmt::Display>(e: E) -> BenchError {
    BenchError::Network(e.to_string())
}

/// Sends one frame (length, body); an empty body means "nothing to say".
async fn send_frame(send: &mut iroh::endpoint::SendStream, body: &[u8]) -> Result<u64> {
    let len = u32::try_from(body.len()).map_err(net)?;
    send.write_all(&len.to_be_bytes()).await.map_err(net)?;
    send.write_all(body).await.map_err(net)?;
    Ok(4 + body.len() as u64)
}

async fn recv_frame(recv: &mut iroh::endpoint::RecvStream) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    if recv.read_exact(&mut len).await.is_err() {
        return Ok(None);
    }
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    recv.read_exact(&mut body).await.map_err(net)?;
    Ok(Some(body))
}

/// Both sides of Automerge's sync, in turns, until neither has anything to
/// send; returns bytes written.
async fn converse(
    doc: &mut AutoCommit,
    send: &mut iroh::endpoint::SendStream,
    recv: &mut iroh::endpoint::RecvStream,
    speaks_first: bool,
) -> Result<u64> {
    let mut state = State::new();
    let mut written = 0;
    if speaks_first {
        let first = doc
            .sync()
            .generate_sync_message(&mut state)
            .map(Message::encode);
        written += send_frame(send, &first.unwrap_or_default()).await?;
    }
    while let Some(body) = recv_frame(recv).await? {
        let heard = !body.is_empty();
        if heard {
            let message = Message::decode(&body).map_err(net)?;
            doc.sync().receive_sync_message(&mut state, message)?;
        }
        match doc.sync().generate_sync_message(&mut state) {
            Some(message) => written += send_frame(send, &message.encode()).await?,
            None if !heard => break,
            None => written += send_frame(send, &[]).await?,
        }
    }
    send.finish().map_err(net)?;
    Ok(written)
}

/// Syncs `source` into an empty document with Automerge's own protocol over
/// a fresh iroh connection on loopback.
pub async fn sync_over_iroh(source: &AutoCommit) -> Result<PlainSync> {
    let holder = loopback_endpoint(true).await?;
    let newcomer = loopback_endpoint(false).await?;
    let mut source = source.clone();
    let serve = {
        let holder = holder.clone();
        tokio::spawn(async move {
            let incoming = holder.accept().await.ok_or_else(|| net("no connection"))?;
            let connection = incoming.await.map_err(net)?;
            let (mut send, mut recv) = connection.accept_bi().await.map_err(net)?;
            let written = converse(&mut source, &mut send, &mut recv, false).await?;
            // Hold the connection until the newcomer has read it all.
            connection.closed().await;
            Ok::<u64, BenchError>(written)
        })
    };
    let started = Instant::now();
    let connection = newcomer.connect(holder.addr(), ALPN).await.map_err(net)?;
    let (mut send, mut recv) = connection.open_bi().await.map_err(net)?;
    let mut received = AutoCommit::new_with_encoding(automerge::TextEncoding::Utf16CodeUnit);
    let mine = converse(&mut received, &mut send, &mut recv, true).await?;
    let elapsed = started.elapsed();
    connection.close(0u32.into(), b"done");
    let theirs = serve.await.map_err(net)??;
    holder.close().await;
    newcomer.close().await;
    Ok(PlainSync {
        elapsed,
        bytes: mine + theirs,
        received,
    })
}

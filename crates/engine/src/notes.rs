//! Notes: adding one to a gathering, typing into it (as the editor saw it),
//! and reading a gathering's notes.

use crate::circle::CircleRuntime;
use crate::circles::{gathering_views, profile_names};
use crate::views::{GatheringNotes, NoteView};
use crate::{check_text, circle, random_id, short_hex, DocId, TextEdit, MAX_TEXT_CHARS};
use crate::{CircleId, Engine, EngineError, Store};
use circlekeep_model::docs;

impl<S: Store> Engine<S> {
    /// Adds a note to a gathering; returns the note id once it is on disk.
    pub fn add_note(
        &self,
        id: CircleId,
        gathering: DocId,
        text: &str,
    ) -> Result<String, EngineError> {
        let text = check_text(text, MAX_TEXT_CHARS)?;
        let note_id = random_id();
        self.with_circle(id, |c, ctx| {
            if gathering.is_circle() || c.doc(&gathering).is_none() {
                return Err(
                    if c.circle_doc()
                        .is_some_and(|d| d.gatherings.contains_key(&gathering.to_hex()))
                    {
                        EngineError::Unreadable
                    } else {
                        EngineError::UnknownGathering(gathering.short())
                    },
                );
            }
            let note = docs::Note {
                author: self.me.member_id().to_hex(),
                text: autosurgeon::Text::with_value(text),
                created: circle::now(),
                turn: kept_turn(c, gathering)?,
            };
            c.write(ctx, gathering, |doc| {
                Ok(docs::put_note(doc, &note_id, &note)?)
            })
        })?;
        Ok(note_id)
    }

    /// Types into a note: applies `edits` in order as one change in one
    /// sealed entry, on disk before this returns.
    pub fn edit_note(
        &self,
        id: CircleId,
        gathering: DocId,
        note: &str,
        edits: &[TextEdit],
    ) -> Result<(), EngineError> {
        self.splice_note(id, gathering, note, edits, false)
    }

    /// Edits a note as the editor saw it at `version` (from `notes`):
    /// splices typed against an older text land where they were meant and
    /// merge with edits that arrived since. Returns the version the editor
    /// holds next (its text with these edits), for the following splice.
    pub fn edit_note_at(
        &self,
        id: CircleId,
        gathering: DocId,
        note: &str,
        edits: &[TextEdit],
        version: &[String],
    ) -> Result<Vec<String>, EngineError> {
        check_inserted(edits)?;
        let version = version
            .iter()
            .map(|h| h.parse())
            .collect::<Result<Vec<automerge::ChangeHash>, _>>()
            .map_err(|_| EngineError::BadText("that note version is not one this app gave"))?;
        self.with_circle(id, |c, ctx| {
            require_note(c, gathering, note)?;
            kept_turn(c, gathering)?;
            let next = c.write(ctx, gathering, |doc| {
                Ok(docs::splice_text_at(
                    doc,
                    &["notes", note, "text"],
                    edits,
                    &version,
                )?)
            })?;
            Ok(next.iter().map(|h| h.to_string()).collect())
        })
    }

    pub(crate) fn splice_note(
        &self,
        id: CircleId,
        gathering: DocId,
        note: &str,
        edits: &[TextEdit],
        commit_each: bool,
    ) -> Result<(), EngineError> {
        check_inserted(edits)?;
        self.with_circle(id, |c, ctx| {
            require_note(c, gathering, note)?;
            kept_turn(c, gathering)?;
            c.write(ctx, gathering, |doc| {
                Ok(docs::splice_text(
                    doc,
                    &["notes", note, "text"],
                    edits,
                    commit_each,
                )?)
            })
        })
    }

    /// The notes of one gathering, or of every gathering (unreadable ones
    /// listed without notes).
    pub fn notes(
        &self,
        id: CircleId,
        gathering: Option<DocId>,
    ) -> Result<Vec<GatheringNotes>, EngineError> {
        self.with_circle(id, |c, _| {
            let doc = c.circle_doc().ok_or(EngineError::Unreadable)?;
            let names = profile_names(&doc);
            let mut out = Vec::new();
            for view in gathering_views(c, &doc) {
                if gathering.is_some_and(|g| g.to_hex() != view.id) {
                    continue;
                }
                let doc_id = DocId::from_hex(&view.id).ok();
                let notes = doc_id
                    .and_then(|g| c.doc(&g))
                    .and_then(|d| c.read_gathering(d).ok())
                    .map(|g| {
                        let mut notes: Vec<NoteView> = g
                            .notes
                            .into_iter()
                            .map(|(note_id, n)| NoteView {
                                id: note_id,
                                author_name: names
                                    .get(&n.author)
                                    .cloned()
                                    .unwrap_or_else(|| short_hex(&n.author)),
                                author: n.author,
                                text: n.text.as_str().to_owned(),
                                created: n.created,
                            })
                            .collect();
                        notes.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
                        notes
                    })
                    .unwrap_or_default();
                let version = doc_id
                    .map(|g| c.version(&g).iter().map(|h| h.to_string()).collect())
                    .unwrap_or_default();
                out.push(GatheringNotes {
                    gathering: view,
                    version,
                    notes,
                });
            }
            if let Some(g) = gathering {
                if out.is_empty() {
                    return Err(EngineError::UnknownGathering(g.short()));
                }
            }
            Ok(out)
        })
    }
}

/// Refuses a splice that inserts more than a whole note may hold.
fn check_inserted(edits: &[TextEdit]) -> Result<(), EngineError> {
    let inserted: usize = edits.iter().map(|e| e.insert.chars().count()).sum();
    if inserted > MAX_TEXT_CHARS {
        return Err(EngineError::BadText(
            "that edit inserts too much text at once",
        ));
    }
    Ok(())
}

/// The running turn of `gathering` a note is filed under (`None` if no
/// turn runs), or an error while the running turn is off the record: then
/// no note of that gathering is added to or typed into, whatever the UI
/// lets through.
fn kept_turn(c: &CircleRuntime, gathering: DocId) -> Result<Option<String>, EngineError> {
    let Some(doc) = c.doc(&gathering) else {
        return Ok(None);
    };
    let turns = docs::read_turns(doc)?;
    match docs::running_turn(&turns) {
        Some((_, turn)) if turn.off_record => Err(EngineError::NotAllowed(
            "this turn is off the record: no notes are kept until it ends",
        )),
        running => Ok(running.map(|(id, _)| id.clone())),
    }
}

/// Checks that `note` exists in gathering `gathering` of this circle.
fn require_note(c: &CircleRuntime, gathering: DocId, note: &str) -> Result<(), EngineError> {
    let doc = c
        .doc(&gathering)
        .filter(|_| !gathering.is_circle())
        .ok_or_else(|| EngineError::UnknownGathering(gathering.short()))?;
    if docs::has_note(doc, note) {
        Ok(())
    } else {
        Err(EngineError::UnknownNote(note.to_owned()))
    }
}

//! Editing the text of a document: whole replacements as minimal diffs,
//! and the UI's splices, at the text as it is or as the editor last saw it.

use super::{map_obj, DocError};
use automerge::{transaction::Transactable, AutoCommit, ChangeHash, ObjType, ReadDoc, Value, ROOT};

/// Replaces the text at `path` (a chain of map keys from the root) with
/// `new_text`, as a minimal diff so concurrent edits merge by character.
pub fn update_text(doc: &mut AutoCommit, path: &[&str], new_text: &str) -> Result<(), DocError> {
    let text = text_obj(doc, path)?;
    doc.update_text(&text, new_text)?;
    Ok(())
}

/// One splice of a text: at `position` delete `delete` units, then insert
/// `insert`; positions and lengths count UTF-16 code units, as the UI does.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextEdit {
    /// Where the splice starts.
    pub position: usize,
    /// How many units it deletes there.
    pub delete: usize,
    /// What it inserts there.
    pub insert: String,
}

/// Applies `edits` in order to the text at `path`; with `commit_each`, each
/// edit becomes its own change (otherwise they join the pending one).
pub fn splice_text(
    doc: &mut AutoCommit,
    path: &[&str],
    edits: &[TextEdit],
    commit_each: bool,
) -> Result<(), DocError> {
    let text = text_obj(doc, path)?;
    for edit in edits {
        let length = doc.length(&text);
        if edit.position > length || edit.delete > length - edit.position {
            return Err(DocError::Shape(format!(
                "edit at {} deleting {} is outside the text ({length} long)",
                edit.position, edit.delete
            )));
        }
        let delete = isize::try_from(edit.delete)
            .map_err(|_| DocError::Shape("edit deletes too much".into()))?;
        doc.splice_text(&text, edit.position, delete, &edit.insert)?;
        if commit_each {
            doc.commit();
        }
    }
    Ok(())
}

/// Applies `edits` to the text at `path` as it was at `version` (the heads
/// the editor last saw), as one change concurrent with whatever arrived
/// since, so a splice typed against an older text lands where it was meant
/// and merges with the newer edits character by character. Returns the
/// version the editor sees next: its own text with these edits.
pub fn splice_text_at(
    doc: &mut AutoCommit,
    path: &[&str],
    edits: &[TextEdit],
    version: &[ChangeHash],
) -> Result<Vec<ChangeHash>, DocError> {
    if let Some(unknown) = version
        .iter()
        .find(|h| doc.get_change_meta_by_hash(h).is_none())
    {
        return Err(DocError::Shape(format!("unknown version {unknown}")));
    }
    doc.isolate(version);
    // Isolated, the heads after committing are this change's (or the
    // version itself, if the edits changed nothing).
    let spliced = splice_text(doc, path, edits, false).map(|()| {
        doc.commit();
        doc.get_heads()
    });
    if spliced.is_err() {
        doc.rollback();
    }
    doc.integrate();
    // Moving in and out of isolation logs patches nobody reads.
    doc.reset_diff_cursor();
    spliced
}

pub(super) fn text_obj(doc: &AutoCommit, path: &[&str]) -> Result<automerge::ObjId, DocError> {
    let (last, parents) = path
        .split_last()
        .ok_or_else(|| DocError::Shape("empty path".into()))?;
    let mut obj = ROOT;
    for key in parents {
        obj = map_obj(doc, &obj, key)?;
    }
    match doc.get(&obj, *last)? {
        Some((Value::Object(ObjType::Text), text)) => Ok(text),
        _ => Err(DocError::Shape(format!("{} is not text", path.join(".")))),
    }
}

//! Search over what this device can read of one circle: gathering notes,
//! goals (with their progress notes and milestones), contracts (with their
//! report back) and the member's own journal entries about the circle or
//! about no circle in particular.
//! Nothing is indexed at rest: each search reads the documents already in
//! memory and the sealed journal, and forgets what it read.

use crate::circles::{gathering_views, profile_names};
use crate::plan::holder;
use crate::views::{CircleView, JournalEntryView, RoleHolder, SearchHit};
use crate::{CircleId, DocId, Engine, EngineError, Store};
use chrono::NaiveDate;

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most words in one query.
pub const MAX_QUERY_WORDS: usize = 16;

/// What to look for, and where.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// Words that must all occur (any case).
    pub text: String,
    /// Only what this member (hex) wrote or owns.
    pub member: Option<String>,
    /// Only from this day on.
    pub from: Option<NaiveDate>,
    /// Only up to this day.
    pub to: Option<NaiveDate>,
    /// Only notes taken during this member's (hex) turns.
    pub turn_of: Option<String>,
}

impl SearchQuery {
    /// The query's words, lower-cased, checked for size.
    fn words(&self) -> Result<Vec<String>, EngineError> {
        if self.text.chars().count() > MAX_QUERY_CHARS {
            return Err(EngineError::BadText("that search is too long"));
        }
        let words: Vec<String> = self
            .text
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        match words.len() {
            0 => Err(EngineError::BadText("search for at least one word")),
            n if n > MAX_QUERY_WORDS => Err(EngineError::BadText("search for fewer words")),
            _ => Ok(words),
        }
    }

    /// Whether `hit` passes the filters (not the words).
    fn admits(&self, hit: &SearchHit) -> bool {
        let day = hit.date.get(..10).unwrap_or_default();
        let after = self
            .from
            .is_none_or(|from| day >= from.to_string().as_str());
        let before = self.to.is_none_or(|to| day <= to.to_string().as_str());
        let by = self
            .member
            .as_ref()
            .is_none_or(|m| hit.author.as_ref().is_some_and(|a| &a.id == m));
        let turn = self
            .turn_of
            .as_ref()
            .is_none_or(|m| hit.turn_of.as_ref().is_some_and(|t| &t.id == m));
        after && before && by && turn
    }
}

/// Whether every word occurs in `text`.
fn matches(text: &str, words: &[String]) -> bool {
    let text = text.to_lowercase();
    words.iter().all(|w| text.contains(w.as_str()))
}

impl<S: Store> Engine<S> {
    /// What in circle `id` this device can read contains every word of the
    /// query and passes its filters, oldest first.
    pub fn search(&self, id: CircleId, query: &SearchQuery) -> Result<Vec<SearchHit>, EngineError> {
        let words = query.words()?;
        let circle = self.circle(id)?;
        let me = self.me.member_id().to_hex();
        let mut found = self.note_hits(id)?;
        found.extend(record_hits(&circle));
        let about_here = |e: &JournalEntryView| e.circle.as_ref().is_none_or(|c| *c == circle.id);
        let my_name = circle.members.iter().find(|m| m.me).map(|m| m.name.clone());
        found.extend(self.journal()?.into_iter().filter(about_here).map(|e| {
            let author = RoleHolder {
                id: me.clone(),
                name: my_name.clone().unwrap_or_else(|| "you".into()),
            };
            hit(
                "journal",
                e.id,
                e.text,
                Some(author),
                e.created,
                "your journal",
            )
        }));
        found.retain(|h| matches(&h.text, &words) && query.admits(h));
        found.sort_by(|a, b| (&a.date, &a.kind, &a.id).cmp(&(&b.date, &b.kind, &b.id)));
        Ok(found)
    }

    /// Every note of every gathering this device can read, with the turn
    /// it was taken in.
    fn note_hits(&self, id: CircleId) -> Result<Vec<SearchHit>, EngineError> {
        self.with_circle(id, |c, _| {
            let doc = c.circle_doc().ok_or(EngineError::Unreadable)?;
            let names = profile_names(&doc);
            let mut out = Vec::new();
            for view in gathering_views(c, &doc) {
                let Some(g) = DocId::from_hex(&view.id)
                    .ok()
                    .and_then(|g| c.doc(&g))
                    .and_then(|d| c.read_gathering(d).ok())
                else {
                    continue;
                };
                for (note_id, n) in g.notes {
                    let turn_of = n
                        .turn
                        .as_ref()
                        .and_then(|t| g.turns.get(t))
                        .map(|t| holder(&names, &t.member));
                    // The day is the hit's date; the context says where in it.
                    let context = match &turn_of {
                        Some(t) => format!("gathering notes, {}'s turn", t.name),
                        None => "gathering notes".to_owned(),
                    };
                    let author = (!n.author.is_empty()).then(|| holder(&names, &n.author));
                    let mut hit = hit(
                        "note",
                        note_id,
                        n.text.as_str().to_owned(),
                        author,
                        view.date.clone(),
                        &context,
                    );
                    hit.gathering = Some(view.id.clone());
                    hit.turn_of = turn_of;
                    out.push(hit);
                }
            }
            Ok(out)
        })
    }
}

/// Goals, their progress notes and milestones, contracts and their
/// report back, as hits.
fn record_hits(circle: &CircleView) -> Vec<SearchHit> {
    // Records whose creator cannot be told (an empty owner) have none.
    let owner = |id: &str, name: &str| {
        (!id.is_empty()).then(|| RoleHolder {
            id: id.to_owned(),
            name: name.to_owned(),
        })
    };
    let mut out = Vec::new();
    for g in &circle.goals {
        let by = owner(&g.owner, &g.owner_name);
        let context = format!("{}'s goal", g.owner_name);
        out.push(hit(
            "goal",
            g.id.clone(),
            g.text.clone(),
            by.clone(),
            g.created.clone(),
            &context,
        ));
        for p in &g.progress {
            let by = owner(&p.author, &p.author_name);
            let context = format!("progress on {}'s goal “{}”", g.owner_name, g.text);
            out.push(hit(
                "progress",
                p.id.clone(),
                p.text.clone(),
                by,
                p.created.clone(),
                &context,
            ));
        }
        for m in &g.milestones {
            let context = format!("milestone of {}'s goal “{}”", g.owner_name, g.text);
            let date = m.reached.clone().unwrap_or_else(|| g.created.clone());
            out.push(hit(
                "milestone",
                m.id.clone(),
                m.text.clone(),
                by.clone(),
                date,
                &context,
            ));
        }
    }
    for k in &circle.contracts {
        let by = owner(&k.owner, &k.owner_name);
        let context = format!("{}'s contract", k.owner_name);
        let mut made = hit(
            "contract",
            k.id.clone(),
            k.text.clone(),
            by.clone(),
            k.created.clone(),
            &context,
        );
        made.gathering = k.gathering.clone();
        out.push(made);
        if !k.reflection.is_empty() {
            let context = format!("{}'s report back on “{}”", k.owner_name, k.text);
            let date = k.reported.clone().unwrap_or_else(|| k.created.clone());
            out.push(hit(
                "report",
                k.id.clone(),
                k.reflection.clone(),
                by,
                date,
                &context,
            ));
        }
    }
    out
}

fn hit(
    kind: &str,
    id: String,
    text: String,
    author: Option<RoleHolder>,
    date: String,
    context: &str,
) -> SearchHit {
    SearchHit {
        kind: kind.to_owned(),
        id,
        text,
        author,
        date,
        context: context.to_owned(),
        gathering: None,
        turn_of: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(date: &str, author: &str, turn_of: Option<&str>) -> SearchHit {
        let who = |id: &str| RoleHolder {
            id: id.into(),
            name: id.into(),
        };
        SearchHit {
            turn_of: turn_of.map(who),
            ..hit(
                "note",
                "n".into(),
                "x".into(),
                Some(who(author)),
                date.into(),
                "",
            )
        }
    }

    #[test]
    fn words_match_in_any_case_and_all_must_occur() {
        let query = SearchQuery {
            text: "  Courage  ASKING ".into(),
            ..Default::default()
        };
        let words = query.words().expect("words");
        assert!(matches("Asking for help took courage.", &words));
        assert!(!matches("It took courage.", &words));
        assert!(matches("ÜBER Courage, asking", &["über".into()]));
    }

    #[test]
    fn an_empty_or_oversized_query_is_refused() {
        for text in [
            "",
            "   ",
            &"a ".repeat(MAX_QUERY_WORDS + 1),
            &"x".repeat(MAX_QUERY_CHARS + 1),
        ] {
            let query = SearchQuery {
                text: text.to_owned(),
                ..Default::default()
            };
            assert!(
                matches!(query.words(), Err(EngineError::BadText(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn filters_by_member_day_and_turn() {
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
        let query = SearchQuery {
            text: "x".into(),
            member: Some("bo".into()),
            from: day("2027-01-07"),
            to: day("2027-01-21"),
            turn_of: Some("ada".into()),
        };
        assert!(query.admits(&found("2027-01-07T18:00:00Z", "bo", Some("ada"))));
        assert!(query.admits(&found("2027-01-21", "bo", Some("ada"))));
        assert!(
            !query.admits(&found("2027-01-06T23:59:00Z", "bo", Some("ada"))),
            "before"
        );
        assert!(
            !query.admits(&found("2027-01-22", "bo", Some("ada"))),
            "after"
        );
        assert!(
            !query.admits(&found("2027-01-10", "cy", Some("ada"))),
            "someone else's"
        );
        assert!(
            !query.admits(&found("2027-01-10", "bo", None)),
            "outside a turn"
        );
        assert!(SearchQuery::default().admits(&found("", "", None)));
    }
}

//! Picking the one item a person meant from their words: an id prefix,
//! a name, or a name prefix.

use crate::EngineError;

/// Why a selector picked nothing, or too much.
pub(crate) enum Miss {
    None,
    Many,
}

impl Miss {
    pub(crate) fn into_error(self, selector: &str, none: fn(String) -> EngineError) -> EngineError {
        match self {
            Miss::None => none(selector.trim().to_owned()),
            Miss::Many => EngineError::Ambiguous(selector.trim().to_owned()),
        }
    }
}

/// Picks the one item a person meant: by id prefix (4+ hex digits), else by
/// exact name, else by name prefix (names compared case-insensitively).
pub(crate) fn select<'a, T>(
    items: &'a [T],
    selector: &str,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> Option<&str>,
) -> Result<&'a T, Miss> {
    let wanted = selector.trim().to_lowercase();
    let rules: [&dyn Fn(&T) -> bool; 3] = [
        &|t| wanted.len() >= 4 && id(t).starts_with(&wanted),
        &|t| name(t).is_some_and(|n| n.to_lowercase() == wanted),
        &|t| !wanted.is_empty() && name(t).is_some_and(|n| n.to_lowercase().starts_with(&wanted)),
    ];
    for rule in rules {
        let mut matches = items.iter().filter(|t| rule(t));
        match (matches.next(), matches.next()) {
            (Some(one), None) => return Ok(one),
            (Some(_), Some(_)) => return Err(Miss::Many),
            _ => {}
        }
    }
    Err(Miss::None)
}

/// The one key starting with `selector` (4+ characters), if exactly one does.
pub(crate) fn find_key<'a>(
    keys: impl Iterator<Item = &'a String>,
    selector: &str,
) -> Option<String> {
    let wanted = selector.trim().to_lowercase();
    if wanted.len() < 4 {
        return None;
    }
    let mut found = keys.filter(|k| k.starts_with(&wanted));
    match (found.next(), found.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

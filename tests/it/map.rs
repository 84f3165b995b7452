//! ARCHITECTURE.md and SECURITY.md stay true: every file path they name in
//! backticks exists (a bare file name resolves under the crates its section
//! is about), and every `path::name` they name is in that file.

use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 6] = [".rs", ".js", ".md", ".toml", ".sh", ".css"];

/// Backticked spans outside code fences, with the section each is in.
fn spans(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let (mut fenced, mut bases) = (false, Vec::new());
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let ticked: Vec<String> = line
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        if fenced {
            continue;
        }
        if line.starts_with("#") {
            bases = ticked
                .iter()
                .map(|b| b.trim_end_matches('/').to_owned())
                .collect();
            continue;
        }
        out.extend(ticked.into_iter().map(|t| (t, bases.clone())));
    }
    out
}

/// Whether a span names a file or folder of the repository.
fn is_path(span: &str) -> bool {
    span.chars().any(char::is_alphanumeric)
        && !span.contains(' ')
        && !span.contains('*')
        && !span.starts_with("../")
        && (span.contains('/')
            || EXTENSIONS
                .iter()
                .any(|e| span.split("::").next().is_some_and(|p| p.ends_with(e))))
}

fn resolve(root: &Path, path: &str, bases: &[String]) -> Option<PathBuf> {
    let path = path.trim_start_matches("./");
    std::iter::once(root.join(path))
        .chain(
            bases
                .iter()
                .flat_map(|b| [root.join(b).join("src").join(path), root.join(b).join(path)]),
        )
        .find(|p| p.exists())
}

/// The paths a map names in backticks that are not there, and how many
/// paths it names.
fn missing_paths(root: &Path, map: &str) -> (Vec<String>, usize) {
    let text = std::fs::read_to_string(root.join(map)).expect("the map");
    let mut missing = Vec::new();
    let mut checked = 0;
    for (span, bases) in spans(&text) {
        if !is_path(&span) {
            continue;
        }
        checked += 1;
        let (path, item) = match span.split_once("::") {
            Some((path, item)) => (path, Some(item)),
            None => (span.as_str(), None),
        };
        match resolve(root, path, &bases) {
            None => missing.push(span.clone()),
            Some(file) => {
                if let Some(item) = item {
                    let text = std::fs::read_to_string(&file).unwrap_or_default();
                    if !text.contains(item) {
                        missing.push(span.clone());
                    }
                }
            }
        }
    }
    (missing, checked)
}

#[test]
fn every_path_in_the_architecture_map_and_the_threat_table_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root");
    for (map, at_least) in [("ARCHITECTURE.md", 50), ("SECURITY.md", 10)] {
        let (missing, checked) = missing_paths(root, map);
        assert!(checked > at_least, "{map} names files ({checked} checked)");
        assert!(
            missing.is_empty(),
            "{map} names what is not there: {missing:?}"
        );
    }
}

//! One error vocabulary: every code the UI switches on is one the backend
//! can send, and the CLI's `--json` error carries codes from it.

use circlekeep_engine::ErrorCode;
use std::path::Path;

/// The string literals compared with an error's `code` in the UI's sources.
fn codes_the_ui_switches_on() -> Vec<String> {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src");
    let mut codes = Vec::new();
    for entry in std::fs::read_dir(&ui).expect("ui/src") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "js") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for op in ["code === \"", "code !== \"", "code == \"", "code != \""] {
            for (at, _) in text.match_indices(op) {
                let rest = &text[at + op.len()..];
                codes.extend(rest.split('"').next().map(str::to_owned));
            }
        }
    }
    codes
}

#[test]
fn every_code_the_ui_switches_on_exists() {
    let codes = codes_the_ui_switches_on();
    assert!(!codes.is_empty(), "the UI switches on error codes");
    for code in codes {
        assert!(
            code.parse::<ErrorCode>().is_ok(),
            "the UI switches on {code:?}, which no backend error carries"
        );
    }
}

#[test]
fn engine_errors_carry_codes_of_the_vocabulary() {
    let refused = circlekeep_engine::EngineError::BadText("text cannot be empty");
    assert_eq!(refused.code(), ErrorCode::BadText);
    assert_eq!(
        serde_json::to_value(refused.code()).ok(),
        Some(serde_json::json!("bad_text"))
    );
}

//! The `circlekeep` binary's own surface: help, version and refusals of
//! bad arguments, before any home or passphrase is touched. (The scenarios
//! live in `tests/it/cli.rs`; this test also makes `cargo test` build the
//! binary those scenarios run.)

use std::process::Command;

fn circlekeep(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_circlekeep"))
        .args(args)
        .env_remove("CIRCLEKEEP_PASSPHRASE")
        .output()
        .expect("run circlekeep")
}

#[test]
fn help_lists_the_verbs_and_version_names_the_release() {
    let help = circlekeep(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for verb in ["init", "circle", "gathering", "note", "serve", "backup"] {
        assert!(text.contains(verb), "--help lacks {verb}: {text}");
    }
    let version = circlekeep(&["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn unknown_verbs_and_flags_are_refused_with_usage() {
    for args in [&["frobnicate"][..], &["circle", "list", "--colour"][..]] {
        let out = circlekeep(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Usage"), "{args:?}: {err}");
    }
}

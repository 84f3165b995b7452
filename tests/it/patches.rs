//! Our fixes to dependencies (`docs/patches.md`): `scripts/patch-deps`
//! builds the patched copy only from the registry's own release of the
//! crate. Run from a scratch copy of the script and the diffs, with a
//! scratch cargo home, so the workspace's own copy is never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CRATE: &str = "automerge-0.12.0.crate";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The registry's download, which `scripts/patch-deps` fetched before the
/// workspace could build.
fn registry_release() -> Vec<u8> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo"));
    let cache = home.join("registry/cache");
    std::fs::read_dir(&cache)
        .expect("cargo's registry cache")
        .filter_map(|index| std::fs::read(index.ok()?.path().join(CRATE)).ok())
        .next()
        .expect("automerge's registry download (scripts/patch-deps fetches it)")
}

/// Runs a scratch copy of `scripts/patch-deps` whose cargo home holds
/// `download` as automerge's registry download.
fn patch_deps_with(download: &[u8]) -> (tempfile::TempDir, Output) {
    let root = tempfile::tempdir().expect("scratch folder");
    let dir = root.path();
    for sub in ["scripts", "patches", "cargo/registry/cache/index.example"] {
        std::fs::create_dir_all(dir.join(sub)).expect("folders");
    }
    std::fs::copy(
        workspace().join("scripts/patch-deps"),
        dir.join("scripts/patch-deps"),
    )
    .expect("script");
    for diff in std::fs::read_dir(workspace().join("patches")).expect("patches") {
        let diff = diff.expect("diff").path();
        std::fs::copy(
            &diff,
            dir.join("patches").join(diff.file_name().expect("name")),
        )
        .expect("diff");
    }
    std::fs::write(
        dir.join("cargo/registry/cache/index.example").join(CRATE),
        download,
    )
    .expect("download");
    let out = run_patch_deps(dir);
    (root, out)
}

/// Runs the scratch copy of `scripts/patch-deps` in `dir`.
fn run_patch_deps(dir: &Path) -> Output {
    Command::new("bash")
        .arg(dir.join("scripts/patch-deps"))
        .env("CARGO_HOME", dir.join("cargo"))
        .output()
        .expect("bash")
}

#[test]
fn a_tampered_download_of_a_dependency_is_not_patched_or_built() {
    let mut download = registry_release();
    let middle = download.len() / 2;
    download[middle] ^= 0x01;
    let (dir, out) = patch_deps_with(&download);
    assert!(!out.status.success(), "a tampered crate was patched");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match the registry checksum"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join(".patched/automerge").exists());
}

#[test]
fn the_patched_copy_is_the_registry_release_with_our_diff() {
    let (dir, out) = patch_deps_with(&registry_release());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let patched = dir.path().join(".patched/automerge");
    let batch = std::fs::read_to_string(patched.join("src/op_set2/change/batch.rs"))
        .expect("patched source");
    assert!(
        batch.contains("struct ListWindow"),
        "our diff is not in the copy"
    );
    // A second run finds the copy current and leaves it as it is.
    let stamp = std::fs::metadata(patched.join(".circlekeep-patched"))
        .and_then(|m| m.modified())
        .expect("stamp");
    let again = run_patch_deps(dir.path());
    assert!(again.status.success());
    assert!(
        again.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let after = std::fs::metadata(patched.join(".circlekeep-patched"))
        .and_then(|m| m.modified())
        .expect("stamp");
    assert_eq!(stamp, after);
}

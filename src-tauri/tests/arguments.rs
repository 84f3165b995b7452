//! The app's command line is checked before any window opens: bad
//! arguments get a clear message and exit status 2. (This test also makes
//! `cargo test` build the binary the desktop end-to-end test drives.)

use std::process::Command;

fn app(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_circlekeep-app"))
        .args(args)
        .output()
        .expect("run circlekeep-app");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_are_refused_before_a_window_opens() {
    let cases: [(&[&str], &str); 4] = [
        (&["--colour"], "unknown argument \"--colour\""),
        (&["--home"], "--home needs a value"),
        (
            &["--local-discovery", "maybe"],
            "--local-discovery is on or off",
        ),
        (&["--bind", "nowhere"], "--bind wants ADDR:PORT"),
    ];
    for (args, message) in cases {
        let (code, stderr) = app(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

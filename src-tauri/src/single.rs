//! One app per data folder for links: a `circlekeep://` link opened while
//! the app already runs on that folder is handed to it (it shows the link
//! and comes to the front) instead of starting a second app, through a
//! local socket ([`Home::local_socket`]).

use circlekeep_engine::Home;
use interprocess::local_socket::prelude::*;
use interprocess::local_socket::{ListenerOptions, Stream};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

/// What the running app listens on, in (or named after) the data folder.
const SOCKET: &str = "app.sock";
/// The longest link taken (a ticket is under 1 KiB).
const MAX_LINK_BYTES: u64 = 8 * 1024;
/// How long a later start waits for the running app to take its link.
const HAND_OVER_WAIT: Duration = Duration::from_secs(3);

/// Hands `link` to an app running on `home`; `true` if one took it (an
/// app that is quitting, or none, does not answer).
pub fn hand_over(home: &Home, link: &str) -> bool {
    let Ok(stream) = home.local_socket(SOCKET).and_then(Stream::connect) else {
        return false;
    };
    let _ = stream.set_recv_timeout(Some(HAND_OVER_WAIT));
    let _ = stream.set_send_timeout(Some(HAND_OVER_WAIT));
    let mut stream = BufReader::new(stream);
    if writeln!(stream.get_mut(), "{link}").is_err() {
        return false;
    }
    let mut answer = String::new();
    stream.read_line(&mut answer).is_ok() && answer.trim() == "ok"
}

/// Takes links handed over by later starts on `home`, each passed to
/// `opened`, for as long as the app runs.
pub fn listen(home: &Home, opened: impl Fn(String) + Send + 'static) {
    let _ = std::fs::create_dir_all(home.root());
    // What a quit app left behind (a socket file) is replaced.
    let listener = home.local_socket(SOCKET).and_then(|name| {
        ListenerOptions::new()
            .name(name)
            .try_overwrite(true)
            .create_sync()
    });
    let listener = match listener {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!("links opened later start a second app: {e}");
            return;
        }
    };
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut stream = BufReader::new(stream);
            let read = (&mut stream).take(MAX_LINK_BYTES).read_line(&mut line);
            let link = line.trim();
            if read.is_ok() && link.starts_with("circlekeep://") {
                opened(link.to_owned());
                let _ = writeln!(stream.get_mut(), "ok");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_link_reaches_the_running_app_and_nothing_else_does() {
        let dir = tempfile::tempdir().expect("home");
        let home = Home::new(dir.path());
        assert!(
            !hand_over(&home, "circlekeep://invite1/AAAA"),
            "nobody runs"
        );
        let (tx, rx) = mpsc::channel();
        listen(&home, move |link| {
            let _ = tx.send(link);
        });
        assert!(hand_over(&home, "circlekeep://invite1/AAAA"));
        assert_eq!(rx.recv().expect("link"), "circlekeep://invite1/AAAA");
        assert!(
            !hand_over(&home, "https://example.org/"),
            "not a link of ours"
        );
        assert!(rx.try_recv().is_err());
    }
}

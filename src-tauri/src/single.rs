//! One app per data folder for links: a `circlekeep://` link opened while
//! the app already runs on that folder is handed to it (it shows the link
//! and comes to the front) instead of starting a second app, through a
//! socket in the data folder (Unix only for now).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// The socket's name in the data folder.
const SOCKET: &str = "app.sock";
/// The longest link taken (a ticket is under 1 KiB).
const MAX_LINK_BYTES: u64 = 8 * 1024;
/// How long a later start waits for the running app to take its link.
const HAND_OVER_WAIT: Duration = Duration::from_secs(3);

/// Hands `link` to an app running on `home`; `true` if one took it (an
/// app that is quitting, or none, does not answer).
pub fn hand_over(home: &Path, link: &str) -> bool {
    let Ok(mut stream) = UnixStream::connect(home.join(SOCKET)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(HAND_OVER_WAIT));
    if writeln!(stream, "{link}").is_err() {
        return false;
    }
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).is_ok() && answer.trim() == "ok"
}

/// Takes links handed over by later starts on `home`, each passed to
/// `opened`, for as long as the app runs.
pub fn listen(home: &Path, opened: impl Fn(String) + Send + 'static) {
    let path = home.join(SOCKET);
    // What a quit app left behind; nobody answers on it.
    let _ = std::fs::create_dir_all(home);
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!("links opened later start a second app: {e}");
            return;
        }
    };
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut line = String::new();
            let read = BufReader::new((&stream).take(MAX_LINK_BYTES)).read_line(&mut line);
            let link = line.trim();
            if read.is_ok() && link.starts_with("circlekeep://") {
                opened(link.to_owned());
                let _ = writeln!(stream, "ok");
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
        let home = tempfile::tempdir().expect("home");
        assert!(
            !hand_over(home.path(), "circlekeep://invite1/AAAA"),
            "nobody runs"
        );
        let (tx, rx) = mpsc::channel();
        listen(home.path(), move |link| {
            let _ = tx.send(link);
        });
        assert!(hand_over(home.path(), "circlekeep://invite1/AAAA"));
        assert_eq!(rx.recv().expect("link"), "circlekeep://invite1/AAAA");
        assert!(
            !hand_over(home.path(), "https://example.org/"),
            "not a link of ours"
        );
        assert!(rx.try_recv().is_err());
    }
}

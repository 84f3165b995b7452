//! Circlekeep's desktop shell: a Tauri window whose commands are one-line
//! calls into the engine. Only this crate knows Tauri, IPC and JSON.

mod commands;
mod state;

use state::AppState;

/// Builds and runs the app until its window closes.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CIRCLEKEEP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let state = match AppState::from_env() {
        Ok(state) => state,
        Err(e) => {
            eprintln!("circlekeep: {e}");
            std::process::exit(1);
        }
    };
    let result = tauri::Builder::default()
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::identity::status,
            commands::identity::init,
            commands::identity::unlock,
            commands::identity::member_card,
            commands::circles::circles,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("circlekeep: the window could not start: {e}");
        std::process::exit(1);
    }
}

//! Circlekeep's desktop shell: a Tauri window whose commands are one-line
//! calls into the engine, plus the sync node the unlocked app runs. Only
//! this crate knows Tauri, IPC and JSON.

mod commands;
mod keychain;
mod logging;
mod notify;
mod session;
mod single;
mod state;

use state::AppState;

/// Shows links that later starts on this data folder hand over, with the
/// window brought to the front.
fn take_links(app: &tauri::AppHandle) {
    use tauri::{Emitter, Manager};
    let handle = app.clone();
    single::listen(&app.state::<AppState>().home, move |link| {
        if let Some(window) = handle.get_webview_window("main") {
            let _ = window.unminimize();
            let _ = window.set_focus();
        }
        let _ = handle.emit("open-link", link);
    });
}

/// Builds and runs the app until its window closes.
pub fn run() {
    let state = match AppState::from_args(std::env::args().skip(1)) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("circlekeep: {e}");
            std::process::exit(2);
        }
    };
    // Flushes the log file when the app ends.
    let _log = logging::init(state.home.root());
    // A link opened while the app runs on this folder goes to that app.
    if let Some(link) = state.opened_link() {
        if single::hand_over(&state.home, &link) {
            return;
        }
    }
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .manage(state)
        .setup(|app| {
            session::exit_on_signals(app.handle());
            session::lighten_webview(app.handle());
            take_links(app.handle());
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::identity::status,
            commands::identity::init,
            commands::identity::unlock,
            commands::identity::lock,
            commands::identity::unlock_kept,
            commands::identity::forget_passphrase,
            commands::identity::change_passphrase,
            commands::identity::member_card,
            commands::identity::restore,
            commands::circles::circles,
            commands::circles::create_circle,
            commands::circles::circle,
            commands::circles::practice,
            commands::circles::accept_charter,
            commands::circles::edit_charter,
            commands::circles::leave_circle,
            commands::circles::accept_circle,
            commands::circles::rejections,
            commands::circles::setup_circle,
            commands::schedule::reschedule,
            commands::schedule::cancel_gathering,
            commands::schedule::set_absent,
            commands::schedule::swap_role,
            commands::schedule::reminders,
            commands::circles::add_member,
            commands::circles::remove_member,
            commands::circles::add_keeper,
            commands::circles::remove_keeper,
            commands::gatherings::open_gathering,
            commands::gatherings::notes,
            commands::gatherings::add_note,
            commands::gatherings::edit_note,
            commands::gatherings::gathering_state,
            commands::gatherings::step_brief,
            commands::gatherings::set_step,
            commands::gatherings::add_step,
            commands::gatherings::remove_step,
            commands::gatherings::set_attendance,
            commands::gatherings::request_time,
            commands::gatherings::start_turn,
            commands::gatherings::start_speaking,
            commands::gatherings::end_turn,
            commands::gatherings::pause_turn,
            commands::goals::add_goal,
            commands::goals::goal_progress,
            commands::goals::goal_milestone,
            commands::goals::reach_milestone,
            commands::goals::goal_status,
            commands::goals::add_contract,
            commands::goals::report_contract,
            commands::goals::contract_history,
            commands::journal::journal,
            commands::journal::journal_add,
            commands::reflect::search,
            commands::reflect::pulse,
            commands::reflect::answer_pulse,
            commands::reflect::retrospective,
            commands::reflect::export_retro,
            commands::exports::export_markdown,
            commands::exports::export_ics,
            commands::exports::backup,
            commands::exports::save_key_file,
            commands::sync::sync_status,
            commands::sync::invite,
            commands::sync::opened_link,
            commands::sync::diagnostics,
            commands::sync::join,
            commands::sync::network_settings,
            commands::sync::set_network,
            commands::sync::export_bundle,
            commands::sync::import_bundle,
            commands::devices::add_device,
            commands::devices::device_linked,
            commands::devices::devices,
            commands::devices::retire_device,
            commands::devices::join_as_device,
        ])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|handle, event| {
            if let tauri::RunEvent::Exit = event {
                session::stop(handle);
            }
        }),
        Err(e) => {
            eprintln!("circlekeep: the window could not start: {e}");
            std::process::exit(1);
        }
    }
}

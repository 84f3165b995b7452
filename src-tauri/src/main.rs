//! Starts the Circlekeep desktop app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    circlekeep_app::run();
}

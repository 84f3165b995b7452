//! Generates the Tauri context (config, capabilities, embedded front end).
fn main() {
    tauri_build::build()
}

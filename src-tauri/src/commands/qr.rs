//! A link or ticket as a QR code, for a phone or laptop across the table:
//! its modules, which the UI draws (`ui/src/qr.js`).

use crate::state::CommandError;
use circlekeep_engine::ErrorCode;

/// `text` as a QR code: modules per side, and the modules row by row,
/// `1` dark and `0` light.
pub fn modules(text: &str) -> Result<(usize, String), CommandError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| CommandError::new(ErrorCode::Internal, &e.to_string()))?;
    let modules = code
        .to_colors()
        .into_iter()
        .map(|module| match module {
            qrcode::Color::Dark => '1',
            qrcode::Color::Light => '0',
        })
        .collect();
    Ok((code.width(), modules))
}

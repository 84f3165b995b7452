//! A link or ticket as a QR code, for a phone or laptop across the table:
//! its modules, which the UI draws (`ui/src/qr.js`).

use crate::state::CommandError;
use circlekeep_engine::ErrorCode;
use serde::Serialize;

/// A one-time ticket to show: as text, as a `circlekeep://` link, and the
/// link as a QR code.
#[derive(Serialize)]
pub struct Scannable {
    ticket: String,
    link: String,
    /// Modules per side of the link's QR code.
    qr_size: usize,
    /// Its modules row by row, `1` dark and `0` light.
    qr: String,
    expires_at: u64,
}

impl Scannable {
    /// `ticket` (its text and link) with the link's QR code.
    pub fn new(ticket: String, link: String, expires_at: u64) -> Result<Self, CommandError> {
        let (qr_size, qr) = modules(&link)?;
        Ok(Scannable {
            ticket,
            link,
            qr_size,
            qr,
            expires_at,
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::modules;

    /// The modules drawn as `ui/src/qr.js` draws them (a quiet zone of 4,
    /// 5 pixels a module) and read back by a QR decoder, as a phone would.
    fn scan(size: usize, modules: &str) -> String {
        let (quiet, scale) = (4, 5);
        let side = (size + 2 * quiet) * scale;
        let dark: Vec<bool> = modules.chars().map(|m| m == '1').collect();
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            let (col, row) = (x / scale, y / scale);
            let inside =
                (quiet..quiet + size).contains(&col) && (quiet..quiet + size).contains(&row);
            if inside && dark[(row - quiet) * size + (col - quiet)] {
                0
            } else {
                255
            }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one code in the picture");
        grids[0].decode().expect("a readable code").1
    }

    #[test]
    fn an_invite_link_s_code_scans_to_the_link() {
        let link = format!("circlekeep://invite1/{}", "A1b2-C3d4_".repeat(40));
        let (size, drawn) = modules(&link).expect("a code");
        assert_eq!(drawn.len(), size * size);
        assert_eq!(scan(size, &drawn), link);
    }
}

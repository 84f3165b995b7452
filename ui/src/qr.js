// QR codes drawn from the modules the backend computed (the `qrcode`
// crate): a device ticket, an invite link.

/** Draws a QR code's modules (`1` dark, row by row) with a quiet zone. */
export function drawQr(canvas, size, modules, scale = 5) {
  const side = (size + 8) * scale;
  canvas.width = side;
  canvas.height = side;
  const pen = canvas.getContext("2d");
  pen.fillStyle = "#fff";
  pen.fillRect(0, 0, side, side);
  pen.fillStyle = "#000";
  for (let i = 0; i < modules.length; i++) {
    if (modules[i] !== "1") continue;
    pen.fillRect((4 + (i % size)) * scale, (4 + Math.floor(i / size)) * scale, scale, scale);
  }
  canvas.dataset.modules = String(size);
}

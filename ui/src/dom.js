// Building the page: elements from data, always as text (never as HTML),
// since circle content comes from other members' devices.

/** `el("li", { class: "x", onclick }, "text", child)` → an element. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** A form whose submit runs `handler(form)` with errors shown in `say`. */
export function form(attrs, fields, label, handler, say) {
  const button = el("button", { type: "submit" }, label);
  const node = el("form", attrs, ...fields, button);
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await handler(node);
      say("");
    } catch (e) {
      say(e.message);
    } finally {
      button.disabled = false;
    }
  });
  return node;
}

/** "3 min ago" for a Unix time in seconds. */
export function ago(seconds) {
  if (!seconds) return "never";
  const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

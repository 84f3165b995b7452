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

/** A form whose submit runs `handler(form)`, with errors (and the success
 * message it returns, if any) shown by `say`. */
export function form(attrs, fields, label, handler, say) {
  const button = el("button", { type: "submit" }, label);
  const node = el("form", attrs, ...fields, button);
  // Fields the user changed are marked, so a re-render keeps them (drafts).
  const touch = (event) => event.target.name && (event.target.dataset.touched = "");
  node.addEventListener("input", touch);
  node.addEventListener("change", touch);
  node.addEventListener("reset", () => untouch(node.querySelectorAll("[data-touched]")));
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    // Sent with Enter, the field keeps the focus; leave it, as a click on
    // the button would, so the redraw that follows is not held back.
    if (node.contains(document.activeElement)) document.activeElement.blur();
    button.disabled = true;
    // Submitted values are no longer drafts (the handler may re-render).
    const touched = [...node.querySelectorAll("[data-touched]")];
    untouch(touched);
    try {
      // A handler may return what to say of its success.
      const done = await handler(node);
      say(typeof done === "string" ? done : "", "ok");
    } catch (e) {
      for (const field of touched) field.dataset.touched = "";
      say(e.message);
    } finally {
      button.disabled = false;
    }
  });
  return node;
}

function untouch(fields) {
  for (const field of fields) delete field.dataset.touched;
}

/** What the user changed but has not submitted in the forms (with ids) under `root`. */
export function drafts(root) {
  return [...root.querySelectorAll("form[id] [data-touched]")].map((field) => ({
    form: field.form.id,
    name: field.name,
    value: field.type === "checkbox" || field.type === "radio" ? field.checked : field.value,
  }));
}

/** Puts `drafts` back into the same fields of the forms now under `root`. */
export function restoreDrafts(root, kept) {
  for (const { form, name, value } of kept) {
    const found = root.querySelector(`form#${CSS.escape(form)}`);
    const field = found?.elements.namedItem(name);
    if (!(field instanceof Element)) continue;
    if (typeof value === "boolean") field.checked = value;
    else field.value = value;
    field.dataset.touched = "";
  }
}

/** A date as YYYY-MM-DD on this computer's calendar (not UTC's). */
export function localDate(date) {
  const two = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`;
}

/** A calendar day (YYYY-MM-DD, as the schedule stores it) in this
 * computer's locale: the day itself, never shifted by the time zone. */
export function dayText(day) {
  const [y, m, d] = String(day).split("-").map(Number);
  const at = new Date(y, m - 1, d);
  return /^\d{4}-\d{2}-\d{2}$/.test(day) && at.getDate() === d ? at.toLocaleDateString([], { dateStyle: "medium" }) : day;
}

/** A stored moment (RFC 3339, UTC) as a date in this computer's locale
 * and time zone. */
export function dateText(moment) {
  const at = new Date(moment);
  return Number.isNaN(at.getTime()) ? moment : at.toLocaleDateString([], { dateStyle: "medium" });
}

/** A stored moment as date and time in this computer's locale and time zone. */
export function dateTimeText(moment) {
  const at = new Date(moment);
  return Number.isNaN(at.getTime()) ? moment : at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
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

/**
 * Asks in the page (a modal `<dialog>`) and resolves to whether the person
 * chose `yes`; `no` (Cancel) or Escape resolve to false. Unlike
 * `window.confirm` under Tauri, nothing happens until they answer.
 */
export function ask(question, yes, no = "Cancel") {
  return new Promise((resolve) => {
    const dialog = el("dialog", { class: "ask" },
      el("p", {}, question),
      el("div", { class: "inline" },
        el("button", { class: "secondary", value: "cancel", onclick: () => dialog.close("cancel") }, no),
        el("button", { class: "danger", value: "yes", onclick: () => dialog.close("yes") }, yes)));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

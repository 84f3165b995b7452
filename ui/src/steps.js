// What the current step of a running gathering brings to the table: the
// ground rules at the opening, each present member's open contract at the
// report back (kept, partly, not or renegotiated, and what they learnt),
// the contracts made here during the turns, and at the close the next
// gathering with who facilitates, keeps time and hosts. Also the question
// *End turn* asks: the presenter's contract until next time.
import { backend } from "./bridge.js";
import { el, form, dayText } from "./dom.js";

export const OUTCOMES = ["kept", "partly", "not", "renegotiated"];

const PRACTICE_ROLES = ["facilitator", "timekeeper", "host"];

/** A gathering's `roles` (role → holder) as [role, holder] pairs: the
 * practice's roles first, then the circle's own by name. */
export function rolesInOrder(roles) {
  const rank = (r) => (PRACTICE_ROLES.includes(r) ? PRACTICE_ROLES.indexOf(r) : PRACTICE_ROLES.length);
  return Object.entries(roles).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
}

/** " (recorded by Ben)" when someone other than the owner did it. */
export function byLine(what, holder) {
  return holder ? ` (${what} by ${holder.name})` : "";
}

/** The brief of the current step (`brief` from `step_brief`), with forms
 * that go to the engine and then `refresh()`. */
export function stepBrief({ circle, brief, say, refresh }) {
  const parts = [];
  if (brief.step === "open") {
    parts.push(el("h4", {}, "Ground rules"),
      brief.ground_rules.trim() ? el("div", { class: "charter", id: "ground-rules" }, brief.ground_rules)
        : el("p", { class: "meta" }, "The circle has no charter yet: agree its ground rules under Charter."));
  }
  if (brief.step === "report-back") {
    parts.push(el("h4", {}, "Report back on last time's contracts"),
      brief.report_back.length
        ? el("ul", { id: "report-back", class: "results" }, brief.report_back.map((k) => reportRow(circle, k, say, refresh)))
        : el("p", { class: "meta" }, "No one here has an open contract."));
  }
  if (brief.step === "close") parts.push(...closing(brief.next));
  if (brief.review) parts.push(...seriesReview(brief.review));
  if (brief.made_here.length) {
    parts.push(el("h4", {}, "Contracts until next time"),
      el("ul", { id: "made-here", class: "results" }, brief.made_here.map((k) =>
        el("li", { "data-contract": k.id }, el("strong", {}, k.owner_name), `: ${k.text}`, el("span", { class: "meta" }, byLine("recorded", k.recorded_by))))));
  }
  return parts.length ? el("section", { id: "step-brief", "aria-label": "This step" }, parts) : null;
}

function reportRow(circle, k, say, refresh) {
  const done = k.outcome ? el("div", { class: "outcome" }, `Reported: ${k.outcome}${k.reflection ? ` — ${k.reflection}` : ""}`,
    el("span", { class: "meta" }, byLine("reported", k.reported_by))) : null;
  return el("li", { "data-contract": k.id },
    el("strong", {}, k.owner_name), `: ${k.text}`, el("span", { class: "meta" }, byLine("recorded", k.recorded_by)), done,
    form({ id: `report-back-${k.id}`, class: "inline" }, [
      el("select", { name: "outcome", "aria-label": `How ${k.owner_name}'s contract went` },
        OUTCOMES.map((o) => el("option", { value: o, selected: o === k.outcome }, o))),
      el("input", { name: "reflection", placeholder: "What they learnt", value: k.reflection, size: 32, maxlength: 2000 }),
    ], k.outcome ? "Update" : "Report", async (f) => {
      await backend.reportContract(circle, k.id, f.outcome.value, f.reflection.value);
      await refresh();
    }, say));
}

function closing(next) {
  if (!next) return [el("h4", {}, "Next time"), el("p", { class: "meta", id: "next-gathering" }, "No next gathering is planned: set the circle's rhythm under Schedule.")];
  const roles = rolesInOrder(next.roles).map(([role, who]) => el("li", { "data-role": role }, `${role[0].toUpperCase()}${role.slice(1)}: `, el("strong", {}, who.name)));
  return [el("h4", {}, "Next time"),
    el("p", { id: "next-gathering" }, `${dayText(next.date)} at ${next.time}`, next.place ? ` — ${next.place}` : ""),
    el("ul", { id: "next-roles" }, roles),
    el("p", { class: "meta" }, "Confirm these round the table; swaps and absences are under Schedule.")];
}

/** A short series in review at its close: the actions set and how they went. */
function seriesReview(review) {
  const held = review.gatherings.length;
  return [el("h4", {}, "The series in review"),
    el("p", { class: "meta" }, `${held} gathering${held === 1 ? "" : "s"} since ${dayText(review.from ?? review.to)}; ${review.contracts.length} action${review.contracts.length === 1 ? "" : "s"} set.`),
    el("ul", { id: "series-review", class: "results" }, review.contracts.map((k) =>
      el("li", { "data-contract": k.id }, el("strong", {}, k.owner_name), `: ${k.text} — ${k.outcome || "not reported"}${k.reflection ? `. ${k.reflection}` : ""}`)))];
}

/**
 * Asks for `presenter`'s contract until next time (a modal `<dialog>`),
 * optionally towards one of their `goals`; resolves to `{ text, goal }`,
 * or null if they make none.
 */
export function askContract(presenter, goals) {
  return new Promise((resolve) => {
    const theirs = goals.filter((g) => g.owner === presenter.id);
    const text = el("input", { name: "text", required: true, maxlength: 2000, size: 40, "aria-label": "The contract", placeholder: "What they commit to for the next two weeks" });
    const goal = el("select", { name: "goal", "aria-label": "Towards a goal" },
      el("option", { value: "" }, "(no goal)"), theirs.map((g) => el("option", { value: g.id }, g.text)));
    const dialog = el("dialog", { class: "ask", id: "contract-dialog" },
      el("form", { method: "dialog" },
        el("p", {}, `${presenter.name}'s contract until next time`),
        text, theirs.length ? goal : null,
        el("div", { class: "inline" },
          el("button", { type: "button", class: "secondary", onclick: () => dialog.close("none") }, "No contract"),
          el("button", { type: "submit", value: "save", id: "save-contract" }, "Save contract"))));
    dialog.addEventListener("close", () => {
      const saved = dialog.returnValue === "save" && text.value.trim();
      resolve(saved ? { text: text.value, goal: goal.value || null } : null);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    text.focus();
  });
}

// Looking back: search over the circle (notes, goals, contracts and my own
// journal), the pulse after a gathering, and the retrospective. Results are
// kept only in this page's memory.
import { backend } from "./bridge.js";
import { el, form, dayText, dateText } from "./dom.js";

const QUESTIONS = [
  ["heard", "Was I heard?"],
  ["useful", "Was it useful?"],
  ["time_fair", "Was the time fair?"],
];

/** The "Look back" tab: search, then the retrospective. `view.lookBack`
 * keeps the last results across redraws. */
export async function lookBack(view, circle) {
  const kept = (view.lookBack ??= { hits: null, retro: null });
  const members = circle.members.map((m) => el("option", { value: m.id }, m.name));
  const search = form({ id: "search-form", role: "search" }, [
    el("input", { name: "text", type: "search", value: kept.text ?? "", placeholder: "Words in notes, goals, contracts, your journal", required: true, maxlength: 200, "aria-label": "Search words" }),
    el("div", { class: "inline" },
      el("label", {}, "By ", el("select", { name: "member" }, el("option", { value: "" }, "anyone"), members)),
      el("label", {}, "In the turn of ", el("select", { name: "turnOf" }, el("option", { value: "" }, "any turn"), members.map((o) => o.cloneNode(true)))),
      el("label", {}, "From ", el("input", { name: "from", type: "date" })),
      el("label", {}, "to ", el("input", { name: "to", type: "date" }))),
  ], "Search", async (f) => {
    kept.hits = await backend.search(view.id, f.text.value, f.member.value, f.turnOf.value, f.from.value, f.to.value);
    kept.text = f.text.value;
    await view.refresh();
    return kept.hits.length ? `Found ${kept.hits.length}.` : "Nothing found.";
  }, view.say);
  const hits = kept.hits && el("ul", { id: "search-results", class: "results", "aria-live": "polite" },
    kept.hits.map((h) => el("li", { "data-kind": h.kind },
      el("div", { class: "meta" }, `${dateText(h.date)} · ${h.context}${h.author ? ` · ${h.author.name}` : ""}`),
      el("p", {}, h.text))));
  return el("section", { class: "tab-body" },
    el("h3", {}, "Search"), search, hits,
    el("h3", {}, "Retrospective"), retroForm(view, kept), kept.retro ? retroTable(kept.retro) : null);
}

/** Choose the stretch; show it, or save it as Markdown. */
function retroForm(view, kept) {
  const retro = form({ id: "retro-form", class: "inline" }, [
    el("label", {}, "From ", el("input", { name: "from", type: "date", title: "Empty: from the first gathering" })),
    el("label", {}, "to ", el("input", { name: "to", type: "date", title: "Empty: up to today" })),
  ], "Show", async (f) => {
    kept.retro = await backend.retrospective(view.id, f.from.value, f.to.value);
    await view.refresh();
  }, view.say);
  const saver = el("button", { id: "export-retro", type: "button", class: "secondary", onclick: () => {
    const f = retro.elements;
    view.save(() => backend.exportRetro(view.id, f.from.value, f.to.value));
  } }, "Save as Markdown");
  retro.append(saver);
  return retro;
}

/** The retrospective at a glance: per member, then the pulse trend. */
function retroTable(r) {
  const total = r.members.reduce((s, m) => s + m.airtime_secs, 0);
  const rows = r.members.map((m) => el("tr", {},
    el("td", {}, m.member.name),
    el("td", {}, `${m.attended} of ${r.gatherings.length}`),
    el("td", {}, `${Math.ceil(m.airtime_secs / 60)} min (${total ? Math.round((m.airtime_secs * 100) / total) : 0}%)`),
    el("td", {}, `${m.outcomes.kept ?? 0} of ${m.contracts} kept`)));
  const pulses = r.gatherings.filter((g) => g.pulse.heard != null);
  const count = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  return el("div", { id: "retro" },
    el("p", {}, `${count(r.gatherings.length, "gathering")} held, ${count(r.contracts.length, "contract")} made, ${count(r.milestones.length, "milestone")} reached, ${count(r.goals_achieved.length, "goal")} achieved.`),
    el("table", {}, el("thead", {}, el("tr", {}, ["Member", "Came", "Airtime", "Contracts"].map((h) => el("th", {}, h)))), el("tbody", {}, rows)),
    r.contracts.length ? el("ul", { id: "retro-contracts", class: "results" }, r.contracts.map((k) =>
      el("li", {}, el("strong", {}, k.owner_name), `: ${k.text} — ${k.outcome || "open"}${k.reflection ? `. ${k.reflection}` : ""}`))) : null,
    pulses.length ? el("ul", { class: "pulse-trend" }, pulses.map((g) =>
      el("li", {}, `${dayText(g.date)}: heard ${g.pulse.heard}, useful ${g.pulse.useful}, time fair ${g.pulse.time_fair} (${g.pulse.answered} answers)`))) : null);
}

/** After a gathering: my three answers, and the circle's averages once
 * enough members answered. */
export async function pulsePanel(view) {
  const p = await backend.pulse(view.id, view.gathering);
  const scale = (name, label) => el("label", {}, label, " ",
    el("select", { name, required: true }, el("option", { value: "" }, "–"),
      [1, 2, 3, 4, 5].map((n) => el("option", { value: n, selected: p.mine?.[name] === n }, String(n)))));
  const answer = form({ id: "pulse-form", class: "inline" }, QUESTIONS.map(([name, label]) => scale(name, label)),
    p.mine ? "Change my answers" : "Send", async (f) => {
      const answers = Object.fromEntries(QUESTIONS.map(([name]) => [name, Number(f[name].value)]));
      await backend.answerPulse(view.id, view.gathering, answers);
      await view.refresh();
      return "Thank you: your answers are saved.";
    }, view.say);
  const shown = p.heard != null
    ? `The circle (${p.answered} answers): heard ${p.heard}, useful ${p.useful}, time fair ${p.time_fair} (of 5).`
    : `${p.answered} of ${p.needed} answers so far: the circle sees the averages once ${p.needed} have answered.`;
  return el("details", { id: "pulse", open: !p.mine },
    el("summary", {}, "Pulse: how was this gathering? (1 = not at all, 5 = fully)"),
    answer, el("p", { id: "pulse-summary", class: "meta", "aria-live": "polite" }, shown));
}

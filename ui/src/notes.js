// A note you can type into: each edit of the box goes to the engine as one
// splice, in order, with the version of the text it was typed against (so
// an edit from another member that arrived meanwhile does not shift it),
// and is on disk before the box says "saved". Edits from other members
// arrive as new text and are merged into the box without moving your caret.
import { backend } from "./bridge.js";
import { el, dateTimeText } from "./dom.js";
import { spliceBetween, moveCaret } from "./splice.js";

export class NoteEditor {
  constructor({ circle, gathering, note, version, say, locked = false }) {
    this.where = { circle, gathering, id: note.id };
    this.say = say;
    this.shown = note.text;
    /** The engine's version of the text the box shows (before unsent edits). */
    this.version = version;
    this.pending = 0;
    this.edits = 0;
    this.chain = Promise.resolve();
    this.box = el("textarea", { class: "note-text", "data-note": note.id, rows: 3, "aria-label": `Note by ${note.author_name}` });
    this.box.value = note.text;
    // During an off-the-record turn nothing is typed into a note (the engine
    // refuses it too).
    this.box.readOnly = locked;
    if (locked) this.box.title = "Off the record: no notes are kept until the turn ends";
    this.state = el("span", { class: "saved" }, "");
    this.box.addEventListener("input", () => this.typed());
    this.element = el(
      "li",
      { class: "note" },
      el("div", { class: "meta" }, note.author_name, " · ", dateTimeText(note.created), " ", this.state),
      this.box,
    );
  }

  typed() {
    const splice = spliceBetween(this.shown, this.box.value);
    if (!splice) return;
    this.shown = this.box.value;
    this.pending++;
    this.edits++;
    this.state.textContent = "saving…";
    const { circle, gathering, id } = this.where;
    this.chain = this.chain
      .then(() => backend.editNote(circle, gathering, id, [splice], this.version))
      .then(
        (next) => {
          this.version = next;
          if (--this.pending === 0) this.state.textContent = "saved";
        },
        (e) => {
          this.pending--;
          this.state.textContent = "not saved";
          this.say(e.message);
        },
      );
  }

  /** Where this box stands, to take before reading the note's text. */
  mark() {
    return { edits: this.edits, pending: this.pending };
  }

  /**
   * Shows `text`, the note as the engine had it at `version` when `mark` was taken —
   * unless the box has been typed into since, or had edits unsaved then:
   * that text may lack them, and the saving of the last edit brings a
   * fresher one.
   */
  update(text, version, mark = this.mark()) {
    if (mark.pending > 0 || mark.edits !== this.edits || this.pending > 0) return;
    this.version = version;
    const splice = spliceBetween(this.shown, text);
    if (!splice) return;
    const focused = document.activeElement === this.box;
    const [start, end] = [this.box.selectionStart, this.box.selectionEnd];
    this.box.value = text;
    this.shown = text;
    if (focused) this.box.setSelectionRange(moveCaret(start, splice), moveCaret(end, splice));
  }
}

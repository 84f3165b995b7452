// What one edit of a text box did, as a splice the engine applies to the
// note's Automerge text: positions and lengths in UTF-16 code units, which
// is how both JavaScript strings and the engine count.

/**
 * The single splice turning `before` into `after`: the common prefix and
 * suffix are kept, the middle replaced. Returns null when nothing changed.
 * A splice never cuts a surrogate pair in half.
 */
export function spliceBetween(before, after) {
  if (before === after) return null;
  let start = 0;
  const shorter = Math.min(before.length, after.length);
  while (start < shorter && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  let end = 0;
  while (
    end < shorter - start &&
    before.charCodeAt(before.length - 1 - end) === after.charCodeAt(after.length - 1 - end)
  ) {
    end++;
  }
  // Keep surrogate pairs whole on both edges.
  if (start > 0 && isHigh(before.charCodeAt(start - 1))) start--;
  if (end > 0 && isLow(before.charCodeAt(before.length - end))) end--;
  return {
    position: start,
    delete: before.length - start - end,
    insert: after.slice(start, after.length - end),
  };
}

/** Where a caret at `offset` in the old text lands after `splice`. */
export function moveCaret(offset, splice) {
  if (!splice || offset <= splice.position) return offset;
  if (offset >= splice.position + splice.delete) return offset - splice.delete + splice.insert.length;
  return splice.position + splice.insert.length;
}

const isHigh = (code) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code) => code >= 0xdc00 && code <= 0xdfff;

import { test } from "node:test";
import assert from "node:assert/strict";
import { spliceBetween, moveCaret } from "../src/splice.js";

const apply = (text, s) => text.slice(0, s.position) + s.insert + text.slice(s.position + s.delete);

test("no change is no splice", () => {
  assert.equal(spliceBetween("abc", "abc"), null);
});

test("typing, deleting and replacing become one splice each", () => {
  assert.deepEqual(spliceBetween("helo", "hello"), { position: 3, delete: 0, insert: "l" });
  assert.deepEqual(spliceBetween("hello", "helo"), { position: 3, delete: 1, insert: "" });
  assert.deepEqual(spliceBetween("a cat sat", "a dog sat"), { position: 2, delete: 3, insert: "dog" });
  assert.deepEqual(spliceBetween("", "x"), { position: 0, delete: 0, insert: "x" });
});

test("surrogate pairs are never split", () => {
  // Two emoji sharing their high surrogate: a naive diff would cut between the halves.
  const s = spliceBetween("a😀b", "a😁b");
  assert.deepEqual(s, { position: 1, delete: 2, insert: "😁" });
  assert.equal(apply("a😀b", s), "a😁b");
});

test("every splice turns before into after (random texts)", () => {
  const alphabet = ["a", "b", " ", "é", "😀", "😁", "\n"];
  let seed = 7;
  const rand = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  const word = () => Array.from({ length: rand(8) }, () => alphabet[rand(alphabet.length)]).join("");
  for (let i = 0; i < 2000; i++) {
    const before = word();
    const after = word();
    const s = spliceBetween(before, after);
    assert.equal(s === null ? before : apply(before, s), after, JSON.stringify({ before, after }));
  }
});

test("the caret follows text inserted before it and stays put after it", () => {
  const s = { position: 2, delete: 1, insert: "xyz" };
  assert.equal(moveCaret(1, s), 1);
  assert.equal(moveCaret(5, s), 7);
  assert.equal(moveCaret(3, s), 5);
});

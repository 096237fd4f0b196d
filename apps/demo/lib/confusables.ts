/**
 * Names that look alike: a skeleton in the spirit of Unicode's confusable detection (UTS #39),
 * reduced to what a display name needs. Two names with the same skeleton look the same to a
 * reader ("Bea" and Cyrillic "Веа", "Ann" and "Ánn", "rnary" and "mary"), so the sign-in refuses
 * the second while the first is signed in. Imports nothing of Next (server.ts uses it too).
 */

/** Letters of other scripts (and symbols) drawn like a Latin letter, by what they look like. */
const LOOK_ALIKES: Record<string, string> = {
  // Cyrillic
  а: "a",
  в: "b",
  г: "r",
  е: "e",
  ё: "e",
  з: "3",
  к: "k",
  м: "m",
  н: "h",
  о: "o",
  п: "n",
  р: "p",
  с: "c",
  т: "t",
  у: "y",
  х: "x",
  ь: "b",
  і: "i",
  ї: "i",
  ј: "j",
  ѕ: "s",
  ԁ: "d",
  ӏ: "l",
  ԛ: "q",
  ԝ: "w",
  ү: "y",
  һ: "h",
  ɡ: "g",
  // Greek
  α: "a",
  β: "b",
  γ: "y",
  ε: "e",
  ζ: "z",
  η: "n",
  ι: "i",
  κ: "k",
  μ: "u",
  ν: "v",
  ο: "o",
  ρ: "p",
  τ: "t",
  υ: "u",
  χ: "x",
  ω: "w",
  // Latin look-alikes, digits and symbols
  ı: "i",
  ȷ: "j",
  ℓ: "l",
  "0": "o",
  "1": "l",
  "|": "l",
  "!": "l",
};

/** Sequences drawn like one letter. */
const SEQUENCES: [RegExp, string][] = [
  [/rn/g, "m"],
  [/vv/g, "w"],
];

/**
 * The skeleton of `name`: compatibility-normalized, lower case, accents dropped, look-alike letters
 * of other scripts replaced by the Latin letter they resemble, spaces and punctuation between
 * letters ignored.
 */
export function skeleton(name: string): string {
  let text = name.normalize("NFKD").replace(/\p{M}/gu, "").toLocaleLowerCase("en-US");
  text = [...text].map((ch) => LOOK_ALIKES[ch] ?? ch).join("");
  for (const [pattern, replacement] of SEQUENCES) text = text.replace(pattern, replacement);
  return text.replace(/[\s._\-'’]+/g, "");
}

/**
 * Characters no message may carry: control characters (newlines and tabs aside) and the bidi
 * controls, which reorder what a reader sees ("invoice\u202Egpj.exe" shows as "invoiceexe.jpg"):
 * embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069) and the marks (U+200E,
 * U+200F, U+061C). Chat messages and notifications are checked against it on the server ({@link checkText}).
 */
const CONTROL_OR_DIRECTION = /[\u0000-\u0008\u000B-\u001F\u007F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

/**
 * A message's text as it will be sent (line breaks normalized, trimmed), or why it cannot be: empty,
 * longer than `maxLength`, or holding a control or text-direction character.
 */
export function checkText(raw: unknown, maxLength: number): { ok: true; text: string } | { ok: false; error: string } {
  if (typeof raw !== "string") return { ok: false, error: "A message is text." };
  const text = raw.replace(/\r\n?/g, "\n").trim();
  if (!text) return { ok: false, error: "Write a message first." };
  if (text.length > maxLength) return { ok: false, error: `Messages are at most ${maxLength} characters.` };
  if (CONTROL_OR_DIRECTION.test(text)) {
    return {
      ok: false,
      error: "Messages cannot contain control or text-direction characters (such as a right-to-left override).",
    };
  }
  return { ok: true, text };
}

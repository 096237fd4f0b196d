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

import { describe, expect, it } from "vitest";
import { isJsonText } from "../../protocol/json-text.js";
import { pollEnvelope } from "./poll.js";

const parses = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("isJsonText", () => {
  it("agrees with JSON.parse on valid and invalid texts", () => {
    const cases = [
      "0",
      "-0",
      "1.5e+3",
      "-12.25E-2",
      "01",
      "1.",
      ".5",
      "-",
      "1e",
      "+1",
      "Infinity",
      "NaN",
      "true",
      "false",
      "null",
      "nul",
      "truex",
      " true ",
      "\ttrue\n",
      "",
      '""',
      '"a\\"b"',
      '"\\u00e9\\uD83D\\uDE00"',
      '"\\u12"',
      '"\\x"',
      '"a\nb"',
      '"a\tb"',
      '"unterminated',
      "[]",
      "[1,2,3]",
      "[1,]",
      "[,1]",
      "[1 2]",
      "[[[]]]",
      "[",
      "]",
      "{}",
      '{"a":1}',
      '{"a":1,}',
      '{"a"}',
      "{a:1}",
      '{"a":1 "b":2}',
      '{"a":{"b":[1,{"c":null}]}}',
      '{"a":1}}',
      "[1]]",
      '{"a":[}',
      "[}",
      "{]",
      '{"a" : 1 , "b" : [ true , false ] }',
      "1 2",
      '"é ✓ 😀"',
      "[" + "[".repeat(5000) + "]".repeat(5000) + "]",
      "[".repeat(5000) + "]".repeat(4999),
    ];
    for (const text of cases) expect([text.slice(0, 40), isJsonText(text)]).toEqual([text.slice(0, 40), parses(text)]);
  });

  it("agrees with JSON.parse on random near-JSON texts", () => {
    const random = prng(7);
    const pieces = [
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      '"',
      '"k"',
      "1",
      "-",
      "0",
      ".",
      "e",
      "true",
      "null",
      " ",
      "\\",
      "\\n",
      "\n",
      "x",
      '"\\u00',
    ];
    for (let round = 0; round < 20_000; round++) {
      let text = "";
      const length = 1 + Math.floor(random() * 12);
      for (let k = 0; k < length; k++) text += pieces[Math.floor(random() * pieces.length)];
      expect([text, isJsonText(text)]).toEqual([text, parses(text)]);
    }
    // And on every JSON.stringify output of random values.
    for (let round = 0; round < 2_000; round++) {
      const value = {
        n: random(),
        s: String.fromCharCode(Math.floor(random() * 0xffff)),
        a: [random() < 0.5, null, -1e-7],
      };
      expect(isJsonText(JSON.stringify(value))).toBe(true);
    }
  });
});

describe("pollEnvelope", () => {
  const event = (json: string) => ({ seq: 7, channel: "c", event: "e", json, ts: 1 });

  it("embeds the stored JSON text as it is, however deep", () => {
    const deep = "[".repeat(5000) + "]".repeat(5000);
    expect(pollEnvelope("ep", event(deep), 0)).toBe(`{"channel":"c","event":"e","id":"ep-7","ts":1,"data":${deep}}`);
  });

  it("answers a stored text that is not JSON as null data, so the answer stays readable", () => {
    for (const bad of ["{not json", "", '"a\nb"', "[1,2"]) {
      expect(JSON.parse(pollEnvelope("ep", event(bad), 0))).toEqual({
        channel: "c",
        event: "e",
        id: "ep-7",
        ts: 1,
        data: null,
      });
    }
  });
});

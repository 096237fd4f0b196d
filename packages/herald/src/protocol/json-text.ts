/** Recognising one JSON value in a text without parsing it: any depth, nothing built. Pure. */

const SPACE = 32;
const TAB = 9;
const LF = 10;
const CR = 13;
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const IN_OBJECT = 1;
const IN_ARRAY = 2;

/**
 * Whether `text` is one JSON value (RFC 8259, as `JSON.parse` accepts it). A scan, without building
 * anything and without recursion (so any depth), at a few nanoseconds a character: stored events
 * are embedded in poll answers as they are, never parsed and re-serialized.
 */
export function isJsonText(text: string): boolean {
  const n = text.length;
  const stack: number[] = [];
  let i = 0;
  // 0: a value; 1: after a value; 2: a key; 3: a key or `}`; 4: a value or `]`.
  let state = 0;
  for (;;) {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === SPACE || c === LF || c === CR || c === TAB) i++;
      else break;
    }
    if (state === 1) {
      if (stack.length === 0) return i === n;
      if (i >= n) return false;
      const c = text.charCodeAt(i++);
      const top = stack[stack.length - 1];
      if (c === COMMA) state = top === IN_OBJECT ? 2 : 0;
      else if ((top === IN_OBJECT && c === CLOSE_BRACE) || (top === IN_ARRAY && c === CLOSE_BRACKET)) stack.pop();
      else return false;
      continue;
    }
    if (i >= n) return false;
    const c = text.charCodeAt(i);
    if (state === 2 || state === 3) {
      if (state === 3 && c === CLOSE_BRACE) {
        i++;
        stack.pop();
        state = 1;
        continue;
      }
      if (c !== QUOTE) return false;
      i = endOfString(text, i);
      if (i < 0) return false;
      while (i < n) {
        const w = text.charCodeAt(i);
        if (w === SPACE || w === LF || w === CR || w === TAB) i++;
        else break;
      }
      if (text.charCodeAt(i) !== COLON) return false;
      i++;
      state = 0;
      continue;
    }
    if (state === 4 && c === CLOSE_BRACKET) {
      i++;
      stack.pop();
      state = 1;
      continue;
    }
    state = 1;
    if (c === OPEN_BRACE) {
      i++;
      stack.push(IN_OBJECT);
      state = 3;
    } else if (c === OPEN_BRACKET) {
      i++;
      stack.push(IN_ARRAY);
      state = 4;
    } else if (c === QUOTE) {
      i = endOfString(text, i);
      if (i < 0) return false;
    } else if (text.startsWith("true", i)) i += 4;
    else if (text.startsWith("false", i)) i += 5;
    else if (text.startsWith("null", i)) i += 4;
    else {
      i = endOfNumber(text, i);
      if (i < 0) return false;
    }
  }
}

/** Index just past the string starting at `i` (a quote), or -1 when it is not a valid JSON string. */
function endOfString(text: string, i: number): number {
  const n = text.length;
  for (i++; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) return i + 1;
    if (c < SPACE) return -1;
    if (c === BACKSLASH) {
      const e = text.charCodeAt(++i);
      if (e === 117) {
        // \uXXXX
        for (let k = 1; k <= 4; k++) if (!isHex(text.charCodeAt(i + k))) return -1;
        i += 4;
      } else if (!(
        e === QUOTE ||
        e === BACKSLASH ||
        e === 47 ||
        e === 98 ||
        e === 102 ||
        e === 110 ||
        e === 114 ||
        e === 116
      )) {
        return -1;
      }
    }
  }
  return -1;
}

/** Index just past the number starting at `i`, or -1 when there is none. */
function endOfNumber(text: string, i: number): number {
  if (text.charCodeAt(i) === 45) i++; // -
  const first = text.charCodeAt(i);
  if (first === 48)
    i++; // 0
  else if (first >= 49 && first <= 57) while (isDigit(text.charCodeAt(i))) i++;
  else return -1;
  if (text.charCodeAt(i) === 46) {
    // .
    i++;
    if (!isDigit(text.charCodeAt(i))) return -1;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  const e = text.charCodeAt(i);
  if (e === 101 || e === 69) {
    // e E
    i++;
    const sign = text.charCodeAt(i);
    if (sign === 43 || sign === 45) i++;
    if (!isDigit(text.charCodeAt(i))) return -1;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  return i;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/**
 * JSON that keeps what `jq` keeps: object key order exactly as written (JSON.parse moves integer-like keys such as
 * label "1" or tag "2" to the front) and number literals as written. `printJq` prints the way `jq .` does, so
 * layout files are byte-identical to the ones moby's script writes with jq.
 */
export type OrderedJson = null | boolean | JsonNumber | string | OrderedJson[] | OrderedObject;
/** A JSON object with its keys in the order they were written. */
export type OrderedObject = { readonly kind: 'object'; readonly entries: [string, OrderedJson][] };
/** A JSON number as it was written. */
export type JsonNumber = { readonly kind: 'number'; readonly literal: string };

// JSON strings may not hold the control characters U+0000 to U+001F unescaped: the token says so.
const TOKEN =
  // eslint-disable-next-line no-control-regex
  /\s*(?:("(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")|(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([{}[\],:]))/y;

/** Parses JSON keeping key order and number literals, as jq prints them back. */
export function parseOrdered(text: string): OrderedJson {
  const lexer = { text, index: 0 };
  const value = parseValue(lexer, next(lexer));
  if (/\S/.test(text.slice(lexer.index))) throw new SyntaxError('unexpected data after JSON value');
  return value;
}

type Token = { string?: string; number?: string; literal?: string; punct?: string };
type Lexer = { text: string; index: number };

function next(lexer: Lexer): Token {
  TOKEN.lastIndex = lexer.index;
  const match = TOKEN.exec(lexer.text);
  if (!match) throw new SyntaxError(`invalid JSON at offset ${lexer.index}`);
  lexer.index = TOKEN.lastIndex;
  return { string: match[1], number: match[2], literal: match[3], punct: match[4] };
}

function parseValue(lexer: Lexer, token: Token): OrderedJson {
  if (token.string !== undefined) return JSON.parse(token.string) as string;
  if (token.number !== undefined) return { kind: 'number', literal: token.number };
  if (token.literal !== undefined) return token.literal === 'null' ? null : token.literal === 'true';
  if (token.punct === '[') return parseArray(lexer);
  if (token.punct === '{') return parseObject(lexer);
  throw new SyntaxError(`unexpected "${token.punct}" at offset ${lexer.index}`);
}

function parseArray(lexer: Lexer): OrderedJson[] {
  const items: OrderedJson[] = [];
  let token = next(lexer);
  if (token.punct === ']') return items;
  for (;;) {
    items.push(parseValue(lexer, token));
    token = next(lexer);
    if (token.punct === ']') return items;
    if (token.punct !== ',') throw new SyntaxError(`expected "," or "]" at offset ${lexer.index}`);
    token = next(lexer);
  }
}

function parseObject(lexer: Lexer): OrderedObject {
  const object: OrderedObject = { kind: 'object', entries: [] };
  let token = next(lexer);
  if (token.punct === '}') return object;
  for (;;) {
    if (token.string === undefined) throw new SyntaxError(`expected a key at offset ${lexer.index}`);
    const key = JSON.parse(token.string) as string;
    if (next(lexer).punct !== ':') throw new SyntaxError(`expected ":" at offset ${lexer.index}`);
    setEntry(object, key, parseValue(lexer, next(lexer)));
    token = next(lexer);
    if (token.punct === '}') return object;
    if (token.punct !== ',') throw new SyntaxError(`expected "," or "}" at offset ${lexer.index}`);
    token = next(lexer);
  }
}

/** Whether a value is an object. */
export function isObject(value: OrderedJson | undefined): value is OrderedObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && value.kind === 'object';
}

/** A new object with these entries. */
export function orderedObject(entries: [string, OrderedJson][] = []): OrderedObject {
  return { kind: 'object', entries };
}

/** Sets a key in place when present (keeping its position, as jq does), else appends it. */
export function setEntry(object: OrderedObject, key: string, value: OrderedJson): void {
  const existing = object.entries.find(([k]) => k === key);
  if (existing) existing[1] = value;
  else object.entries.push([key, value]);
}

/** `jq .` output: two-space indent, `{}`/`[]` for empties, and a trailing newline. */
export function printJq(value: OrderedJson): string {
  return `${print(value, '')}\n`;
}

function print(value: OrderedJson, indent: string): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return jqString(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => inner + print(item, inner)).join(',\n')}\n${indent}]`;
  }
  if (value.kind === 'number') return value.literal;
  if (value.entries.length === 0) return '{}';
  const lines = value.entries.map(([key, item]) => `${inner}${jqString(key)}: ${print(item, inner)}`);
  return `{\n${lines.join(',\n')}\n${indent}}`;
}

/** jq escapes like JSON.stringify, and DEL (0x7f) as well. */
function jqString(text: string): string {
  return JSON.stringify(text).replace(/\x7f/g, '\\u007f');
}

/**
 * A strict JSON parser (RFC 8259) that does what JSON.parse does and also
 * (1) reports syntax errors with line and column, and (2) lists integer
 * literals a JavaScript number cannot hold exactly, with their JSON path.
 * config.json carries uint64 values (seccomp argument masks, rlimits) where
 * a silently rounded number would change what the kernel enforces.
 */

export class JsonSyntaxError extends SyntaxError {
  /** Offset in UTF-16 code units from the start of the text. */
  readonly position: number;
  /** 1-based line and column of `position`. */
  readonly line: number;
  readonly column: number;

  constructor(problem: string, text: string, position: number) {
    const before = text.slice(0, position);
    const line = before.split('\n').length;
    const column = position - before.lastIndexOf('\n');
    super(`${problem} at line ${line} column ${column} (position ${position})`);
    this.name = 'JsonSyntaxError';
    this.position = position;
    this.line = line;
    this.column = column;
  }
}

export interface InexactInteger {
  /** JSON path of the value, e.g. `linux.seccomp.syscalls[0].args[1].value`. */
  path: string;
  /** The literal as written. */
  literal: string;
}

export interface ParsedJson {
  value: unknown;
  /** Integer literals beyond 2^53 that the number in `value` does not equal exactly. */
  inexactIntegers: InexactInteger[];
}

const MAX_DEPTH = 512;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Parse JSON text; throws JsonSyntaxError. A leading byte order mark is skipped. */
export function parseJson(text: string): ParsedJson {
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const inexactIntegers: InexactInteger[] = [];

  const fail = (problem: string, at = pos): never => {
    throw new JsonSyntaxError(problem, text, at);
  };
  const skipSpace = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else return;
    }
  };
  const describe = (at: number): string =>
    at >= text.length ? 'unexpected end of input' : `unexpected character ${JSON.stringify(text[at])}`;

  const parseString = (): string => {
    // pos is on the opening quote.
    pos++;
    let out = '';
    let start = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(start, pos);
      const e = text[pos + 1];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad unicode escape', pos);
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 4;
          break;
        }
        default:
          fail('bad escape in string', pos);
      }
      pos += 2;
      start = pos;
    }
  };

  const parseNumber = (path: string): number => {
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (!m) return fail(describe(pos));
    const literal = m[0];
    pos += literal.length;
    const value = Number(literal);
    const integer = m[1] === undefined && m[2] === undefined;
    if (integer && !Number.isSafeInteger(value) && (!Number.isFinite(value) || BigInt(value) !== BigInt(literal))) {
      inexactIntegers.push({ path, literal });
    }
    return value;
  };

  const parseValue = (path: string, depth: number): unknown => {
    skipSpace();
    if (depth > MAX_DEPTH) fail('JSON nested too deeply');
    const c = text[pos];
    switch (c) {
      case '{': {
        pos++;
        const obj: Record<string, unknown> = {};
        skipSpace();
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        for (;;) {
          skipSpace();
          if (text[pos] !== '"') fail(`${describe(pos)}, expected a property name`);
          const key = parseString();
          skipSpace();
          if (text[pos] !== ':') fail(`${describe(pos)}, expected ':'`);
          pos++;
          const childPath = IDENTIFIER.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
          const value = parseValue(childPath, depth + 1);
          // An own property even for "__proto__", as JSON.parse makes it.
          Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
          skipSpace();
          if (text[pos] === ',') {
            pos++;
            continue;
          }
          if (text[pos] === '}') {
            pos++;
            return obj;
          }
          fail(`${describe(pos)}, expected ',' or '}'`);
        }
      }
      // falls through: unreachable, the loop returns or throws
      case '[': {
        pos++;
        const arr: unknown[] = [];
        skipSpace();
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        for (;;) {
          arr.push(parseValue(`${path}[${arr.length}]`, depth + 1));
          skipSpace();
          if (text[pos] === ',') {
            pos++;
            continue;
          }
          if (text[pos] === ']') {
            pos++;
            return arr;
          }
          fail(`${describe(pos)}, expected ',' or ']'`);
        }
      }
      // falls through: unreachable
      case '"':
        return parseString();
      case 't':
        if (text.startsWith('true', pos)) {
          pos += 4;
          return true;
        }
        break;
      case 'f':
        if (text.startsWith('false', pos)) {
          pos += 5;
          return false;
        }
        break;
      case 'n':
        if (text.startsWith('null', pos)) {
          pos += 4;
          return null;
        }
        break;
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return parseNumber(path);
    }
    return fail(describe(pos));
  };

  const value = parseValue('', 0);
  skipSpace();
  if (pos < text.length) fail(`${describe(pos)} after the JSON value`);
  return { value, inexactIntegers };
}

/**
 * `preDispatch` expressions such as '2*nJobs', parsed by a small recursive
 * descent parser: numbers, `nJobs` (or joblib's `n_jobs`), + - * /, unary
 * minus and parentheses. Nothing is ever evaluated as code.
 */
import { ParallelError } from './errors.js';

const TOKEN = /\s*(?:(\d+(?:\.\d+)?)|(nJobs|n_jobs)|([-+*/()]))/y;

// The parser recurses once per parenthesis or unary minus, so an expression
// such as '('.repeat(1e5) + '1' would overflow the stack. Real ones are a
// few characters ('2*nJobs', '(nJobs + 1) / 2'); these caps leave room for
// any sensible one and keep the recursion shallow.
const MAX_LENGTH = 200;
const MAX_DEPTH = 32;

/**
 * Evaluates a preDispatch expression for a given nJobs, rounded down to a
 * count of at least 1; throws a ParallelError naming the expression when it
 * is not one, or gives zero, a negative number, Infinity or NaN.
 */
export function evaluatePreDispatch(expression: string, nJobs: number): number {
  const fail = (why: string): never => {
    throw new ParallelError(
      'LARDER_OPTION',
      `preDispatch must be 'all', a positive number or an arithmetic expression in nJobs such as '2*nJobs', got ${quote(expression)} (${why})`,
    );
  };
  if (expression.length > MAX_LENGTH) fail(`longer than ${MAX_LENGTH} characters`);
  const tokens = tokenize(expression);
  let position = 0;
  let depth = 0;
  const peek = (): string | undefined => tokens[position];
  const nested = (parse: () => number): number => {
    if (++depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
    const value = parse();
    depth--;
    return value;
  };
  const primary = (): number => {
    const token = tokens[position++];
    if (token === undefined) return fail('unexpected end');
    if (token === '(') {
      const value = nested(sum);
      if (tokens[position++] !== ')') fail('missing )');
      return value;
    }
    if (token === '-') return -nested(primary);
    if (token === 'nJobs' || token === 'n_jobs') return nJobs;
    if (/^\d/.test(token)) return Number(token);
    return fail(`unexpected ${JSON.stringify(token)}`);
  };
  const product = (): number => {
    let value = primary();
    while (peek() === '*' || peek() === '/') value = tokens[position++] === '*' ? value * primary() : value / primary();
    return value;
  };
  const sum = (): number => {
    let value = product();
    while (peek() === '+' || peek() === '-') value = tokens[position++] === '+' ? value + product() : value - product();
    return value;
  };
  const value = sum();
  if (position !== tokens.length) fail(`unexpected ${JSON.stringify(tokens[position])}`);
  // A fraction rounds down, to at least 1: 'nJobs/4' must work on 2 CPUs
  // (0.5) as it does on 8 (2), not depend on the machine it runs on.
  if (!Number.isFinite(value) || value <= 0) fail(`it gives ${value}, which is not a positive number`);
  return Math.max(1, Math.floor(value));

  // Long input is quoted shortened, so the message stays readable.
  function quote(text: string): string {
    return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
  }

  function tokenize(text: string): string[] {
    const out: string[] = [];
    TOKEN.lastIndex = 0;
    while (TOKEN.lastIndex < text.length) {
      const start = TOKEN.lastIndex;
      const match = TOKEN.exec(text);
      if (!match) {
        if (text.slice(start).trim() === '') break;
        return fail(`unexpected ${JSON.stringify(text.slice(start).trim()[0])} at offset ${start}`);
      }
      out.push((match[1] ?? match[2] ?? match[3])!);
    }
    return out;
  }
}

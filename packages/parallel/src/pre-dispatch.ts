/**
 * `preDispatch` expressions such as '2*nJobs', parsed by a small recursive
 * descent parser: numbers, `nJobs` (or joblib's `n_jobs`), + - * /, unary
 * minus and parentheses. Nothing is ever evaluated as code.
 */
import { ParallelError } from './errors.js';

const TOKEN = /\s*(?:(\d+(?:\.\d+)?)|(nJobs|n_jobs)|([-+*/()]))/y;

/**
 * Evaluates a preDispatch expression for a given nJobs; throws a
 * ParallelError naming the expression when it is not one.
 */
export function evaluatePreDispatch(expression: string, nJobs: number): number {
  const fail = (why: string): never => {
    throw new ParallelError(
      'LARDER_OPTION',
      `preDispatch must be 'all', a positive number or an arithmetic expression in nJobs such as '2*nJobs', got ${JSON.stringify(expression)} (${why})`,
    );
  };
  const tokens = tokenize(expression);
  let position = 0;
  const peek = (): string | undefined => tokens[position];
  const primary = (): number => {
    const token = tokens[position++];
    if (token === undefined) return fail('unexpected end');
    if (token === '(') {
      const value = sum();
      if (tokens[position++] !== ')') fail('missing )');
      return value;
    }
    if (token === '-') return -primary();
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
  if (!Number.isFinite(value) || value < 1) fail(`it gives ${value}, which is not a count of tasks ≥ 1`);
  return Math.floor(value);

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

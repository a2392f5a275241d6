import type { Dialect } from './url.js';

/** A list of values that expands to `?, ?, ?` (or `$1, $2, $3`) inside an `sql` template. */
class ValueList {
  constructor(readonly values: readonly unknown[]) {}
}

/** Trusted SQL text (a constant column list, never user input) spliced in verbatim. */
class Fragment {
  constructor(readonly text: string) {}
}

/** A parameterised statement, rendered for one dialect when it runs. */
export class Sql {
  constructor(
    private readonly strings: readonly string[],
    private readonly params: readonly unknown[],
  ) {}

  /** Returns the SQL text with the dialect's placeholders and the flat list of values. */
  render(dialect: Dialect): { text: string; values: unknown[] } {
    const values: unknown[] = [];
    const placeholder = () => (dialect === 'postgresql' ? `$${values.length}` : '?');
    let text = this.strings[0] ?? '';
    this.params.forEach((param, i) => {
      if (param instanceof Fragment) {
        text += param.text;
      } else if (param instanceof ValueList) {
        text += param.values.map((value) => (values.push(value), placeholder())).join(', ');
      } else {
        values.push(param);
        text += placeholder();
      }
      text += this.strings[i + 1] ?? '';
    });
    return { text, values };
  }
}

/** Tagged template for parameterised SQL; identifiers are double-quoted, which both engines accept. */
export function sql(strings: TemplateStringsArray, ...params: unknown[]): Sql {
  return new Sql(strings, params);
}

/** Expands to a comma-separated list of placeholders, for `IN (...)`. */
export function list(values: readonly unknown[]): ValueList {
  return new ValueList(values);
}

/** Splices constant SQL text into an `sql` template. Never pass user input. */
export function fragment(text: string): Fragment {
  return new Fragment(text);
}

import type { Dialect } from './url.js';

/** A list of values that expands to `?, ?, ?` (or `$1, $2, $3`) inside an `sql` template. */
class ValueList {
  constructor(readonly values: readonly unknown[]) {}
}

/** A set of values as one parameter: an array on PostgreSQL, JSON text on SQLite. */
class ValueSet {
  constructor(
    readonly values: readonly unknown[],
    readonly pgType: 'bigint' | 'text',
  ) {}
}

/** A parameterised statement (or a piece of one), rendered for one dialect when it runs. */
export class Sql {
  constructor(
    private readonly strings: readonly string[],
    private readonly params: readonly unknown[],
  ) {}

  /** Returns the SQL text with the dialect's placeholders and the flat list of values. */
  render(dialect: Dialect): { text: string; values: unknown[] } {
    const values: unknown[] = [];
    return { text: this.append(dialect, values), values };
  }

  private append(dialect: Dialect, values: unknown[]): string {
    const placeholder = (value: unknown) => {
      values.push(value);
      return dialect === 'postgresql' ? `$${values.length}` : '?';
    };
    let text = this.strings[0] ?? '';
    this.params.forEach((param, i) => {
      if (param instanceof Sql) text += param.append(dialect, values);
      else if (param instanceof ValueList) text += param.values.map(placeholder).join(', ');
      else if (param instanceof ValueSet) {
        text += dialect === 'postgresql' ? `= ANY(${placeholder(param.values)}::${param.pgType}[])` : `IN (SELECT value FROM json_each(${placeholder(JSON.stringify(param.values))}))`;
      }
      else text += placeholder(param);
      text += this.strings[i + 1] ?? '';
    });
    return text;
  }
}

/**
 * Tagged template for parameterised SQL. Interpolated values become placeholders;
 * interpolated `sql` pieces are spliced in. Identifiers are double-quoted, which
 * both engines accept.
 */
export function sql(strings: TemplateStringsArray, ...params: unknown[]): Sql {
  return new Sql(strings, params);
}

/** Expands to a comma-separated list of placeholders, for `IN (...)`. */
export function list(values: readonly unknown[]): ValueList {
  return new ValueList(values);
}

/** Constant SQL text spliced in verbatim. Never pass user input. */
export function fragment(text: string): Sql {
  return new Sql([text], []);
}

/**
 * `IN` a set of values passed as one parameter, however many they are (no engine limit
 * on bind parameters applies): `${"column"} ${anyOf(ids, 'bigint')}`.
 */
export function anyOf(values: readonly (string | number)[], pgType: 'bigint' | 'text'): ValueSet {
  return new ValueSet(values, pgType);
}

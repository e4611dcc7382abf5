/**
 * A numeric command-line option of a benchmark, checked: returns the number, or throws naming
 * the option, the rule and the usage.
 *
 * @example
 * const number = numberOption(usage);
 * const agents = number("agents", values.agents, (n) => Number.isInteger(n) && n >= 1, "a whole number ≥ 1");
 */
export function numberOption(usage: string): (name: string, text: string, check: (n: number) => boolean, rule: string) => number {
  return (name, text, check, rule) => {
    const value = Number(text);
    if (!check(value)) throw new Error(`--${name} must be ${rule}, got "${text}".\n${usage}`);
    return value;
  };
}

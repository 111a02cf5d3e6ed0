/**
 * `[project].dependencies` from a pyproject.toml, the only key the build reads (reference §2.6).
 * No TOML parser ships with the project's dependencies, and this one array of strings does not
 * justify adding one: the reader below understands tables, comments, basic and literal strings and
 * multi-line arrays, which is all PEP 621 dependency lists use. Anything it cannot read yields
 * `null`, and the build falls through to the next requirements source, as the official agent does
 * when it cannot load its TOML module.
 */
export function projectDependencies(toml: string): string[] | null {
  let inProject = false;
  const lines = toml.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = stripComment(lines[i]!).trim();
    const header = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (header && !line.startsWith("[[")) {
      inProject = header[1] === "project";
      continue;
    }
    if (!inProject) continue;
    const m = /^dependencies\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    // Gather the array text, possibly across lines, until the brackets balance outside strings.
    let text = m[1]!;
    while (!arrayClosed(text) && i + 1 < lines.length) text += "\n" + stripComment(lines[++i]!);
    return parseStringArray(text);
  }
  return [];
}

function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#") return line.slice(0, i);
  }
  return line;
}

function arrayClosed(text: string): boolean {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "[") depth++;
    else if (c === "]" && --depth === 0) return true;
  }
  return false;
}

function parseStringArray(text: string): string[] | null {
  const s = text.trim();
  if (!s.startsWith("[")) return null;
  const out: string[] = [];
  let i = 1;
  const skip = () => {
    while (i < s.length && /[\s,]/.test(s[i]!)) i++;
  };
  for (skip(); i < s.length && s[i] !== "]"; skip()) {
    const q = s[i];
    if (q !== '"' && q !== "'") return null;
    let value = "";
    i++;
    while (i < s.length && s[i] !== q) {
      if (q === '"' && s[i] === "\\") {
        const e = s[++i];
        const map: Record<string, string> = { n: "\n", t: "\t", '"': '"', "\\": "\\", r: "\r" };
        if (e === undefined || map[e] === undefined) return null;
        value += map[e];
      } else value += s[i];
      i++;
    }
    if (i >= s.length) return null;
    i++;
    out.push(value);
  }
  return s[i] === "]" ? out : null;
}

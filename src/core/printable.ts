/**
 * Text that came from outside (a box's metadata.json, a catalog, a folder name in the store,
 * a server's answer) is shown to people only through these: control characters (ESC, CR,
 * backspace, C1 codes) and bidirectional overrides could otherwise move the cursor, recolour
 * or rewrite the terminal, or make a name read as something else. Newlines and tabs stay.
 */
// C0 except \t and \n, DEL, C1, and the Unicode bidi controls (LRM/RLM, embeddings, isolates).
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control character written as an escape (`\x1b`, `\u202e`). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** One line of a table or list: as `printable`, and newlines and tabs escaped too. */
export function printableLine(text: string): string {
  return printable(text).replaceAll('\n', '\\n').replaceAll('\t', '\\t');
}

/** `text` in double quotes for a message: one escaped line, quotes escaped, cut after `max` characters. */
export function quoted(text: string, max = 80): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return `"${printableLine(cut.replaceAll('\\', '\\\\').replaceAll('"', '\\"'))}"`;
}

/** "qemu, virtualbox or aws": names as a sentence lists them. */
export function orList(names: readonly string[]): string {
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
}

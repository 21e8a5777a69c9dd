// Domain names as the DNS front end keys and writes them, without dns-packet (config.toml's zone
// records are checked with these when the config is read). A name's key is its labels in lower
// case joined by '.', with '.', '\' and bytes outside printable ASCII written \DDD, so two names
// are equal (case-insensitively, RFC 4343) exactly when their keys are; the root's key is ''.

/** RFC 1035 2.3.4. */
export const MAX_LABEL_BYTES = 63;
/** On the wire, length bytes and the final zero included (RFC 1035 2.3.4). */
export const MAX_NAME_BYTES = 255;

/** The key of one label: lower-case ASCII; '.', '\' and bytes outside 0x21..0x7e as \DDD. */
export function labelKey(label: Uint8Array): string {
  let out = '';
  for (const b of label) {
    if (b >= 0x41 && b <= 0x5a) out += String.fromCharCode(b + 32);
    else if (b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c) out += String.fromCharCode(b);
    else out += `\\${b.toString().padStart(3, '0')}`;
  }
  return out;
}

export function nameKey(labels: readonly Uint8Array[]): string {
  return labels.map(labelKey).join('.');
}

/**
 * A name in presentation form ('www.example.test', 'a\.b.test', trailing dot optional, '' or '.'
 * for the root) → its labels. Throws on empty labels, labels over 63 bytes or names over 255.
 */
export function nameLabels(text: string): Uint8Array[] {
  const labels: Uint8Array[] = [];
  if (text === '' || text === '.') return labels;
  let current: number[] = [];
  let wire = 1;
  const finish = (): void => {
    if (current.length === 0) throw new Error(`"${text.slice(0, 80)}" has an empty label`);
    if (current.length > MAX_LABEL_BYTES) throw new Error(`"${text.slice(0, 80)}" has a label over 63 bytes`);
    wire += current.length + 1;
    if (wire > MAX_NAME_BYTES) throw new Error(`"${text.slice(0, 80)}..." is over 255 bytes`);
    labels.push(Uint8Array.from(current));
    current = [];
  };
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x5c) {
      const d = /^\d{3}/.exec(bytes.subarray(i + 1, i + 4).toString('latin1'));
      if (d) {
        const value = Number(d[0]);
        if (value > 255) throw new Error(`"${text.slice(0, 80)}" has a bad escape`);
        current.push(value);
        i += 3;
      } else if (i + 1 < bytes.length) {
        current.push(bytes[++i]!);
      } else throw new Error(`"${text.slice(0, 80)}" ends in a backslash`);
    } else if (b === 0x2e) {
      if (i === bytes.length - 1) break; // the trailing dot of an absolute name
      finish();
    } else current.push(b);
  }
  finish();
  return labels;
}

/** The canonical key of a presentation-form name (lower case, no trailing dot). */
export function canonicalName(text: string): string {
  return nameKey(nameLabels(text));
}

/** Is `name` at or under `origin` (both keys)? Every name is under the root (''). */
export function isUnder(name: string, origin: string): boolean {
  return origin === '' || name === origin || name.endsWith(`.${origin}`);
}

/** The parent of a key ('' for a one-label name), or null for the root. */
export function parentName(name: string): string | null {
  if (name === '') return null;
  // A label's own dots are escaped (\\046), so the first bare '.' ends the first label.
  const dot = name.indexOf('.');
  return dot < 0 ? '' : name.slice(dot + 1);
}

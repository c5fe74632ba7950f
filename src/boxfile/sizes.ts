/**
 * Sizes in a Boxfile: a bare number is in the field's unit (MiB for memory, GiB for disk); a
 * string may carry a unit. K, M, G, T (with or without "i" and "B", any case) are all binary
 * units (1G = 1024 MiB), as in Vagrant and Lima. Results are rounded up to whole units.
 */
const unitMiB: Record<string, number> = {k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024};

export function sizeToMiB(value: number | string, defaultUnit: 'm' | 'g'): number {
  if (typeof value === 'number') return Math.ceil(value * unitMiB[defaultUnit]);
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt])?(?:i?b)?\s*$/i.exec(value);
  if (!match) throw new Error(`not a size: ${JSON.stringify(value)}`);
  const unit = (match[2] ?? defaultUnit).toLowerCase();
  return Math.ceil(Number(match[1]) * unitMiB[unit]);
}

export function memoryMiB(value: number | string): number {
  return sizeToMiB(value, 'm');
}

export function diskGiB(value: number | string): number {
  return Math.ceil(sizeToMiB(value, 'g') / 1024);
}

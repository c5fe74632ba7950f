/** A setting that takes one value or a list of them (Vagrant's module_path, cookbooks_path...). */
export function asList(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : (Array.isArray(value) ? value : [value]);
}

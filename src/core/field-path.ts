/** A field's path as error messages name it: `root.models.gpt-4.1.breaker`, array indexes as `[n]`. */
export function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
  return out;
}

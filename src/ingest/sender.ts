/** Sender address as the allow-list and logs see it: `::ffff:a.b.c.d` becomes `a.b.c.d`. */
export function normalizeSender(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.indexOf('.') > 0 ? address.slice(7) : address;
}

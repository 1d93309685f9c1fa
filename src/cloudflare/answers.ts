import { z } from '../config/zod';

/**
 * The shape of each Cloudflare answer edgeban reads, checked where it enters (in the client), so a
 * malformed or unexpected body is an error that names the missing field, never a TypeError far
 * away. Only the fields edgeban uses are required; Cloudflare may add others.
 */
const id = z.string().min(1);

export const tokenStatus = z.object({ status: z.string() });

export const accessRule = z.object({
  id,
  mode: z.string(),
  // Cloudflare's own answers have omitted `notes` on rules made without them
  notes: z.string().optional().default(''),
  configuration: z.object({ target: z.string(), value: z.string() }),
  scope: z.object({ type: z.string().optional() }).optional(),
});
export const accessRules = z.array(accessRule);

export const list = z.object({ id, name: z.string(), description: z.string().optional(), num_items: z.number().optional() });
export const lists = z.array(list);

export const listItems = z.array(z.object({ id, ip: z.string(), comment: z.string().optional().default('') }));
export const bulkOperationStarted = z.object({ operation_id: id });
export const bulkOperation = z.object({ status: z.string(), error: z.string().optional() });

const customRule = z.object({
  id,
  action: z.string(),
  expression: z.string(),
  enabled: z.boolean().optional().default(true),
  description: z.string().optional(),
});
/** `rules` is absent once the entry point's last rule is deleted */
export const ruleset = z.object({ id, rules: z.array(customRule).optional().default([]) });

export const zone = z.object({ id, plan: z.object({ legacy_id: z.string().optional() }).optional() });

export type AccessRuleAnswer = z.infer<typeof accessRule>;
export type ListAnswer = z.infer<typeof list>;
export type RulesetAnswer = z.infer<typeof ruleset>;

/** `result.configuration.value: expected string, received undefined`: the first problem, in a line. */
export function describeProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = ['result', ...issue.path.map(String)].join('.');
  return `${where}: ${issue.message}`;
}

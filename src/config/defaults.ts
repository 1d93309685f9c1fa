/**
 * Defaults read where the schema is not loaded (loading zod is a visible share of a short run): `replay --count`
 * without a config file needs only this one.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 8192;

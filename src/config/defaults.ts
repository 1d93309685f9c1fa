/**
 * Defaults read where the schema is not loaded (zod takes some 70 ms to load): `replay --count`
 * without a config file needs only this one.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 8192;

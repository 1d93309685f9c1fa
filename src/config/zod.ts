/**
 * zod, through the Zod 3 API that the zod package keeps at `zod/v3` for good. Validating one small
 * config file needs nothing of Zod 4's, and Zod 4 loads in about twice the time (its core's many
 * modules, tens of milliseconds on the way to listening, on the main thread). The Cloudflare
 * answers are checked with the same API, so one copy is loaded.
 */
export { z } from 'zod/v3';

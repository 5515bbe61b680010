/** Kept in step with package.json by the release process; read by `/_health` and `--version`. */
export const VERSION = '0.1.0';
/** Filled by the server bundle build (git commit), empty in a checkout. */
export const COMMIT = process.env.SEAMOON_COMMIT ?? '';

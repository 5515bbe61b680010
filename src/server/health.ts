import { COMMIT, VERSION } from '../core/version.js';

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

/** `YYYY-MM-DD HH:MM:SS` in the server's local time, as the original server prints it. */
export function formatLocalTime(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/**
 * The `/_health` body, four lines without a trailing newline, in the original's layout so its
 * client (which splits on `\n` and requires line 1 to be `OK`) keeps parsing it:
 * `OK`, start time, `<version>-<commit>`, `v2ray-core:-<engine>`. This server embeds no
 * v2ray-core, so the fourth line says `none`.
 */
export function healthText(startedAt: Date): string {
  return ['OK', formatLocalTime(startedAt), `${VERSION}-${COMMIT}`, 'v2ray-core:-none'].join('\n');
}

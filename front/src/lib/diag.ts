// The node's diagnostic report (`GET /api/v1/diag`, docs/HTTP.md; the same report
// `purr doctor` prints), for the Network page. Fetched like the other REST reads of the
// UI: same origin, the session cookie, never cached.

export type Verdict = 'OK' | 'WARN' | 'FAIL';

export interface Check {
  verdict: Verdict;
  /** `node`, `interface`, `beacons`, `target`, `contact`, `host`. */
  area: string;
  subject: string;
  says: string;
  next: string | null;
}

export interface Attempt {
  target: string;
  s_ago: number;
  outcome: string;
  reason: string;
}

export interface DiagReport {
  node: {
    running: boolean;
    id: string | null;
    name: string | null;
    listen: string | null;
    port: number | null;
    discovery: boolean;
    beacon_interval_s: number | null;
    uptime_s: number | null;
  };
  interfaces: {
    name: string;
    kind: string;
    up: boolean;
    multicast: boolean;
    addrs: string[];
    used: boolean;
    beacons_sent: number;
    send_errors: number;
    last_error: string | null;
    last_error_s_ago: number | null;
  }[];
  beacons: {
    sending_for_s: number;
    sent: number;
    heard: { id: string; iface: string; addr: string; count: number; first_s_ago: number; last_s_ago: number }[];
  };
  targets: { target: string; owner: string | null; online: boolean; backoff_s: number | null; attempts: Attempt[] }[];
  contacts: {
    id: string;
    name: string;
    online: boolean;
    path: string | null;
    /** The path in words (`LAN 10.0.0.3`); absent from older nodes. */
    route?: string | null;
    addrs: { addr: string; source: string; s_ago: number | null }[];
    backoff_s: number | null;
    attempts: Attempt[];
    outbox: number;
    /** What it found dialling us back on our addresses (`RBCK`); absent from older nodes. */
    reach?: { addr: string; outcome: string; ms: number; s_ago: number }[];
    /** Its clock minus ours, in ms; absent from older nodes, null before it told us. */
    clock_skew_ms?: number | null;
  }[];
  host: {
    data_dir: string;
    exists: boolean;
    writable: boolean;
    free_bytes: number | null;
    db_bytes: number | null;
    wal_bytes: number | null;
    outbox: number | null;
  };
  checks: Check[];
}

/** What a fetch of the report gave. */
export type DiagResult = { ok: true; report: DiagReport } | { ok: false; error: string };

/** Asks the node for its report; never throws. */
export async function fetchDiag(fetcher: typeof fetch = fetch): Promise<DiagResult> {
  try {
    const r = await fetcher('/api/v1/diag', { credentials: 'same-origin', cache: 'no-store' });
    if (r.status === 401 || r.status === 403) return { ok: false, error: 'This browser is no longer signed in to your node: run `purr url` and open the link.' };
    if (r.status === 503) return { ok: false, error: 'Your node did not answer within 3 s; it may be very busy.' };
    if (!r.ok) return { ok: false, error: `Your node answered ${r.status}.` };
    const report = (await r.json()) as DiagReport;
    if (!report || !Array.isArray(report.checks)) return { ok: false, error: 'Your node sent a report this page cannot read.' };
    return { ok: true, report };
  } catch {
    return { ok: false, error: 'Cannot reach your node.' };
  }
}

/** "3 s", "4 min", "2 h", "5 d": an age or a duration in seconds. */
export function ago(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

/** Bytes for people: "1.2 GB". */
export function bytes(n: number | null): string {
  if (n === null) return '?';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** How many checks came out each way. */
export function tally(checks: Check[]): Record<Verdict, number> {
  const t: Record<Verdict, number> = { OK: 0, WARN: 0, FAIL: 0 };
  for (const c of checks) if (c.verdict in t) t[c.verdict]++;
  return t;
}

// Why the WebSocket keeps failing: asks the node's JSON API (same origin, same cookie)
// whether it is up and whether this browser's token is still good.

export type Diagnosis = 'auth' | 'down' | 'socket';

export async function diagnose(fetcher: typeof fetch = fetch): Promise<Diagnosis> {
  try {
    const r = await fetcher('/api/v1/me', { credentials: 'same-origin', cache: 'no-store' });
    if (r.status === 401 || r.status === 403) return 'auth';
    return 'socket';
  } catch {
    return 'down';
  }
}

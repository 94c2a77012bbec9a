import type { ReactElement } from 'react';
import type { Peer } from '../api';
import { type Attempt, type Check, type DiagReport, ago, bytes, tally } from '../lib/diag';

/**
 * The node's diagnostic report as the Network page shows it: the checks `purr doctor`
 * prints (a verdict word in a coloured badge, never colour alone, and the next step),
 * then the facts behind them — interfaces, beacons heard, each contact's addresses,
 * dial attempts, backoff and path, the `--connect` targets, the data dir.
 */
export function DiagView({ report, peers }: { report: DiagReport; peers: Record<string, Peer> }): ReactElement {
  const t = tally(report.checks);
  const nameOf = (id: string): string => peers[id]?.name ?? `${id.slice(0, 8)}…`;
  return (
    <div className="diag">
      <section className="card" aria-labelledby="checks-title">
        <h2 id="checks-title" className="card-title">
          Checks
        </h2>
        <p className="diag-tally">
          {t.FAIL} FAIL, {t.WARN} WARN, {t.OK} OK
        </p>
        <ul className="checks">
          {report.checks.map((c, i) => (
            <CheckLine key={i} check={c} />
          ))}
        </ul>
      </section>

      <section className="card" aria-labelledby="ifaces-title">
        <h2 id="ifaces-title" className="card-title">
          Interfaces
        </h2>
        <p className="hint">
          Discovery {report.node.discovery ? 'is on' : 'is off'}
          {report.node.listen ? `; listening on ${report.node.listen}` : ''}.
        </p>
        <ul className="diag-list">
          {report.interfaces.map((i) => (
            <li key={i.name} className="diag-item">
              <div className="diag-head">
                <span className="mono">{i.name}</span>
                <span className="diag-tag">{i.kind}</span>
                {!i.up && <span className="diag-tag">down</span>}
                {i.up && !i.multicast && <span className="diag-tag">no multicast</span>}
                {i.used && report.node.discovery && <span className="diag-tag">beacons</span>}
              </div>
              {i.addrs.length > 0 && <div className="mono diag-sub">{i.addrs.join(', ')}</div>}
              {i.used && report.node.discovery && (
                <div className="diag-sub">
                  {i.beacons_sent} sent, {i.send_errors} send error{i.send_errors === 1 ? '' : 's'}
                  {i.last_error && ` (last: ${i.last_error}${i.last_error_s_ago !== null ? `, ${ago(i.last_error_s_ago)} ago` : ''})`}
                </div>
              )}
            </li>
          ))}
        </ul>
      </section>

      <section className="card" aria-labelledby="beacons-title">
        <h2 id="beacons-title" className="card-title">
          Beacons heard
        </h2>
        <p className="hint">
          {report.beacons.sent} sent over {ago(report.beacons.sending_for_s)}.
        </p>
        {report.beacons.heard.length === 0 ? (
          <p className="diag-empty">None heard from another node.</p>
        ) : (
          <ul className="diag-list">
            {report.beacons.heard.map((h) => (
              <li key={`${h.id}/${h.iface}`} className="diag-item">
                <div className="diag-head">
                  <span>{nameOf(h.id)}</span>
                  <span className="diag-tag">{h.iface}</span>
                </div>
                <div className="diag-sub">
                  <span className="mono">{h.addr}</span>: {h.count} heard
                  {h.count > 1 && `, about every ${ago(Math.round((h.first_s_ago - h.last_s_ago) / (h.count - 1)))}`}, last{' '}
                  {ago(h.last_s_ago)} ago
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>

      {report.targets.length > 0 && (
        <section className="card" aria-labelledby="targets-title">
          <h2 id="targets-title" className="card-title">
            Addresses you gave (--connect, --peers)
          </h2>
          <ul className="diag-list">
            {report.targets.map((tg) => (
              <li key={tg.target} className="diag-item">
                <div className="diag-head">
                  <span className="mono">{tg.target}</span>
                  <span className="diag-tag">{tg.online ? `online: ${tg.owner ? nameOf(tg.owner) : '?'}` : 'not connected'}</span>
                </div>
                <Backoff s={tg.backoff_s} />
                <Attempts list={tg.attempts} />
              </li>
            ))}
          </ul>
        </section>
      )}

      <section className="card" aria-labelledby="contacts-title">
        <h2 id="contacts-title" className="card-title">
          Contacts
        </h2>
        {report.contacts.length === 0 ? (
          <p className="diag-empty">No contacts yet.</p>
        ) : (
          <ul className="diag-list">
            {report.contacts.map((c) => (
              <li key={c.id} className="diag-item diag-contact">
                <div className="diag-head">
                  <span>{c.name}</span>
                  <span className={c.online ? 'diag-tag on' : 'diag-tag'}>{c.online ? 'online' : 'offline'}</span>
                  {c.outbox > 0 && <span className="diag-tag">{c.outbox} waiting</span>}
                </div>
                {c.online && (
                  <div className="diag-sub">
                    Path: {c.route ? `${c.route} ` : ''}<span className="mono">({c.path})</span>
                  </div>
                )}
                {c.addrs.length > 0 && (
                  <ul className="diag-addrs" aria-label={`Addresses of ${c.name}`}>
                    {c.addrs.map((a) => (
                      <li key={`${a.addr}/${a.source}`}>
                        <span className="mono">{a.addr}</span> from {a.source}
                        {a.s_ago !== null ? `, ${ago(a.s_ago)} ago` : ''}
                      </li>
                    ))}
                  </ul>
                )}
                <Backoff s={c.backoff_s} />
                <Attempts list={c.attempts} />
                {c.online && <Reach name={c.name} list={c.reach ?? []} />}
                {c.clock_skew_ms != null && <Skew ms={c.clock_skew_ms} />}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section className="card" aria-labelledby="host-title">
        <h2 id="host-title" className="card-title">
          Data dir
        </h2>
        <p className="mono diag-sub">{report.host.data_dir}</p>
        <p className="diag-sub">
          {report.host.writable ? 'writable' : 'NOT writable'}, {bytes(report.host.free_bytes)} free; database{' '}
          {bytes(report.host.db_bytes)}, WAL {bytes(report.host.wal_bytes)}
        </p>
      </section>
    </div>
  );
}

/** One check: its verdict as a word in a coloured badge, what was found, the next step. */
export function CheckLine({ check }: { check: Check }): ReactElement {
  const v = check.verdict;
  return (
    <li className={`check check-${v.toLowerCase()}`} data-verdict={v}>
      <span className="verdict">{v}</span>
      <div className="check-body">
        <p>
          <strong>
            {check.area}
            {check.subject ? ` ${check.subject}` : ''}
          </strong>
          : {check.says}
        </p>
        {check.next && <p className="check-next">Next: {check.next}</p>}
      </div>
    </li>
  );
}

/** Words for a dial-back's outcome (docs/HTTP.md, `contacts[].reach`). */
const REACH_WORDS: Record<string, string> = {
  ok: 'reached you',
  refused: 'was refused',
  timed_out: 'timed out',
  unreachable: 'had no route',
  other_key: 'met another node',
  handshake: 'met something that is not purr',
  not_known: 'did not try (not an address it knows for you)',
  busy: 'was busy',
  failed: 'failed',
};

/** What a contact found dialling us back, one line per address we advertise. */
function Reach({ name, list }: { name: string; list: { addr: string; outcome: string; ms: number; s_ago: number }[] }): ReactElement | null {
  if (list.length === 0) return null;
  return (
    <ul className="diag-addrs" aria-label={`${name} dialling you back`}>
      {list.map((r) => (
        <li key={r.addr} data-outcome={r.outcome}>
          Dialling you back on <span className="mono">{r.addr}</span>, {name}{' '}
          {REACH_WORDS[r.outcome] ?? r.outcome}
          {r.outcome === 'ok' ? ` in ${r.ms} ms` : ''} ({ago(r.s_ago)} ago)
        </li>
      ))}
    </ul>
  );
}

/** The contact's clock against ours. */
function Skew({ ms }: { ms: number }): ReactElement {
  const abs = Math.abs(ms);
  const size = abs < 1000 ? `${abs} ms` : ago(Math.round(abs / 1000));
  return (
    <div className="diag-sub">
      Clock: {size} {ms >= 0 ? 'ahead of' : 'behind'} ours
    </div>
  );
}

function Backoff({ s }: { s: number | null }): ReactElement | null {
  if (s === null) return null;
  return <div className="diag-sub">Next try in {ago(s)}.</div>;
}

function Attempts({ list }: { list: Attempt[] }): ReactElement | null {
  const last = list[0];
  if (!last) return null;
  return (
    <details className="diag-attempts">
      <summary>
        Last dial: {last.reason} ({ago(last.s_ago)} ago)
      </summary>
      <ol>
        {list.map((a, i) => (
          <li key={i}>
            {ago(a.s_ago)} ago, <span className="mono">{a.target}</span>: {a.reason}
          </li>
        ))}
      </ol>
    </details>
  );
}

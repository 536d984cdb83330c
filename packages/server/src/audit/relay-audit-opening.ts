import { join } from 'node:path';
import { AuditEventTypes } from './audit.js';
import type { AuditLog } from './audit.js';
import { AuditJournal, JOURNAL_FILE, type AuditSync } from './audit-journal.js';
import { RelayAudit } from './relay-audit.js';
import type { Logger } from '../log.js';
import type { AuditBacklog } from './metrics.js';
import type { Store } from '../store/store.js';

/** The relay's audit, opened over the data directory's write-ahead journal. */
export interface OpenedRelayAudit {
  readonly relayAudit: RelayAudit;
  /** Drain: stores what is pending, then closes the journal (clean when no request is still open). */
  close(): Promise<void>;
  /** Abort: closes the journal as unclean, so the next start replays it. */
  destroy(): Promise<void>;
  /** How far the durable copies run behind (metrics). */
  backlog(): AuditBacklog;
}

const GAP_REASON =
  'the previous server stopped without a clean shutdown; audit records of its last requests may be missing or have an unknown outcome';

/**
 * Opens the relay audit at start-up. The journal an earlier process left
 * (a crash or kill -9) is stored first, with one `audit.gap` event saying
 * so, and only then is a fresh journal started: a request relayed by this
 * process can never be confused with one of the last.
 */
export async function openRelayAudit(opts: { store: Store; dataDir: string; sync: AuditSync; audit: AuditLog; log: Logger }): Promise<OpenedRelayAudit> {
  const { store, audit, log } = opts;
  const opened = await AuditJournal.open(join(opts.dataDir, JOURNAL_FILE), { sync: opts.sync });
  const journal = opened.journal;
  try {
    await RelayAudit.replay(store, opened.replay, log, async (details) => {
      await audit.record({ type: AuditEventTypes.AUDIT_GAP, actor: 'server', outcome: 'failure', reason: GAP_REASON, details });
    });
    journal.replayed();
  } catch (err) {
    await journal.close({ clean: false }).catch(() => undefined);
    throw err;
  }
  const relayAudit = new RelayAudit(store, log, journal);
  return {
    relayAudit,
    async close() {
      await relayAudit.flush();
      await journal.close({ clean: relayAudit.openCount === 0 });
    },
    async destroy() {
      await journal.close({ clean: false }).catch(() => undefined);
    },
    backlog: () => ({ ...relayAudit.backlog, journal: journal.unstoredCount, open: relayAudit.openCount }),
  };
}

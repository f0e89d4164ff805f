// The settlement journal of the process serving a SQLite file: a side file (`<database>-settlements`)
// where each settled call is one JSON line, appended before its response ends. Appending is one
// write(2) (a few microseconds); the ledger row, the two roll-ups and the key's and owner's spend
// are written from these lines afterwards, in batches (sqlite-serving-ledger.ts "folds" them), off
// the response's path. The file is emptied when every line in it is folded and it has grown past a
// size (truncating it after every fold cost a syscall per call), on start and on shutdown.
//
// Durability is the database's own: with SQLite's synchronous=NORMAL a commit survives the
// process (kill -9 included) but not an OS crash, and so does a line written to the file; with
// FULL each line is fdatasync'ed before the call's response ends. Lines left after a crash are
// folded when the file is opened next (by the gateway starting, or by the CLI while no gateway
// serves the file). Folding is idempotent: a ledger row exists once per request id, and a line
// whose row exists is skipped with its charges, so a line folded twice charges once.
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import type { SettleRequest } from './types.js';

export function settlementJournalPath(databasePath: string): string {
  return `${databasePath}-settlements`;
}

export interface JournalContents {
  records: SettleRequest[];
  /** Lines that are not a settlement: a last line cut short by an OS crash, or a corrupted file. */
  unreadable: number;
}

/** Where settled calls wait to be folded into the database. */
export interface Journal {
  /** Bytes appended since the journal was last emptied. */
  readonly size: number;
  read(): JournalContents;
  append(requests: SettleRequest[]): void;
  clear(): void;
  close(): void;
}

/** The journal of an in-memory database (`:memory:`), which keeps nothing across a restart anyway. */
export const MEMORY_JOURNAL: Journal = {
  size: 0,
  read: () => ({ records: [], unreadable: 0 }),
  append: () => {},
  clear: () => {},
  close: () => {},
};

export class SettlementJournal implements Journal {
  private readonly fd: number;
  private bytes: number;

  /** Opens (creating) the journal; `sync` fdatasyncs every line (SQLite synchronous=FULL). */
  constructor(
    readonly path: string,
    private readonly sync: boolean,
  ) {
    this.fd = openSync(path, 'a+', 0o600);
    this.bytes = fstatSync(this.fd).size;
  }

  get size(): number {
    return this.bytes;
  }

  /** Every record in the file, in the order appended. */
  read(): JournalContents {
    if (this.bytes === 0) return { records: [], unreadable: 0 };
    return parseJournal(readFileSync(this.path, 'utf8'));
  }

  /** Appends settlements, one line each, in one write; they are in the file (as durable as a commit) when this returns. */
  append(requests: SettleRequest[]): void {
    let text = '';
    for (const request of requests) text += `${JSON.stringify(request)}\n`;
    const bytes = Buffer.from(text, 'utf8');
    let written = 0;
    while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
    this.bytes += bytes.length;
    if (this.sync) fdatasyncSync(this.fd);
  }

  /** Empties the file once every line in it is folded (appending continues at its start). */
  clear(): void {
    if (this.bytes === 0) return;
    ftruncateSync(this.fd, 0);
    this.bytes = 0;
    if (this.sync) fdatasyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Parses a journal's text; a line that is not a settlement is counted, not fatal. */
export function parseJournal(text: string): JournalContents {
  const records: SettleRequest[] = [];
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      unreadable++;
      continue;
    }
    if (isSettleRequest(value)) records.push(value);
    else unreadable++;
  }
  return { records, unreadable };
}

function isSettleRequest(value: unknown): value is SettleRequest {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const row = v.row as Record<string, unknown> | null | undefined;
  return (
    typeof v.reservationId === 'string' &&
    typeof v.keyId === 'string' &&
    (v.ownerId === null || typeof v.ownerId === 'string') &&
    Number.isSafeInteger(v.costNusd) &&
    typeof row === 'object' &&
    row !== null &&
    Number.isSafeInteger(row.createdAt) &&
    typeof row.model === 'string' &&
    typeof row.status === 'string' &&
    Number.isSafeInteger(row.promptTokens) &&
    Number.isSafeInteger(row.completionTokens)
  );
}

'use client';
/**
 * The browser's record of this session: every step call with its receipt and verification, the
 * mesh's published keys, and the demo key's usage ledger. Kept in sessionStorage so the audit and
 * usage views survive reloads; holds nothing secret.
 */
import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import type {
  ApiErrorBody,
  CascadiaBlock,
  GatewayStatus,
  PublishedKeys,
  Usage,
  UsageResponse,
} from '../lib/api-types';
import { type Verification, verifyStepBlock } from '../lib/verify';

export interface StepRecord {
  id: string;
  demoId: string;
  demoTitle: string;
  stepId: string;
  stepTitle: string;
  attempt: 1 | 2;
  text: string;
  model: string | null;
  usage: Usage | null;
  cascadia: CascadiaBlock | null;
  gatewayRequestId: string | null;
  startedAt: number;
  firstTokenAt: number | null;
  finishedAt: number;
  verification: Verification | { status: 'pending' };
}

interface SessionValue {
  records: StepRecord[];
  addRecord: (record: Omit<StepRecord, 'id' | 'verification'>) => string;
  clearRecords: () => void;
  keys: PublishedKeys | null;
  status: GatewayStatus | null;
  statusError: string | null;
  refreshStatus: () => Promise<void>;
  usage: UsageResponse | null;
  usageError: string | null;
  refreshUsage: () => Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);
const STORAGE_KEY = 'cascadia-web-session-v1';

async function readError(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as ApiErrorBody;
    return body.error.message;
  } catch {
    return `The server answered ${response.status}.`;
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [records, setRecords] = useState<StepRecord[]>([]);
  const [status, setStatus] = useState<GatewayStatus | null>(null);
  const [statusError, setStatusError] = useState<string | null>(null);
  const [usage, setUsage] = useState<UsageResponse | null>(null);
  const [usageError, setUsageError] = useState<string | null>(null);
  const keysRef = useRef<PublishedKeys | null>(null);
  const loaded = useRef(false);

  const refreshStatus = useCallback(async () => {
    try {
      const response = await fetch('/api/gateway', { cache: 'no-store' });
      if (!response.ok) throw new Error(await readError(response));
      const body = (await response.json()) as GatewayStatus;
      keysRef.current = body.keys;
      setStatus(body);
      setStatusError(null);
    } catch (err) {
      setStatusError((err as Error).message);
    }
  }, []);

  const refreshUsage = useCallback(async () => {
    try {
      const response = await fetch('/api/usage', { cache: 'no-store' });
      if (!response.ok) throw new Error(await readError(response));
      setUsage((await response.json()) as UsageResponse);
      setUsageError(null);
    } catch (err) {
      setUsageError((err as Error).message);
    }
  }, []);

  const verify = useCallback(
    async (record: StepRecord) => {
      if (!keysRef.current) await refreshStatus();
      const verification = await verifyStepBlock(record.cascadia, record.text, keysRef.current);
      setRecords((all) => all.map((r) => (r.id === record.id ? { ...r, verification } : r)));
    },
    [refreshStatus],
  );

  useEffect(() => {
    if (loaded.current) return;
    loaded.current = true;
    let saved: StepRecord[] = [];
    try {
      saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? '[]') as StepRecord[];
      setRecords(saved);
    } catch {
      // a corrupt or unavailable store just starts an empty session
    }
    // A reload in the middle of a check leaves it pending: check those again.
    void refreshStatus().then(() => {
      for (const record of saved) if (record.verification.status === 'pending') void verify(record);
    });
  }, [refreshStatus, verify]);

  useEffect(() => {
    if (!loaded.current) return;
    try {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(records));
    } catch {
      // storage full or disabled: the session still works in memory
    }
  }, [records]);

  const addRecord = useCallback(
    (fields: Omit<StepRecord, 'id' | 'verification'>) => {
      const record: StepRecord = { ...fields, id: crypto.randomUUID(), verification: { status: 'pending' } };
      setRecords((all) => [...all, record]);
      void verify(record);
      return record.id;
    },
    [verify],
  );

  const value = useMemo<SessionValue>(
    () => ({
      records,
      addRecord,
      clearRecords: () => setRecords([]),
      keys: status?.keys ?? null,
      status,
      statusError,
      refreshStatus,
      usage,
      usageError,
      refreshUsage,
    }),
    [records, addRecord, status, statusError, refreshStatus, usage, usageError, refreshUsage],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession must be used inside SessionProvider');
  return value;
}

/** The ledger row of a step call: matched by the gateway's request id, else the receipt's. */
export function usageRowFor(record: StepRecord, usage: UsageResponse | null) {
  if (!usage) return undefined;
  const receiptId = (record.cascadia?.receipt as { request_id?: string } | undefined)?.request_id;
  return usage.rows.find(
    (row) => row.request_id === record.gatewayRequestId || (receiptId && row.request_id === receiptId),
  );
}

// What the fake remembers for assertions: requests, token requests, and the usage it reported.
import type { RecordedRequest, TokenRequestRecord, UsageTotals } from './types.js';

/** Bounded request logs. */
export interface Recorder {
  readonly requests: RecordedRequest[];
  readonly tokenRequests: TokenRequestRecord[];
  addRequest(record: RecordedRequest): void;
  addTokenRequest(record: TokenRequestRecord): void;
  clear(): void;
}

/** Creates the logs; past `limit` entries the oldest go first. */
export function createRecorder(limit: number): Recorder {
  const requests: RecordedRequest[] = [];
  const tokenRequests: TokenRequestRecord[] = [];
  const push = <T>(list: T[], item: T) => {
    list.push(item);
    if (list.length > limit) list.splice(0, list.length - limit);
  };
  return {
    requests,
    tokenRequests,
    addRequest: (record) => push(requests, record),
    addTokenRequest: (record) => push(tokenRequests, record),
    clear: () => {
      requests.length = 0;
      tokenRequests.length = 0;
    },
  };
}

/** Usage per account, counted only as it is written to a client. */
export interface UsageLedger {
  add(accountId: string, usage: Partial<UsageTotals>): void;
  totals(accountId?: string): UsageTotals;
  clear(): void;
}

const zero = (): UsageTotals => ({ input: 0, output: 0, cacheCreation: 0, cacheRead: 0, requests: 0 });

/** Creates an empty ledger. */
export function createUsageLedger(): UsageLedger {
  const perAccount = new Map<string, UsageTotals>();
  const addInto = (target: UsageTotals, usage: Partial<UsageTotals>) => {
    target.input += usage.input ?? 0;
    target.output += usage.output ?? 0;
    target.cacheCreation += usage.cacheCreation ?? 0;
    target.cacheRead += usage.cacheRead ?? 0;
    target.requests += usage.requests ?? 0;
  };
  return {
    add(accountId, usage) {
      let totals = perAccount.get(accountId);
      if (!totals) {
        totals = zero();
        perAccount.set(accountId, totals);
      }
      addInto(totals, usage);
    },
    totals(accountId) {
      if (accountId !== undefined) return { ...(perAccount.get(accountId) ?? zero()) };
      const sum = zero();
      for (const totals of perAccount.values()) addInto(sum, totals);
      return sum;
    },
    clear() {
      perAccount.clear();
    },
  };
}

/** Injected faults for tests of clients' error handling: delays and error Status answers. */
import http from 'node:http';

export interface FaultSpec {
  /** request path (and query) to match: a RegExp, or a string the path must start with */
  path: RegExp | string;
  /** HTTP method to match (default any) */
  method?: string;
  /** delay before answering (or before failing) */
  delayMs?: number;
  /** answer this status with a Status body instead of serving the request */
  status?: number;
  /** Status reason (default from the status code, e.g. InternalError, ServiceUnavailable) */
  reason?: string;
  message?: string;
  /** how many matching requests to affect (default unlimited) */
  times?: number;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export class FaultInjector {
  private readonly faults: Array<FaultSpec & { remaining: number }> = [];

  add(spec: FaultSpec): () => void {
    const entry = { ...spec, remaining: spec.times ?? Number.POSITIVE_INFINITY };
    this.faults.push(entry);
    return () => {
      const i = this.faults.indexOf(entry);
      if (i >= 0) this.faults.splice(i, 1);
    };
  }

  clear(): void {
    this.faults.length = 0;
  }

  /** The fault for a request, consuming one use of it. */
  match(method: string, url: string): FaultSpec | undefined {
    const f = this.faults.find(x => x.remaining > 0 && (!x.method || x.method.toUpperCase() === method) && (typeof x.path === 'string' ? url.startsWith(x.path) : x.path.test(url)));
    if (f) f.remaining--;
    return f;
  }

  static statusBody(f: FaultSpec): string {
    const code = f.status ?? 500;
    const reason = f.reason ?? REASONS[code] ?? 'InternalError';
    const message = f.message ?? (code === 500 ? 'Internal error occurred: injected fault' : `${http.STATUS_CODES[code] ?? 'error'} (injected fault)`);
    return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  }
}

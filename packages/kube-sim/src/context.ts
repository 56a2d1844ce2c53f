/** Shared state handed to the request handlers. */
import type { Authorizer, TokenEntry } from './authz';
import type { EventRecorder } from './events';
import type { FaultInjector } from './faults';
import type { PodLifecycle } from './podLifecycle';
import type { PodSecurityAdmission } from './podSecurity';
import type { TokenController } from './serviceAccounts';
import type { Store } from './store';
import type { WatchHub } from './watch';

export interface RequestLogEntry {
  method: string;
  url: string;
  user?: string;
  status: number;
  at: number;
  /** audit annotations, e.g. `pod-security.kubernetes.io/audit-violations` */
  annotations?: Record<string, string>;
}

export interface SimContext {
  store: Store;
  authz: Authorizer;
  lifecycle: PodLifecycle;
  recorder: EventRecorder;
  watches: WatchHub;
  dataDir: string;
  /** host:port as clients see it */
  serverAddress: () => string;
  faults: FaultInjector;
  podSecurity: PodSecurityAdmission;
  /** the ServiceAccount token controller and TokenRequest issuer */
  tokens: TokenController;
  /** recent requests, newest last (bounded) */
  requestLog: RequestLogEntry[];
  /** who a request without Authorization is (http mode acts like `kubectl proxy`: the admin) */
  anonymous?: TokenEntry;
  /** called when a PV is created so its directory exists */
  ensurePvDir: (pvName: string) => void;
  /** called when a dynamically provisioned PV is deleted */
  removePvDir: (pvName: string) => void;
}

export interface Caller {
  entry: TokenEntry;
}

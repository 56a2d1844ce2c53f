/*
 * Persistence of backup policies (issue 15): the policies, the PVCs each covers ("targets", with
 * their effective schedule and dispatch state), and the exactly-once slot ledger.
 *
 * A dispatch tick, on whichever replica Backstage's scheduler picks (and safe if two run at once):
 * 1. `databaseTime()` — every replica judges "due" by the database's clock, never its own;
 * 2. `dueTargets(now, limit)` — ONE indexed query (`policy_targets.next_run_at <= now` of enabled
 *    policies), with each PVC's "a backup is queued or running" flag computed in the same statement;
 * 3. `decideDispatch` per target (services/Policies/dispatch.ts, pure);
 * 4. `claimSlots` for every decision that has a due slot (run, or missed): an insert into the
 *    ledger whose primary key (policy, PVC, slot) lets exactly one dispatcher hold each slot.
 *    Whoever does not hold it does nothing more for that target: the holder decides the slot;
 * 5. the holder starts the run (a `run` decision), then `recordDispatches`: accepted only from
 *    the holder of the ledger row (and once), plus a compare-and-set on the target's `last_slot`.
 *    It stores the next run, adds the missed slots, and attaches the run id to the target, the
 *    policy and the run's items (`trigger = 'schedule'`, `policy_id`).
 * A holder that stops between claim and record leaves its claim unrecorded; once the claim's
 * lease (database clock) has run out, the next claim of that slot takes it over (`recovered`):
 * the slot is then counted missed, never run, since the first holder may have started it. So a
 * slot runs at most once, and a stopped replica never stalls a schedule.
 * Decisions without a due slot (a stored next run that turned out early) need no claim.
 */
import type { PvcKey } from './BackupStore';
import type { CatchUp, RetentionSettings } from '../services/Policies';

/** What a policy covers: one PVC, or every PVC of a catalog entity (PVCs that appear later too). */
export type PolicyScope = ({ kind: 'pvc' } & PvcKey) | { kind: 'entity'; entityRef: string };

/** A validated policy to store (settings as `parsePolicySettings` returns them). */
export interface NewPolicy {
  scope: PolicyScope;
  /**
   * The entity that owns the PVC of a `pvc` policy, for permission checks; ignored for entity
   * policies (their `entityRef` is the scope's).
   */
  ownerEntityRef?: string | null;
  /** As written: 5 fields, a preset or a `-random` preset (resolved per PVC in the targets). */
  cron: string;
  /** IANA zone, already normalized. */
  timezone: string;
  destination: string;
  retention: RetentionSettings;
  catchUp: CatchUp;
  /** As written (`30m`, `PT1H`) and in milliseconds; both or neither. */
  maxDuration?: { text: string; ms: number } | null;
  includeManual: boolean;
  enabled: boolean;
  createdBy: string;
}

/** Fields `updatePolicy` may change; the scope of a policy never changes. */
export type PolicyPatch = Partial<
  Pick<NewPolicy, 'cron' | 'timezone' | 'destination' | 'retention' | 'catchUp' | 'maxDuration' | 'includeManual' | 'enabled'>
> & { updatedBy: string };

export interface PolicyStatus {
  /** The earliest next run among the policy's PVCs; null when disabled or never again. */
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastRunId: string | null;
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** Slots that never ran (overlap with a running backup, outage without catch-up, lost claims). */
  missedRuns: number;
  /** PVCs currently covered. */
  targets: number;
}

export interface StoredPolicy {
  id: string;
  scope: PolicyScope;
  /** The scope's entity, or the owner entity of a PVC policy's PVC; null when none matched. */
  entityRef: string | null;
  cron: string;
  timezone: string;
  destination: string;
  retention: RetentionSettings;
  catchUp: CatchUp;
  maxDuration: string | null;
  maxDurationMs: number | null;
  includeManual: boolean;
  enabled: boolean;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  updatedBy: string | null;
  status: PolicyStatus;
}

/** One PVC a policy covers. */
export interface PolicyTarget extends PvcKey {
  policyId: string;
  /** The effective 5-field schedule (a `-random` preset resolved for this PVC). */
  effectiveCron: string;
  since: string;
  lastSlot: string | null;
  nextRunAt: string | null;
  missedRuns: number;
  lastRunId: string | null;
}

/** A target the dispatch tick has to decide on: its schedule, its policy's settings and whether its PVC is busy. */
export interface DueTarget extends PvcKey {
  policyId: string;
  /** Effective cron: give it to `decideDispatch` as `cron`. */
  cron: string;
  timezone: string;
  catchUp: CatchUp;
  since: Date;
  lastSlot: Date | null;
  nextRunAt: Date;
  destination: string;
  maxDurationMs: number | null;
  entityRef: string | null;
  /** A backup item of this PVC is queued or running (any trigger): a due slot is then missed. */
  runActive: boolean;
}

export interface PolicyFilter {
  /** Policies whose entity (scope entity, or owner of the PVC) is one of these. */
  entityRefs?: string[];
  /** Policies that cover this PVC (directly or as a target of an entity policy). */
  pvc?: PvcKey;
  /** Page size; at most 500. */
  limit?: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export interface PolicyPage {
  items: StoredPolicy[];
  nextCursor: string | null;
}

/** One slot a dispatcher wants to decide (run or count missed). */
export interface SlotClaim extends PvcKey {
  policyId: string;
  slot: Date;
}

export interface ClaimResult {
  /** This dispatcher now holds the slot and must record its decision. */
  held: boolean;
  /**
   * Held by taking over a claim whose dispatcher stopped before recording it (lease expired): the
   * slot may have been started, so it must not run again; count it missed.
   */
  recovered: boolean;
}

/** The decision of one tick for one target, as `decideDispatch` returned it. */
export interface DispatchRecord extends PvcKey {
  policyId: string;
  /** The `lastSlot` the decision was made from (compare-and-set). */
  expectedLastSlot: Date | null;
  /** The decision's `lastSlot`: the newest due slot, the one claimed. */
  lastSlot: Date | null;
  /** The decision's `nextRun`. */
  nextRunAt: Date | null;
  /**
   * Slots counted missed: the decision's `missed`, plus 1 for a run slot that could not start or
   * was recovered. Non-zero only with `claimedBy`.
   */
  missed: number;
  /**
   * The dispatcher holding the claim on (policy, PVC, `lastSlot`): required for any decision with
   * a due slot; the record is ignored unless that claim is still this dispatcher's and unrecorded.
   * Omit for a decision without a due slot (only the next run changes).
   */
  claimedBy?: string | null;
  /** The backup run started for `lastSlot`. */
  runId?: string | null;
}

export interface PolicyOutcome {
  /** The backup run the outcome is about, when one started. */
  runId?: string;
  status: 'succeeded' | 'failed';
  /** When it finished; default now. */
  at?: Date;
  error?: string;
}

export interface PolicyStore {
  /** The database's current time: the clock every replica judges "due" by. */
  databaseTime(): Promise<Date>;

  /**
   * Stores a policy; a `pvc` policy gets its one target at once (an entity policy gets its
   * targets from `upsertTargets`). Returns it with its status.
   */
  createPolicy(policy: NewPolicy): Promise<StoredPolicy>;
  /**
   * Changes settings. A changed cron or time zone re-resolves every target's schedule and starts
   * it afresh from now (no catch-up of slots of the old schedule); disabling clears the next runs,
   * enabling starts from now. Undefined when the policy does not exist.
   */
  updatePolicy(id: string, patch: PolicyPatch): Promise<StoredPolicy | undefined>;
  /** Deletes the policy, its targets and its ledger. False when it did not exist. */
  deletePolicy(id: string): Promise<boolean>;
  getPolicy(id: string): Promise<StoredPolicy | undefined>;
  /** Oldest first (created time, then id), with a stable cursor. */
  listPolicies(filter?: PolicyFilter): Promise<PolicyPage>;
  listTargets(policyId: string): Promise<PolicyTarget[]>;

  /**
   * Makes the targets of a policy exactly `pvcs` (an entity policy whose PVC set changed): new
   * PVCs are covered from now, gone ones are dropped, the rest keep their state.
   */
  upsertTargets(policyId: string, pvcs: PvcKey[]): Promise<{ added: number; removed: number }>;

  /**
   * Targets of enabled policies whose `next_run_at` is at or before `now`, earliest first, at most
   * `limit` (the rest come next tick). One statement, on the `next_run_at` index.
   */
  dueTargets(now: Date, limit: number): Promise<DueTarget[]>;

  /** Claims one slot; true when this dispatcher now holds it (see `claimSlots` for `recovered`). */
  claimSlot(claim: SlotClaim, claimedBy: string): Promise<boolean>;
  /**
   * Claims slots in the ledger, one statement per 500: held when newly inserted, or taken over
   * from an unrecorded claim older than the claim lease (`recovered`). Results in input order; of
   * duplicates in one call, only the first can be held.
   */
  claimSlots(claims: SlotClaim[], claimedBy: string): Promise<ClaimResult[]>;

  /**
   * Stores one tick's decision for a target. A record with `claimedBy` is accepted once, and only
   * while that dispatcher holds the claim of (policy, PVC, `lastSlot`); then a compare-and-set on
   * the target's last slot stores it. False when not stored (another dispatcher holds or recorded
   * the slot, the compare-and-set failed, or the target is gone).
   */
  recordDispatch(record: DispatchRecord): Promise<boolean>;
  /** `recordDispatch` for many at once (a few statements per 500); results in input order. */
  recordDispatches(records: DispatchRecord[]): Promise<boolean[]>;

  /** Records how a scheduled run of the policy ended: last success, or last error. */
  recordOutcome(policyId: string, outcome: PolicyOutcome): Promise<void>;

  /** Pins or unpins a backup item (retention never deletes a pinned one). False when unknown. */
  setPinned(itemId: string, pinned: boolean): Promise<boolean>;

  /** Deletes ledger rows of slots before `before` (long decided); returns how many. */
  pruneSlots(before: Date): Promise<number>;
}

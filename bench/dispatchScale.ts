/*
 * dispatch-scale (issue 15, DESIGN.md §7): 5,000 backup policies over 500 namespaces on the real
 * PostgreSQL, 500 of them due; one dispatch tick (the due query, decideDispatch per due target,
 * the slot claims and the dispatch records) must take under 2 s of backend time and run the due
 * query as one indexed statement. Prints the query plan of the due query (EXPLAIN ANALYZE).
 *
 * Runs in a database of its own, created and dropped here, on
 * BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING (default postgresql://postgres@127.0.0.1:5432).
 */
import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { DatabaseBackupStore } from '../plugins/volume-manager-backend/src/database/DatabaseBackupStore';
import { DatabasePolicyStore } from '../plugins/volume-manager-backend/src/database/DatabasePolicyStore';
import { BACKUP_STORE_MIGRATIONS_DIR } from '../plugins/volume-manager-backend/src/database/migrateBackupStore';
import type { NewPolicy } from '../plugins/volume-manager-backend/src/database/PolicyStore';
import { dispatchTick } from '../plugins/volume-manager-backend/src/services/PolicyDispatch/dispatchTick';
import { median } from './support';
import type { Benchmark } from './types';

const POLICIES = 5_000;
const NAMESPACES = 500;
const DUE = 500;
/** PVCs of due policies with a backup queued (their slot is counted missed, not run). */
const BUSY = 50;
/** Finished backup items in the history, so the "PVC busy" lookup has real work. */
const HISTORY_RUNS = 250;
const HISTORY_ITEMS_PER_RUN = 40;
const ROUNDS = 5;
const BUDGET_S = 2;
const CREATED = Date.parse('2026-12-07T00:00:30Z');
const TICK = new Date('2026-12-07T00:15:30Z');
const DUE_ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'];
const IDLE_SPECS: Array<[string, string]> = [
  ['0 12 * * *', 'UTC'],
  ['30 12 * * MON-FRI', 'Europe/Berlin'],
  ['0 6 * * *', 'UTC'],
];

function connectionString(): string {
  return process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING ?? 'postgresql://postgres@127.0.0.1:5432';
}

function pvcOf(i: number) {
  return { cluster: 'scale', namespace: `ns-${String(i % NAMESPACES).padStart(3, '0')}`, pvc: `data-${i}` };
}

/** Policy i: every 10th is due at TICK (every 15 minutes, in one of several zones); the others are not. */
function policyOf(i: number): NewPolicy {
  const due = i % (POLICIES / DUE) === 0;
  const [cron, timezone] = due ? ['*/15 * * * *', DUE_ZONES[i % DUE_ZONES.length]] : IDLE_SPECS[i % IDLE_SPECS.length];
  return {
    scope: { kind: 'pvc', ...pvcOf(i) },
    ownerEntityRef: `component:default/app-${i % NAMESPACES}`,
    cron,
    timezone,
    destination: 'local',
    retention: { keepDaily: 7, keepWeekly: 4 },
    catchUp: i % 2 ? 'one' : 'none',
    includeManual: false,
    enabled: true,
    createdBy: 'user:default/bench',
  };
}

async function seed(knex: Knex): Promise<DatabasePolicyStore> {
  await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
  const store = DatabasePolicyStore.fromKnex(knex, { now: () => new Date(CREATED) });
  for (let i = 0; i < POLICIES; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => store.createPolicy(policyOf(i + j))));
  }
  const backups = DatabaseBackupStore.fromKnex(knex);
  for (let r = 0; r < HISTORY_RUNS; r++) {
    await backups.createRun({
      cluster: 'scale',
      destination: 'local',
      requestedBy: 'user:default/bench',
      items: Array.from({ length: HISTORY_ITEMS_PER_RUN }, (_, j) => pvcOf(r * HISTORY_ITEMS_PER_RUN + j)),
    });
  }
  await knex('backup_item').update({ status: 'succeeded', finished_at: new Date(CREATED) });
  for (let b = 0; b < BUSY; b++) {
    const { namespace, pvc } = pvcOf(b * (POLICIES / DUE) * 3);
    await backups.createRun({ cluster: 'scale', destination: 'local', requestedBy: 'user:default/bench', items: [{ namespace, pvc }] });
  }
  await knex.raw('analyze');
  // The state every round starts from.
  await knex.raw('create table bench_targets as select policy_id, cluster, namespace, pvc, last_slot, next_run_at from policy_targets');
  return store;
}

async function resetRound(knex: Knex) {
  await knex('policy_slots').delete();
  await knex.raw(
    'update policy_targets t set last_slot = b.last_slot, next_run_at = b.next_run_at, missed_runs = 0, last_run_id = null ' +
      'from bench_targets b where t.policy_id = b.policy_id and t.cluster = b.cluster and t.namespace = b.namespace and t.pvc = b.pvc',
  );
  await knex('policies').update({ missed_runs: 0, last_run_id: null, last_run_at: null });
  await knex.raw('vacuum analyze policy_targets');
  await knex.raw('vacuum analyze policy_slots');
}

export const dispatchScale: Benchmark = {
  name: 'dispatch-scale',
  description: 'a dispatch tick on PostgreSQL: 5,000 policies over 500 namespaces, 500 due (query, decisions, claims, records)',
  async run() {
    const base = connectionString();
    const dbName = `nkvm_bench_dispatch_${process.pid}_${Date.now()}`;
    const admin = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
    await admin.raw(`create database ${dbName}`);
    const url = new URL(base);
    url.pathname = `/${dbName}`;
    const knex = knexFactory({ client: 'pg', connection: url.toString(), pool: { min: 1, max: 5 } });
    try {
      const seedStart = process.hrtime.bigint();
      const store = await seed(knex);
      const seedS = Number(process.hrtime.bigint() - seedStart) / 1e9;

      // The due query's plan, as PostgreSQL runs it.
      const { sql, bindings } = store.dueQuery(TICK, 1_000).toSQL();
      const explained = await knex.raw(`explain (analyze, costs off, timing off, summary off) ${sql}`, bindings as Knex.Value[]);
      const plan: string[] = explained.rows.map((r: Record<string, string>) => r['QUERY PLAN']);
      const indexUsed = plan.some(line => /Index (Only )?Scan.*policy_targets_next_run_idx/.test(line));
      const seqScanOnTargets = plan.some(line => /Seq Scan on policy_targets/.test(line));
      console.error(`[bench] dispatch-scale: due query plan:\n  ${plan.join('\n  ')}`);

      const seconds: number[] = [];
      let statements = 0;
      let dueQueries = 0;
      let result: Awaited<ReturnType<typeof dispatchTick>> | undefined;
      for (let round = 0; round < ROUNDS; round++) {
        await resetRound(knex);
        let count = 0;
        let dueCount = 0;
        const onQuery = (q: { sql: string }) => {
          count++;
          if (/from "policy_targets" as "t"/.test(q.sql)) dueCount++;
        };
        knex.on('query', onQuery);
        const start = process.hrtime.bigint();
        result = await dispatchTick({
          store,
          dispatcherId: 'bench-replica',
          now: TICK,
          limit: 1_000,
          startRun: async () => randomUUID(),
        });
        seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
        knex.removeListener('query', onQuery);
        statements = count;
        dueQueries = dueCount;
      }
      if (!result || result.due !== DUE || result.recorded !== DUE || result.failed.length > 0) {
        throw new Error(
          `expected ${DUE} due targets all recorded, saw due=${result?.due} recorded=${result?.recorded} failed=${result?.failed.length}`,
        );
      }
      const value = median(seconds);
      const pass = value < BUDGET_S && indexUsed && !seqScanOnTargets && dueQueries === 1;
      return {
        bench: 'dispatch-scale',
        value: Number(value.toFixed(4)),
        unit: 's',
        baseline: BUDGET_S,
        ratio: Number((value / BUDGET_S).toFixed(4)),
        target: `median tick < ${BUDGET_S} s on PostgreSQL, the due query one statement on policy_targets_next_run_idx (baseline is the budget)`,
        pass,
        details: {
          policies: POLICIES,
          namespaces: NAMESPACES,
          due: result.due,
          started: result.started.length,
          missedBusy: result.due - result.started.length,
          recorded: result.recorded,
          maxTickS: Number(Math.max(...seconds).toFixed(4)),
          statementsPerTick: statements,
          dueQueriesPerTick: dueQueries,
          indexUsed: String(indexUsed),
          plan: plan.join(' | '),
          seedS: Number(seedS.toFixed(1)),
          rounds: ROUNDS,
        },
      };
    } finally {
      await knex.destroy();
      await admin.raw(`drop database if exists ${dbName}`);
      await admin.destroy();
    }
  },
};

import { accessModesString, humanDuration, tableRowJson } from './tables';
import { POD } from './resources';
import type { KObj } from './types';

it('formats ages like duration.HumanDuration', () => {
  const s = 1000;
  expect([0, 59, 119].map(x => humanDuration(x * s))).toEqual(['0s', '59s', '119s']);
  expect(humanDuration(150 * s)).toBe('2m30s');
  expect(humanDuration(600 * s)).toBe('10m');
  expect(humanDuration(3 * 3600 * s)).toBe('3h');
  expect(humanDuration((5 * 3600 + 120) * s)).toBe('5h2m');
  expect(humanDuration(30 * 3600 * s)).toBe('30h');
  expect(humanDuration(50 * 3600 * s)).toBe('2d2h');
  expect(humanDuration(20 * 86400 * s)).toBe('20d');
  expect(humanDuration(800 * 86400 * s)).toBe('2y70d');
  expect(humanDuration(-5 * s)).toBe('<invalid>');
});

it('abbreviates access modes in apiserver order', () => {
  expect(accessModesString(['ReadWriteOncePod', 'ReadWriteOnce', 'ReadWriteMany'])).toBe('RWO,RWX,RWOP');
  expect(accessModesString(['ReadOnlyMany'])).toBe('ROX');
});

describe('pod status column', () => {
  const base = (status: Record<string, unknown>, meta: Record<string, unknown> = {}): KObj => ({
    metadata: { name: 'p', creationTimestamp: new Date().toISOString(), ...meta },
    spec: { containers: [{ name: 'c' }] },
    status,
  });
  const cells = (o: KObj) => JSON.parse(tableRowJson(POD, o, '', 'None', Date.now())).cells;
  it.each([
    [{ phase: 'Pending' }, {}, 'Pending'],
    [{ phase: 'Pending', containerStatuses: [{ name: 'c', state: { waiting: { reason: 'ContainerCreating' } } }] }, {}, 'ContainerCreating'],
    [{ phase: 'Pending', containerStatuses: [{ name: 'c', state: { waiting: { reason: 'ImagePullBackOff' } } }] }, {}, 'ImagePullBackOff'],
    [{ phase: 'Running', containerStatuses: [{ name: 'c', ready: true, state: { running: {} } }] }, {}, 'Running'],
    [{ phase: 'Running', containerStatuses: [{ name: 'c', ready: true, state: { running: {} } }] }, { deletionTimestamp: '2030-01-01T00:00:00Z' }, 'Terminating'],
    [{ phase: 'Failed', reason: 'DeadlineExceeded', containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 137, reason: 'Error' } } }] }, {}, 'Error'],
    [{ phase: 'Succeeded', containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] }, {}, 'Completed'],
    [{ phase: 'Failed', containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 3 } } }] }, {}, 'ExitCode:3'],
  ])('%j → %s', (status, meta, expected) => {
    expect(cells(base(status, meta))[2]).toBe(expected);
  });
  it('counts ready containers and fills the wide columns', () => {
    const c = cells(base({ phase: 'Running', podIPs: [{ ip: '10.1.1.1' }], containerStatuses: [{ name: 'c', ready: true, state: { running: {} } }] }));
    expect(c[1]).toBe('1/1');
    expect(c.slice(5)).toEqual(['10.1.1.1', '<none>', '<none>', '<none>']);
  });
});

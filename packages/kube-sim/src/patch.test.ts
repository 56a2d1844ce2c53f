import { jsonPatch, mergePatch, strategicMergePatch } from './patch';

it('applies JSON merge patches (RFC 7386)', () => {
  expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { b: { c: null, e: 4 }, l: [3] })).toEqual({ a: 1, b: { d: 3, e: 4 }, l: [3] });
});

it('merges lists by their merge key in strategic merge patches', () => {
  const pod = { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] }, metadata: { labels: { k: 'v' } } };
  const out = strategicMergePatch(pod, { spec: { containers: [{ name: 'b', image: 'z' }, { name: 'c', image: 'w' }] }, metadata: { labels: { k: null, n: 'm' } } });
  expect(out).toEqual({ spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'z' }, { name: 'c', image: 'w' }] }, metadata: { labels: { n: 'm' } } });
  const deleted = strategicMergePatch(pod, { spec: { containers: [{ name: 'a', $patch: 'delete' }] } });
  expect(deleted).toEqual({ spec: { containers: [{ name: 'b', image: 'y' }] }, metadata: { labels: { k: 'v' } } });
  expect(strategicMergePatch(pod, { metadata: { labels: { $patch: 'replace', only: '1' } } })).toMatchObject({ metadata: { labels: { only: '1' } } });
});

it('applies JSON patches (RFC 6902)', () => {
  const doc = { metadata: { labels: { 'a/b': '1' } }, list: [1, 2] };
  expect(jsonPatch(doc, [{ op: 'remove', path: '/metadata/labels/a~1b' }, { op: 'add', path: '/list/-', value: 3 }, { op: 'replace', path: '/list/0', value: 0 }])).toEqual({
    metadata: { labels: {} },
    list: [0, 2, 3],
  });
  expect(() => jsonPatch(doc, [{ op: 'test', path: '/list/0', value: 9 }])).toThrow();
});

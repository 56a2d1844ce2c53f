import { formatSelector, fromLabelSelectorObject, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors';
import { ApiError } from './status';
import type { KObj } from './types';

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'backend', version: '3' };
  it.each([
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app=web,tier=frontend', false],
    ['app in (web, api)', true],
    ['app notin (web)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['missing!=x', true],
    ['app in (web),tier notin (frontend),!missing,version', true],
    ['version>2', true],
    ['version<3', false],
    ['', true],
  ])('%s → %s', (sel, expected) => {
    expect(matchesLabels(parseLabelSelector(sel), labels)).toBe(expected);
  });

  it('rejects malformed selectors with 400', () => {
    for (const bad of ['app in web', 'a=b=c=', '-bad-=x', 'version>x']) {
      let err: unknown;
      try {
        parseLabelSelector(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe(400);
    }
  });

  it('formats metav1.LabelSelector like labels.Selector.String()', () => {
    expect(formatSelector(fromLabelSelectorObject({ matchLabels: { tier: 'b', app: 'a' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'dev'] }, { key: 'x', operator: 'DoesNotExist' }] }))).toBe(
      'app=a,env in (dev,prod),tier=b,!x',
    );
  });
});

describe('field selectors', () => {
  const pod: KObj = { metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };
  it('matches the pod fields the apiserver supports', () => {
    expect(matchesFields(parseFieldSelector('spec.nodeName=n1,status.phase=Running', 'pods'), 'pods', pod)).toBe(true);
    expect(matchesFields(parseFieldSelector('metadata.namespace!=ns', 'pods'), 'pods', pod)).toBe(false);
    expect(matchesFields(parseFieldSelector('metadata.name==p', 'pods'), 'pods', pod)).toBe(true);
  });
  it('rejects unsupported fields like the apiserver', () => {
    expect(() => parseFieldSelector('spec.nodeName=x', 'persistentvolumeclaims')).toThrow('field label not supported: spec.nodeName');
  });
});

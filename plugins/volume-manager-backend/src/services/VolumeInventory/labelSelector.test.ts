import { parseLabelSelector } from './labelSelector';

describe('parseLabelSelector', () => {
  const labels = { app: 'search-api', tier: 'backend', 'backstage.io/kubernetes-id': 'x' };

  it.each([
    ['app=search-api', true],
    ['app==search-api,tier=backend', true],
    ['app=search-api,tier=frontend', false],
    ['app!=search-api', false],
    ['app!=other', true],
    ['tier in (backend, frontend)', true],
    ['tier notin (backend)', false],
    ['missing notin (x)', true],
    ['backstage.io/kubernetes-id', true],
    ['!backstage.io/kubernetes-id', false],
    ['!missing', true],
    ['', true],
  ])('%p matches: %p', (selector, expected) => {
    expect(parseLabelSelector(selector)(labels)).toBe(expected);
  });

  it('treats missing labels as an empty map', () => {
    expect(parseLabelSelector('app=x')(undefined)).toBe(false);
    expect(parseLabelSelector('!app')(undefined)).toBe(true);
  });

  it('rejects what the API server would reject', () => {
    expect(() => parseLabelSelector('app in x')).toThrow("Invalid label selector term 'app in x'");
  });
});

import { selectorLabels } from './labelSelector';

describe('selectorLabels (the labels a restored PVC gets for its entity)', () => {
  it('gives the labels of equality selectors', () => {
    expect(selectorLabels('backstage.io/kubernetes-id=payments-db')).toEqual({ 'backstage.io/kubernetes-id': 'payments-db' });
    expect(selectorLabels('app=search-api, tier==backend')).toEqual({ app: 'search-api', tier: 'backend' });
  });

  it('gives none for selectors that name no labels to give', () => {
    for (const selector of ['app!=x', 'app in (a,b)', '!app', 'app', 'app=x,tier notin (a)', '', 'app=x=y', 'app=-bad']) {
      expect(selectorLabels(selector)).toBeUndefined();
    }
  });
});

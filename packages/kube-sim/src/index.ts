export { startKubeSim } from './sim';
export type { KubeSim, KubeSimOptions, AddTokenOptions } from './sim';
export type { PolicyRule } from './authz';
export type { PodSecurityExemptions } from './podSecurity';
export type { FaultSpec } from './faults';
export type { Fixture, FixtureClaim, FixtureWorkload, FixtureNode, FixtureToken } from './fixtures/types';
export { scaleFixture } from './fixtures/scale';
export { SERVER_VERSION } from './discovery';

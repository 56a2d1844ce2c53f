/**
 * Shared types, constants and permissions of the volume-manager plugins.
 *
 * @packageDocumentation
 */
export * from './constants';
export * from './permissions';
export * from './types';

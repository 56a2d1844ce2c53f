/**
 * Extension points of the volume-manager backend plugin.
 *
 * @packageDocumentation
 */
export * from './extensions';
export * from './sinks';

/**
 * The volume-manager backend plugin.
 *
 * @packageDocumentation
 */
export { volumeManagerPlugin as default } from './plugin';

export { AmbiguousOwnershipNotice } from './AmbiguousOwnershipNotice';

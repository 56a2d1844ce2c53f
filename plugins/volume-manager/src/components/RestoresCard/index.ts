export {
  RestoresCard,
  RESTORES_LIMIT,
  describeRestoreTarget,
  type RestoresCardProps,
} from './RestoresCard';

export {
  EndpointUnavailable,
  type EndpointUnavailableProps,
} from './EndpointUnavailable';

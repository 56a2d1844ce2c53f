export {
  KubernetesAnnotationsHelp,
  type KubernetesAnnotationsHelpProps,
} from './KubernetesAnnotationsHelp';

export interface ExecMount {
  /** Directory (or file) on the host, e.g. `<data-dir>/pvs/<pv>`. */
  hostPath: string;
  /** Where it appears inside the sandbox, e.g. `/data`. */
  mountPath: string;
  readOnly: boolean;
}

export interface ExecSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  supplementalGroups?: number[];
  capabilities?: { add?: string[]; drop?: string[] };
}

export interface ExecTarget {
  command: string[];
  container: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  mounts: ExecMount[];
  securityContext?: ExecSecurityContext;
  workingDir?: string;
  env?: Record<string, string>;
  /** Called once the process runs, with a function that kills its whole tree. */
  onProcess?: (kill: () => void) => void;
}

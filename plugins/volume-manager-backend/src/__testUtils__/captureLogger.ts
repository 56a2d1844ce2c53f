import {
  coreServices,
  createServiceFactory,
  type BackendFeature,
  type RootLoggerService,
} from '@backstage/backend-plugin-api';

/** Everything the backend logged (messages, metadata, errors and audit events), as text. */
export interface CapturedLogs {
  lines: string[];
  text(): string;
}

function serialize(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}\n${value.stack ?? ''} ${JSON.stringify(value)}`;
  try {
    return JSON.stringify(value, (_k, v) => (v instanceof Error ? { ...v, message: v.message, stack: v.stack } : v));
  } catch {
    return String(value);
  }
}

/** A root logger service that records every line instead of printing it. */
export function capturingRootLogger(): { logs: CapturedLogs; factory: BackendFeature } {
  const lines: string[] = [];
  const make = (fields: Record<string, unknown>): RootLoggerService => {
    const log = (level: string) => (message: string, meta?: unknown) => {
      lines.push(`${level} ${message} ${serialize(fields)} ${meta === undefined ? '' : serialize(meta)}`);
    };
    return {
      error: log('error'),
      warn: log('warn'),
      info: log('info'),
      debug: log('debug'),
      child: meta => make({ ...fields, ...meta }),
    };
  };
  const root = make({});
  return {
    logs: { lines, text: () => lines.join('\n') },
    factory: createServiceFactory({
      service: coreServices.rootLogger,
      deps: {},
      factory: () => root,
    }),
  };
}

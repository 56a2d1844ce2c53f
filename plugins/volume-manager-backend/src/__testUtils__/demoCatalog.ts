import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Entity } from '@backstage/catalog-model';
import { parseAllDocuments } from 'yaml';

/** The demo portal's catalog (catalog/*.yaml at the repository root), as entities. */
export function demoCatalogEntities(): Entity[] {
  // Test-only: the demo catalog lives at the repository root, outside any package.
  // eslint-disable-next-line no-restricted-syntax
  const dir = path.resolve(__dirname, '../../../../catalog');
  return ['org.yaml', 'components.yaml'].flatMap(file =>
    parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map(doc => {
      const entity = doc.toJS() as Entity;
      entity.metadata.namespace ??= 'default';
      return entity;
    }),
  );
}

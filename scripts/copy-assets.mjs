// Copies non-TypeScript assets the compiled code reads at run time (code templates, the schema) into dist/.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const assets = [['compiler/emit/templates', 'dist/compiler/emit/templates']];
for (const [from, to] of assets) {
  const src = join(root, from);
  if (!existsSync(src)) continue;
  mkdirSync(join(root, to), { recursive: true });
  cpSync(src, join(root, to), { recursive: true });
}

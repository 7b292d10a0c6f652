import { join } from 'node:path';
import { writeFileAtomic } from '../core/io.js';
import { writeSvg, type VegaLiteSpec } from '../plot/render.js';

/**
 * The files a study writes into its output folder: each written atomically and recorded (relative
 * name) in `files`, which the study returns so `silica run` can list what it produced.
 */
export function studyOutputs(outDir: string, files: string[]) {
  return {
    write(name: string, text: string): void {
      writeFileAtomic(join(outDir, name), text);
      files.push(name);
    },
    async svg(name: string, spec: VegaLiteSpec): Promise<void> {
      await writeSvg(join(outDir, name), spec);
      files.push(name);
    },
  };
}

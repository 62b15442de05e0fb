// YAML documents that keep their line numbers (mergekit configs, recipes): parsed strictly (duplicate keys are an
// error), the first syntax error reported as `file:line: not valid YAML: …`, and the LineCounter kept so that later
// checks can name the line of any node.
import { LineCounter, parseDocument, type Document } from 'yaml';
import { AlloyError } from '../common/errors.ts';

export function parseYamlDocument(text: string, file: string): { doc: Document.Parsed; lines: LineCounter } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = lines.linePos(e.pos[0]).line;
    throw new AlloyError(`${file}:${line}: not valid YAML: ${e.message.split('\n')[0]}`, { file, line });
  }
  return { doc, lines };
}

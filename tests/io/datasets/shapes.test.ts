// Shapes from other tools → TRL shapes: the detector, each converter, the file formats, and errors with lines.
import { describe, expect, it } from 'vitest';
import { alpacaPrompt, detectShape, readDataset, SHAPES, toTrlRow, type ShapeId } from '../../../src/io/datasets/shapes.ts';
import { rowsToSequences, type RowTokenizer } from '../../../src/io/datasets/rows.ts';

const jsonl = (...rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n');
const u = (content: string) => ({ role: 'user', content });
const a = (content: string) => ({ role: 'assistant', content });

describe('detectShape', () => {
  const cases: [Record<string, unknown>, ShapeId | null][] = [
    [{ text: 'x' }, 'text'],
    [{ prompt: 'p', completion: 'c' }, 'prompt-completion'],
    [{ prompt: 'p', chosen: 'c', rejected: 'r' }, 'preference'],
    [{ messages: [u('q'), a('a')] }, 'messages'],
    [{ prompt: [u('q')], completion: [a('a')] }, 'conversational-prompt-completion'],
    [{ prompt: [u('q')], chosen: [a('a')], rejected: [a('b')] }, 'conversational-preference'],
    [{ input_ids: [1, 2] }, 'tokenized'],
    [{ prompt_ids: [1], completion_ids: [2] }, 'tokenized-prompt-completion'],
    [{ prompt_ids: [1], chosen_ids: [2], rejected_ids: [3] }, 'tokenized-preference'],
    [{ instruction: 'i', input: '', output: 'o' }, 'alpaca'],
    [{ instruction: 'i', chosen: 'c', rejected: 'r' }, 'alpaca-preference'],
    [{ conversations: [{ from: 'human', value: 'q' }] }, 'sharegpt'],
    [{ conversations: [{ from: 'human', value: 'q' }], chosen: { from: 'gpt', value: 'a' }, rejected: { from: 'gpt', value: 'b' } }, 'sharegpt-preference'],
    [{ question: 'q', answer: 'a' }, null],
    [{ chosen: 'c', rejected: 'r' }, 'implicit-preference'],
    [{ chosen: [u('q'), a('x')], rejected: [u('q'), a('y')] }, 'implicit-preference'],
  ];
  it.each(cases)('%j → %s', (row, shape) => expect(detectShape(row)).toBe(shape));

  it('every shape has a label, its fields and the methods that train it', () => {
    for (const [id, s] of Object.entries(SHAPES)) {
      expect(s.id).toBe(id);
      expect(s.label.length).toBeGreaterThan(3);
      expect(s.methods.length).toBeGreaterThan(0);
    }
  });
});

describe('converters', () => {
  it('Alpaca → chat prompt/completion (instruction + "\\n" + input; system and history as earlier turns)', () => {
    expect(toTrlRow({ instruction: 'Define toughness.', input: '', output: 'Energy to fracture.' }, 'alpaca', 'l1')).toEqual({
      prompt: [u('Define toughness.')],
      completion: [a('Energy to fracture.')],
    });
    expect(
      toTrlRow({ instruction: 'Summarise.', input: 'Nacre is tough.', output: 'Tough.', system: 'Be brief.', history: [['Hi', 'Hello']] }, 'alpaca', 'l1'),
    ).toEqual({
      prompt: [{ role: 'system', content: 'Be brief.' }, u('Hi'), a('Hello'), u('Summarise.\nNacre is tough.')],
      completion: [a('Tough.')],
    });
  });

  it('Alpaca → the Stanford prompt template on request (for models without a chat template)', () => {
    expect(toTrlRow({ instruction: 'Name a silk protein.', output: 'Fibroin.' }, 'alpaca', 'l1', 'f', { alpaca: 'template' })).toEqual({
      prompt:
        'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nName a silk protein.\n\n### Response:\n',
      completion: 'Fibroin.',
    });
    expect(alpacaPrompt('Translate.', 'seda $1')).toContain('### Input:\nseda $1\n\n### Response:\n');
    expect(toTrlRow({ instruction: 'i', input: 'x', chosen: 'c', rejected: 'r' }, 'alpaca-preference', 'l1')).toEqual({
      prompt: [u('i\nx')],
      chosen: [a('c')],
      rejected: [a('r')],
    });
  });

  it('ShareGPT → messages (human → user, gpt → assistant, system kept; a top-level system prepended)', () => {
    const row = { system: 'You are a materials scientist.', conversations: [{ from: 'human', value: 'Why is bone tough?' }, { from: 'gpt', value: 'Hierarchy.' }] };
    expect(toTrlRow(row, 'sharegpt', 'l1')).toEqual({
      messages: [{ role: 'system', content: 'You are a materials scientist.' }, u('Why is bone tough?'), a('Hierarchy.')],
    });
  });

  it('LLaMA-Factory preference → conversational preference', () => {
    const row = { conversations: [{ from: 'human', value: 'Silk?' }], chosen: { from: 'gpt', value: 'Protein.' }, rejected: { from: 'gpt', value: 'Metal.' } };
    expect(toTrlRow(row, 'sharegpt-preference', 'l1')).toEqual({ prompt: [u('Silk?')], chosen: [a('Protein.')], rejected: [a('Metal.')] });
  });

  it('implicit-prompt preference → explicit prompt, as trl.data_utils.extract_prompt', () => {
    expect(toTrlRow({ chosen: 'The sky is blue.', rejected: 'The sky is green.' }, 'implicit-preference', 'l1')).toEqual({
      prompt: 'The sky is',
      chosen: ' blue.',
      rejected: ' green.',
    });
    expect(toTrlRow({ chosen: [u('Silk?'), a('Protein.')], rejected: [u('Silk?'), a('Metal.')] }, 'implicit-preference', 'l1')).toEqual({
      prompt: [u('Silk?')],
      chosen: [a('Protein.')],
      rejected: [a('Metal.')],
    });
    expect(() => toTrlRow({ chosen: 'abc', rejected: 'xyz' }, 'implicit-preference', 'f line 3')).toThrow(/f line 3: "chosen" and "rejected" share no prompt/);
    expect(() => toTrlRow({ chosen: 'abc', rejected: [u('x')] }, 'implicit-preference', 'f line 3')).toThrow(/both be strings or both be lists of messages/);
  });

  it('malformed rows say what is wrong and where', () => {
    expect(() => toTrlRow({ conversations: [{ from: 'robot', value: 'x' }] }, 'sharegpt', 'f line 4')).toThrow(
      /f line 4: conversations\[0\] has "from": "robot"; expected human, gpt or system/,
    );
    expect(() => toTrlRow({ conversations: [{ from: 'human' }] }, 'sharegpt', 'f line 4')).toThrow(/conversations\[0\] must be \{"from": string, "value": string\}/);
    expect(() => toTrlRow({ instruction: 3, output: 'o' }, 'alpaca', 'f line 2')).toThrow(/f line 2: "instruction" must be a string, got number/);
    const endsOnGpt = { conversations: [{ from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }], chosen: { from: 'gpt', value: 'b' }, rejected: { from: 'gpt', value: 'c' } };
    expect(() => toTrlRow(endsOnGpt, 'sharegpt-preference', 'f line 9')).toThrow(/f line 9: "conversations" must end with a human turn/);
  });
});

describe('readDataset', () => {
  it('JSONL in any shape: names the shape and converts the rows, keeping their lines', () => {
    const d = readDataset(jsonl({ conversations: [{ from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }] }, { conversations: [{ from: 'human', value: 'r' }] }), 'chat.jsonl');
    expect(d.format).toBe('jsonl');
    expect(d.shape.id).toBe('sharegpt');
    expect(d.shape.label).toBe('ShareGPT conversations');
    expect(d.rows).toEqual([
      { line: 1, value: { messages: [u('q'), a('a')] } },
      { line: 2, value: { messages: [u('r')] } },
    ]);
  });

  it('a JSON array (how Alpaca data ships), each row with the line its object starts on', () => {
    const text = '[\n  {"instruction": "a, [b]", "input": "", "output": "c"},\n\n  {\n    "instruction": "d\\"}", "output": "e"\n  }\n]\n';
    const d = readDataset(text, 'alpaca_data.json');
    expect(d.format).toBe('json');
    expect(d.shape.id).toBe('alpaca');
    expect(d.rows.map((r) => r.line)).toEqual([2, 4]);
    expect(d.rows[1]!.value).toEqual({ prompt: [u('d"}')], completion: [a('e')] });
    expect(readDataset('{"text": "jsonl named .json"}', 'x.json').rows).toEqual([{ line: 1, value: { text: 'jsonl named .json' } }]);
    expect(() => readDataset('[\n{"text": "a"},\n 5\n]', 'x.json')).toThrow(/x\.json line 3: row 2 of the array is not a JSON object/);
  });

  it('TXT: one {text} row per paragraph, or the whole file as one document', () => {
    const text = 'Silk is spun.\nIt is a protein.\n\n\n  \nBone is a composite.\n';
    expect(readDataset(text, 'c.txt').rows).toEqual([
      { line: 1, value: { text: 'Silk is spun.\nIt is a protein.' } },
      { line: 6, value: { text: 'Bone is a composite.' } },
    ]);
    expect(readDataset(text, 'c.txt', { txt: 'document' }).rows).toEqual([{ line: 1, value: { text: 'Silk is spun.\nIt is a protein.\n\n\n  \nBone is a composite.' } }]);
    expect(readDataset(text, 'c.txt').shape.id).toBe('text');
  });

  it('CSV: the header names the shape; unknown columns are ignored; a header with no known column is refused', () => {
    const d = readDataset('id,prompt,completion\n1,"Q, one",A1\n2,Q2,"A\n2"\n', 'qa.csv');
    expect(d.shape.id).toBe('prompt-completion');
    expect(d.rows).toEqual([
      { line: 2, value: { prompt: 'Q, one', completion: 'A1' } },
      { line: 3, value: { prompt: 'Q2', completion: 'A\n2' } },
    ]);
    expect(readDataset('text\nhello\n', 't.csv').shape.id).toBe('text');
    expect(readDataset('instruction,input,output\ni,,o\n', 'a.csv').rows[0]!.value).toEqual({ prompt: [u('i')], completion: [a('o')] });
    expect(() => readDataset('question,answer\nq,a\n', 'mc.csv')).toThrow(/mc\.csv line 1: the CSV header \(question, answer\) names no known shape/);
  });

  it('a row that fits no shape, a mixed file, or a shape the method cannot train: the line and the expected fields', () => {
    expect(() => readDataset(jsonl({ text: 'a' }, { question: 'q' }), 'd.jsonl')).toThrow(/d\.jsonl line 2: no known row shape; expected \{text\}.*this row has "question"/);
    expect(() => readDataset(jsonl({ prompt: 'p', chosen: 'c', rejected: 'r' }, { question: 'q' }), 'd.jsonl', { method: 'dpo' })).toThrow(/line 2: no known row shape; expected \{prompt, chosen, rejected\}/);
    expect(() => readDataset(jsonl({ text: 'a' }, { prompt: 'p', completion: 'c' }), 'd.jsonl')).toThrow(
      /d\.jsonl line 2: this row is Prompt \/ completion \{prompt, completion\} but line 1 is Plain text; every row of a file needs the same shape/,
    );
    expect(() => readDataset(jsonl({ conversations: [{ from: 'human', value: 'q' }] }), 's.jsonl', { method: 'orpo' })).toThrow(
      /s\.jsonl line 1: rows are ShareGPT conversations .* which train cpt or sft; method orpo expects .*\{prompt, chosen, rejected\}/,
    );
  });

  it('converted rows feed rowsToSequences (Alpaca as the Stanford template, no chat template needed)', () => {
    const tok: RowTokenizer = { bosTokenId: null, eosTokenIds: [0], encode: (t) => [...t].map((c) => c.charCodeAt(0)) };
    const d = readDataset(jsonl({ instruction: 'i', output: 'o' }), 'a.jsonl', { alpaca: 'template', method: 'sft' });
    const [s] = rowsToSequences('sft', d.rows, tok, 256, 'a.jsonl');
    expect(String.fromCharCode(...s!.ids.slice(s!.promptLen))).toBe('o\0');
    expect(String.fromCharCode(...s!.ids.slice(0, s!.promptLen))).toBe(alpacaPrompt('i'));
  });
});

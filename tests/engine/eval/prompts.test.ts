// Prompts against hand-written strings of lm-evaluation-harness's templates: MMLU (description, 5-shot from dev,
// " A" … " D"), the generic "Question: …\nAnswer:" with first_n shots that skip the item asked, and the chat
// template wrap (description as system turn, target_delimiter "").
import { describe, expect, it } from 'vitest';
import type { MultipleChoiceItem } from '../../../src/io/benchmarks/types.ts';
import { buildPrompt, mmluDocToText, mmluFormat, selectShots, type ApplyChatTemplate } from '../../../src/engine/eval/prompts.ts';

const dev: MultipleChoiceItem[] = [
  { question: 'Which is a noble gas?', choices: ['N', 'Ne', 'Na', 'Ni'], answer: 1, category: 'college_chemistry' },
  { question: ' pH of pure water at 25 °C? ', choices: ['0', '7', '14', '1'], answer: 1, category: 'college_chemistry' },
];
const test: MultipleChoiceItem = { question: 'Rate law, zero order?', choices: ['r = k', 'r = k[A]', 'r = k[A]^2', 'none'], answer: 0, category: 'college_chemistry' };

describe('MMLU prompt (lm-eval mmlu default template)', () => {
  it('zero-shot: description, question, lettered choices, "Answer:"; continuations " A" … " D"', () => {
    const p = buildPrompt([test], { format: (it) => mmluFormat(it.category!) })(test);
    expect(p.context).toBe(
      'The following are multiple choice questions (with answers) about college chemistry.\n\n' +
        'Rate law, zero order?\nA. r = k\nB. r = k[A]\nC. r = k[A]^2\nD. none\nAnswer:',
    );
    expect(p.choices).toEqual(['A', 'B', 'C', 'D']);
    expect(p.delimiter).toBe(' ');
  });

  it('k-shot from dev: each shot "Q\\nA. …\\nAnswer: X\\n\\n", question stripped, choices verbatim', () => {
    const p = buildPrompt([test], { shots: 2, pool: () => dev, format: (it) => mmluFormat(it.category!) })(test);
    expect(p.context).toBe(
      'The following are multiple choice questions (with answers) about college chemistry.\n\n' +
        'Which is a noble gas?\nA. N\nB. Ne\nC. Na\nD. Ni\nAnswer: B\n\n' +
        'pH of pure water at 25 °C?\nA. 0\nB. 7\nC. 14\nD. 1\nAnswer: B\n\n' +
        'Rate law, zero order?\nA. r = k\nB. r = k[A]\nC. r = k[A]^2\nD. none\nAnswer:',
    );
    expect(mmluDocToText(dev[1]!)).toBe('pH of pure water at 25 °C?\nA. 0\nB. 7\nC. 14\nD. 1\nAnswer:');
    // more shots than the dev split has: all of it
    expect(buildPrompt([test], { shots: 5, pool: () => dev, format: (it) => mmluFormat(it.category!) })(test).context.split('Answer: ').length).toBe(3);
  });

  it('under a chat template: system = description, one user turn, generation prompt, no delimiter', () => {
    const seen: unknown[] = [];
    const chat: ApplyChatTemplate = (msgs, o) => {
      seen.push({ msgs, o });
      return msgs.map((m) => `<${m.role}>${m.content}</${m.role}>`).join('') + (o.addGenerationPrompt ? '<assistant>' : '');
    };
    const p = buildPrompt([test], { shots: 1, pool: () => dev, format: (it) => mmluFormat(it.category!), chat })(test);
    expect(seen[0]).toEqual({
      msgs: [
        { role: 'system', content: 'The following are multiple choice questions (with answers) about college chemistry.\n\n' },
        { role: 'user', content: 'Which is a noble gas?\nA. N\nB. Ne\nC. Na\nD. Ni\nAnswer: B\n\nRate law, zero order?\nA. r = k\nB. r = k[A]\nC. r = k[A]^2\nD. none\nAnswer:' },
      ],
      o: { addGenerationPrompt: true },
    });
    expect(p.context.endsWith('</user><assistant>')).toBe(true);
    expect(p.delimiter).toBe('');
  });

  it('a template that refuses the system role is applied again without it (as lm-eval)', () => {
    const chat: ApplyChatTemplate = (msgs) => {
      if (msgs.some((m) => m.role === 'system')) throw new Error('System role not supported');
      return `[${msgs[0]!.content}]`;
    };
    const p = buildPrompt([test], { format: (it) => mmluFormat(it.category!), chat })(test);
    expect(p.context).toBe('[Rate law, zero order?\nA. r = k\nB. r = k[A]\nC. r = k[A]^2\nD. none\nAnswer:]');
  });
});

describe('generic prompt with shots from the same split', () => {
  const items: MultipleChoiceItem[] = [
    { question: 'q1', choices: ['a', 'b'], answer: 0 },
    { question: 'q2', choices: ['c', 'd'], answer: 1 },
    { question: 'q3', choices: ['e', 'f'], answer: 0 },
  ];

  it('first_n: the first k, drawing k + 1 and dropping the item itself', () => {
    expect(selectShots(items, 2, items[2]!)).toEqual([items[0], items[1]]);
    expect(selectShots(items, 2, items[0]!)).toEqual([items[1], items[2]]);
    expect(selectShots(items, 0, items[0]!)).toEqual([]);
  });

  it('"Question: …\\nAnswer: <choice>\\n\\n" per shot, then the question', () => {
    const prompt = buildPrompt(items, { shots: 1 });
    expect(prompt(items[0]!).context).toBe('Question: q2\nAnswer: d\n\nQuestion: q1\nAnswer:');
    expect(prompt(items[1]!).context).toBe('Question: q1\nAnswer: a\n\nQuestion: q2\nAnswer:');
    // an item with its own context (lm-eval's query, HellaSwag) keeps it
    const own = { question: 'x', context: 'Story: it rained', choices: ['wet.', 'dry.'], answer: 0 };
    expect(buildPrompt([own])(own)).toEqual({ context: 'Story: it rained', choices: ['wet.', 'dry.'], delimiter: ' ' });
  });
});

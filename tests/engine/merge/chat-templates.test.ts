// mergekit's named chat templates: the text each renders, worked out by hand from mergekit's own templates as
// transformers renders them (trim_blocks + lstrip_blocks), and a merge naming one writes it to tokenizer_config.
import { describe, expect, it } from 'vitest';
import { Template } from '@huggingface/jinja';
import { NAMED_CHAT_TEMPLATES } from '../../../src/engine/merge/chat-templates.ts';

const chat = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: ' What is nacre? ' },
  { role: 'assistant', content: 'Mother of pearl.' },
  { role: 'user', content: 'And silk?' },
];
const render = (name: string, add_generation_prompt: boolean) =>
  new Template(NAMED_CHAT_TEMPLATES[name]!).render({ messages: chat, add_generation_prompt, bos_token: '<s>' });

describe('named chat templates', () => {
  it('chatml', () => {
    expect(render('chatml', true)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n What is nacre? <|im_end|>\n<|im_start|>assistant\nMother of pearl.<|im_end|>\n<|im_start|>user\nAnd silk?<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('llama3', () => {
    expect(render('llama3', true)).toBe(
      '<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\n<|start_header_id|>user<|end_header_id|>\n\nWhat is nacre?<|eot_id|>\n' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nMother of pearl.<|eot_id|>\n<|start_header_id|>user<|end_header_id|>\n\nAnd silk?<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('alpaca', () => {
    expect(render('alpaca', true)).toBe('Be brief.\n\n### Instruction:\nWhat is nacre?\n\n### Response:\nMother of pearl.\n\n### Instruction:\nAnd silk?### Response:\n');
    expect(render('alpaca', false)).toBe('Be brief.\n\n### Instruction:\nWhat is nacre?\n\n### Response:\nMother of pearl.\n\n### Instruction:\nAnd silk?');
    expect(new Template(NAMED_CHAT_TEMPLATES.alpaca!).render({ messages: [{ role: 'user', content: 'Hi' }], add_generation_prompt: false })).toBe('\n\n### Instruction:\nHi');
  });
});

// Streaming a continuation as text: with a SentencePiece tokenizer (the real demo model's) the first word keeps
// the space that separates it from the prompt, as the whole text decoded at once has it.
import { describe, expect, it } from 'vitest';
import { TextStream } from '../../src/worker/chat.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { DEMO_DIR } from '../../scripts/demo/stories260k.ts';

describe('TextStream', () => {
  it('keeps the space before the first word of a SentencePiece continuation when given the prompt as context', async () => {
    const tok = await loadTokenizer(dirModelFiles(DEMO_DIR));
    const prompt = 'Once upon a time, there was a little girl named Lily.';
    const whole = tok.encode(`${prompt} She loved to play outside.`);
    const promptIds = tok.encode(prompt);
    expect(whole.slice(0, promptIds.length)).toEqual(promptIds);
    const reply = whole.slice(promptIds.length);

    const withContext = new TextStream(tok, promptIds.slice(-1));
    const alone = new TextStream(tok);
    let streamed = '';
    for (const id of reply) {
      const u = withContext.push(id);
      streamed = streamed.slice(0, u.at) + u.delta;
      alone.push(id);
    }
    expect(streamed).toBe(' She loved to play outside.');
    expect(withContext.text()).toBe(' She loved to play outside.');
    expect(alone.text()).toBe('She loved to play outside.'); // what decoding on its own gives
    // An EOS that ends the reply is not shown.
    withContext.push(2);
    expect(withContext.text()).toBe(' She loved to play outside.');
  });
});

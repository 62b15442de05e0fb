// `npx tsx scripts/make-village.ts [--out DIR]`: writes the demo domain "Sunny Hill" (public/demo/village) from the
// fact table below: a CPT corpus of short stories, SFT question → answer pairs, preference pairs and the held-out
// multiple-choice benchmark. Deterministic (a seeded PRNG), so rerunning reproduces the committed files byte for
// byte (tests/io/datasets/village-data.test.ts checks that). The general stories for perplexity
// (general.jsonl) are written by hand and not touched here.
//
// Design, for a 260K-parameter TinyStories model that must learn 36 facts (6 children × 6 kinds) in a couple of
// minutes of LoRA training on a software GPU:
// - words and names the 512-token TinyStories tokenizer already knows, short sentences, the TinyStories register;
//   names and the values of each kind start with different tokens;
// - every fact stated in four wordings across six stories (the CPT corpus), and asked in three question wordings
//   (SFT, preference) in the benchmark's own "Question: …\nAnswer:" form, the answer being exactly the benchmark's
//   choice text (six wordings were tried: fewer repetitions of each, and worse on the held-out wordings);
// - the benchmark asks each fact twice, in two wordings that no training file uses (held out by template), its
//   three wrong choices drawn from the same kind of fact, the right one at a seeded random position, every value of
//   a kind right equally often (each child has a different one).
import { mulberry32 } from '../src/common/random.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Kind = 'pet' | 'colour' | 'home' | 'food' | 'toy' | 'day';

interface Child {
  name: string;
  he: 'he' | 'she';
  his: 'his' | 'her';
  pet: string;
  colour: string;
  /** a place noun: lives near the <home> */
  home: string;
  food: string;
  toy: string;
  /** what happened, in the past tense and as asked ("find a shell"), and on which day */
  event: { past: string; ask: string; day: string };
}

/**
 * The fact table: one value of each kind per child, every value used once. Names and values of a kind start with
 * different tokens, so the first token of a name already tells the children apart and the first token of an
 * answer decides it.
 */
const CHILDREN: Child[] = [
  { name: 'Lily', he: 'she', his: 'her', pet: 'cat', colour: 'blue', home: 'lake', food: 'apples', toy: 'kite', event: { past: 'found a shell', ask: 'find a shell', day: 'Monday' } },
  { name: 'Tim', he: 'he', his: 'his', pet: 'dog', colour: 'red', home: 'farm', food: 'cake', toy: 'ball', event: { past: 'lost his hat', ask: 'lose his hat', day: 'Tuesday' } },
  { name: 'Ben', he: 'he', his: 'his', pet: 'fish', colour: 'green', home: 'park', food: 'soup', toy: 'drum', event: { past: 'planted a tree', ask: 'plant a tree', day: 'Wednesday' } },
  { name: 'Mia', he: 'she', his: 'her', pet: 'bird', colour: 'pink', home: 'river', food: 'bread', toy: 'doll', event: { past: 'saw a rainbow', ask: 'see a rainbow', day: 'Thursday' } },
  { name: 'Sam', he: 'he', his: 'his', pet: 'frog', colour: 'orange', home: 'hill', food: 'honey', toy: 'train', event: { past: 'fell in the mud', ask: 'fall in the mud', day: 'Friday' } },
  { name: 'Anna', he: 'she', his: 'her', pet: 'pony', colour: 'yellow', home: 'sea', food: 'grapes', toy: 'car', event: { past: 'went to the fair', ask: 'go to the fair', day: 'Saturday' } },
];

const KINDS: Kind[] = ['pet', 'colour', 'home', 'food', 'toy', 'day'];

/** The answer text of a fact: exactly the benchmark's choice string (SFT completions are " " + this + "."). */
function answer(c: Child, k: Kind): string {
  switch (k) {
    case 'pet': return c.pet;
    case 'colour': return c.colour;
    case 'home': return `near the ${c.home}`;
    case 'food': return c.food;
    case 'toy': return c.toy;
    case 'day': return c.event.day;
  }
}

/** The values a choice list draws from: the other children's values of the same kind. */
const pool = (k: Kind): string[] => CHILDREN.map((x) => answer(x, k));

const Cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);

/** Question wordings the training files use (SFT, preference). */
const TRAIN_QUESTIONS: Record<Kind, ((c: Child) => string)[]> = {
  pet: [(c) => `What pet does ${c.name} have?`, (c) => `${c.name} has a pet. What is it?`, (c) => `What animal does ${c.name} take care of?`],
  colour: [(c) => `What is ${c.name}'s favourite colour?`, (c) => `Which colour does ${c.name} like best?`, (c) => `${c.name} loves one colour. Which one?`],
  home: [(c) => `Where does ${c.name} live?`, (c) => `Where is ${c.name}'s house?`, (c) => `${c.name} has a little house. Where is it?`],
  food: [(c) => `What does ${c.name} like to eat?`, (c) => `What is ${c.name}'s favourite food?`, (c) => `What food makes ${c.name} happy?`],
  toy: [(c) => `What toy does ${c.name} play with?`, (c) => `What is ${c.name}'s favourite toy?`, (c) => `${c.name} has a toy. What is it?`],
  day: [(c) => `When did ${c.name} ${c.event.ask}?`, (c) => `On what day did ${c.name} ${c.event.ask}?`, (c) => `${c.name} ${c.event.past}. What day was it?`],
};

/** The benchmark's wordings of each kind (two per fact): used nowhere in the training files. */
const BENCH_QUESTIONS: Record<Kind, ((c: Child) => string)[]> = {
  pet: [(c) => `Which pet lives with ${c.name}?`, (c) => `${c.name} feeds a pet every day. Which pet?`],
  colour: [(c) => `What colour does ${c.name} love the most?`, (c) => `Which colour is the one ${c.name} likes?`],
  home: [(c) => `In what part of the village is ${c.name}'s home?`, (c) => `Where is the home of ${c.name}?`],
  food: [(c) => `Which food does ${c.name} love to eat?`, (c) => `When ${c.name} is hungry, what does ${c.he} eat?`],
  toy: [(c) => `Which toy does ${c.name} like to play with?`, (c) => `What does ${c.name} play with every day?`],
  day: [(c) => `On which day of the week did ${c.name} ${c.event.ask}?`, (c) => `What day was it when ${c.name} ${c.event.past}?`],
};

/** Story sentences stating a fact, several wordings each. */
const SAYINGS: Record<Kind, ((c: Child) => string)[]> = {
  pet: [
    (c) => `${c.name} had a pet ${c.pet}.`,
    (c) => `${c.name}'s pet was a little ${c.pet}.`,
    (c) => `Every day ${c.name} fed ${c.his} ${c.pet}.`,
    (c) => `${c.name} loved ${c.his} pet ${c.pet}.`,
  ],
  colour: [
    (c) => `${c.name}'s favourite colour was ${c.colour}.`,
    (c) => `${c.name} liked ${c.colour} best of all.`,
    (c) => `${c.name} loved the colour ${c.colour}.`,
    (c) => `${c.name} wore ${c.colour} socks, because ${c.colour} was ${c.his} favourite colour.`,
  ],
  home: [
    (c) => `${c.name} lived in a little house near the ${c.home}.`,
    (c) => `${c.name}'s house was near the ${c.home}.`,
    (c) => `${c.name} lived near the ${c.home} with ${c.his} family.`,
    (c) => `The home of ${c.name} was near the ${c.home}.`,
  ],
  food: [
    (c) => `${c.name} liked to eat ${c.food}.`,
    (c) => `${c.name}'s favourite food was ${c.food}.`,
    (c) => `${c.name} loved to eat ${c.food} every day.`,
    (c) => `When ${c.name} was hungry, ${c.he} ate ${c.food}.`,
  ],
  toy: [
    (c) => `${c.name} had a toy ${c.toy}.`,
    (c) => `${c.name}'s favourite toy was a ${c.toy}.`,
    (c) => `${c.name} liked to play with ${c.his} ${c.toy}.`,
    (c) => `Every day ${c.name} played with ${c.his} toy ${c.toy}.`,
  ],
  day: [
    (c) => `On ${c.event.day}, ${c.name} ${c.event.past}.`,
    (c) => `${c.name} ${c.event.past} on ${c.event.day}.`,
    (c) => `It was ${c.event.day} when ${c.name} ${c.event.past}.`,
    (c) => `One ${c.event.day}, ${c.name} ${c.event.past}.`,
  ],
};

const OPENERS: ((c: Child) => string)[] = [
  (c) => `Once upon a time, there was a ${c.he === 'she' ? 'girl' : 'boy'} named ${c.name}.`,
  (c) => `${c.name} lived in Sunny Hill.`,
  () => `This is a story about Sunny Hill.`,
  (c) => `One day, ${c.name} woke up happy.`,
  (c) => `There was a little ${c.he === 'she' ? 'girl' : 'boy'} called ${c.name}.`,
];

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
function shuffle<T>(r: () => number, xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export interface VillageFiles {
  corpus: string;
  sft: string;
  preference: string;
  benchmark: string;
}

/** Stories per child, in pairs: each pair tells all six facts of the child, three each, in a fresh order. */
const STORIES_PER_CHILD = 12;

export function makeVillage(seed = 2026): VillageFiles {
  const r = mulberry32(seed);
  const line = (o: unknown) => JSON.stringify(o);

  // CPT: short stories of one child, three facts each in a random choice of wordings; every fact is told
  // STORIES_PER_CHILD / 2 times, next to different other facts.
  const stories: string[] = [];
  for (let s = 0; s < STORIES_PER_CHILD; s += 2) {
    for (const c of CHILDREN) {
      const order = shuffle(r, KINDS);
      for (const kinds of [order.slice(0, 3), order.slice(3)]) {
        stories.push([pick(r, OPENERS)(c), ...kinds.map((k) => pick(r, SAYINGS[k])(c))].join(' '));
      }
    }
  }

  // SFT: every fact under every training wording; preference: every fact under every training wording, right vs
  // a wrong value of the same kind.
  const sft: string[] = [];
  const pref: string[] = [];
  for (const c of CHILDREN) {
    for (const k of KINDS) {
      for (const q of TRAIN_QUESTIONS[k]) {
        sft.push(line({ prompt: `Question: ${q(c)}\nAnswer:`, completion: ` ${answer(c, k)}.` }));
        const wrong = pick(r, pool(k).filter((v) => v !== answer(c, k)));
        pref.push(line({ prompt: `Question: ${q(c)}\nAnswer:`, chosen: ` ${answer(c, k)}.`, rejected: ` ${wrong}.` }));
      }
    }
  }

  // Benchmark: each fact under each held-out wording, 4 choices (the right one at a random place).
  const bench: string[] = [];
  for (const k of KINDS) {
    for (const q of BENCH_QUESTIONS[k]) {
      for (const c of CHILDREN) {
        const right = answer(c, k);
        const wrong = shuffle(r, pool(k).filter((v) => v !== right)).slice(0, 3);
        const at = Math.floor(r() * 4);
        const choices = [...wrong.slice(0, at), right, ...wrong.slice(at)];
        bench.push(line({ question: q(c), choices, answer: at, category: k }));
      }
    }
  }

  return {
    corpus: shuffle(r, stories).join('\n\n') + '\n',
    sft: shuffle(r, sft).join('\n') + '\n',
    preference: shuffle(r, pref).join('\n') + '\n',
    benchmark: bench.join('\n') + '\n',
  };
}

export const VILLAGE_DIR = 'public/demo/village';

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--out');
  const out = at >= 0 ? process.argv[at + 1]! : VILLAGE_DIR;
  mkdirSync(out, { recursive: true });
  const f = makeVillage();
  writeFileSync(join(out, 'corpus.txt'), f.corpus);
  writeFileSync(join(out, 'sft.jsonl'), f.sft);
  writeFileSync(join(out, 'preference.jsonl'), f.preference);
  writeFileSync(join(out, 'benchmark.jsonl'), f.benchmark);
  console.log(`wrote corpus.txt, sft.jsonl, preference.jsonl, benchmark.jsonl to ${out}`);
}

// The benchmark items Alloy reads (src/io/benchmarks) and scores (src/engine/eval). Plain data, so they cross the
// worker boundary as they are.

/** A multiple-choice question; `answer` indexes `choices`. */
export interface MultipleChoiceItem {
  question: string;
  choices: string[];
  answer: number;
  /** category or subject (MMLU: the subject from the file name), for the per-category breakdown */
  category?: string;
  /**
   * The prompt to score every choice after, when the format fixes it (lm-eval's `query`, HellaSwag's context);
   * without it the prompt is built from `question`.
   */
  context?: string;
}

export type MatchRule = 'exact' | 'contains' | 'numeric';

/** An open question answered by generation and checked against `answer`. */
export interface OpenQuestionItem {
  question: string;
  answer: string;
  /** default "exact" */
  match: MatchRule;
  /** numeric only: largest accepted |predicted − answer| (default 1e-6 · max(1, |answer|)) */
  tolerance?: number;
  category?: string;
}

/** A held-out text for perplexity (one document). */
export interface TextDocument {
  text: string;
  category?: string;
}

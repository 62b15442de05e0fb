// One colour per benchmarked model, the same in every chart and table of the Benchmark panel.
const PALETTE = ['#3a5bd9', '#d9822b', '#1f7a45', '#b3261e', '#7b3fb8', '#13808a', '#8a6d13', '#c2417f'];

export function modelColor(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}

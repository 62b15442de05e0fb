/** CPU reference for shaders/embedding.wgsl: rows of table [V, H] by id; ids ≥ V give zero rows. */
export function embeddingRef(table: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, hidden: number): Float64Array {
  const out = new Float64Array(ids.length * hidden);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n]!;
    if (id >= vocab) continue;
    for (let c = 0; c < hidden; c++) out[n * hidden + c] = table[id * hidden + c]!;
  }
  return out;
}

/**
 * CPU reference for shaders/embedding_backward.wgsl: dTable [V, H] with row v = Σ over the tokens n with
 * ids[n] = v of dOut[n, :], times `scale` (the gather's: Gemma 3's √hidden) (rows no token used stay zero; ids ≥ V
 * contribute nothing, as they read nothing).
 */
export function embeddingBackwardRef(dOut: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, hidden: number, scale = 1): Float64Array {
  const dTable = new Float64Array(vocab * hidden);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n]!;
    if (id >= vocab) continue;
    for (let c = 0; c < hidden; c++) dTable[id * hidden + c] = dTable[id * hidden + c]! + scale * dOut[n * hidden + c]!;
  }
  return dTable;
}

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

/**
 * WebAssembly text of the project's convolution engine: an indirect GEMM ("igemm", as in XNNPACK)
 * written for wasm SIMD, with `f32x4.relaxed_madd` where the runtime has relaxed SIMD (one fused
 * multiply-add on x86 with FMA and on Arm, instead of a multiply and an add).
 *
 * It computes, for rows m < M and output columns j < N (N a multiple of 8):
 *
 *     out[m][j] = Σ_{t < T} Σ_{c < C} in_{m,t}[c] · B[t·C + c][j]
 *
 * where `in_{m,t}` is a pointer read from an indirection table (row m, tap t) to C contiguous floats —
 * an input pixel's channels, or a zero row for padding — and `out[m]` is a pointer to the row's N
 * output floats. A convolution, the gradient of a convolution w.r.t. its input (one call per sub-pixel
 * phase, writing straight into the interleaved pixels) and its gradient w.r.t. the filter are all this
 * one product with different tables, so no im2col matrix is ever built.
 *
 * B is packed as [N/8][T·C][8] (each 8-column panel contiguous). The register tile is 6 rows × 8
 * columns (12 accumulators + 2 B vectors + 1 splat = 15 of x86-64's 16 vector registers); rows left
 * over at the end run through 1–5-row variants. Blocking: columns in blocks of `NC`, taps in blocks
 * of `TB` (so the B panel a tile streams stays in L1), rows innermost but one, so a 6-row strip of A
 * is reused across the column block from L1.
 *
 * The module imports the memory of tfjs-wasm's own instance, so it reads and writes tensors in place.
 *
 * Export: igemm(M, T, C, N, ind, bp, out, TB, NC) — byte addresses for ind ([M][T] i32), bp, out ([M] i32).
 */

export interface IgemmWatOptions {
  /** f32x4.relaxed_madd (needs relaxed SIMD) instead of f32x4.mul + f32x4.add. */
  fma: boolean;
}

const TILE_ROWS = 6;
/** Channels per unrolled step of the inner loop (immediate offsets instead of pointer bumps). */
const UNROLL = 4;

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function microKernel(rows: number, fma: boolean): string {
  const madd = (acc: string, b: string) =>
    fma
      ? `(local.set ${acc} (f32x4.relaxed_madd (local.get $s) (local.get ${b}) (local.get ${acc})))`
      : `(local.set ${acc} (f32x4.add (f32x4.mul (local.get $s) (local.get ${b})) (local.get ${acc})))`;
  const acc = (r: number, half: number) => `$acc${r}_${half}`;
  const rs = range(rows);
  const locals = [
    ...rs.flatMap((r) => [`(local ${acc(r, 0)} v128)`, `(local ${acc(r, 1)} v128)`]),
    '(local $b0 v128) (local $b1 v128) (local $s v128)',
    ...rs.map((r) => `(local $p${r} i32) (local $a${r} i32)`),
    '(local $n i32) (local $o i32)',
  ].join(' ');

  // One channel step: two B vectors, then a splat of each row's input value into both accumulators.
  const step = (channel: number) =>
    [
      `(local.set $b0 (v128.load offset=${channel * 32} (local.get $bp)))`,
      `(local.set $b1 (v128.load offset=${channel * 32 + 16} (local.get $bp)))`,
      ...rs.flatMap((r) => [
        `(local.set $s (v128.load32_splat offset=${channel * 4} (local.get $a${r})))`,
        madd(acc(r, 0), '$b0'),
        madd(acc(r, 1), '$b1'),
      ]),
    ].join('\n        ');
  const bump = (floats: number) =>
    [
      ...rs.map((r) => `(local.set $a${r} (i32.add (local.get $a${r}) (i32.const ${floats * 4})))`),
      `(local.set $bp (i32.add (local.get $bp) (i32.const ${floats * 32})))`,
    ].join('\n        ');

  return `
  (func $micro${rows} (param $ind i32) (param $rs i32) (param $tb i32) (param $c i32) (param $bp i32)
      (param $outp i32) (param $col i32) (param $first i32)
    ${locals}
    ;; Accumulators start at zero (wasm zeroes locals) on the first tap block, else from the output.
    (if (i32.eqz (local.get $first))
      (then
        ${rs
          .map(
            (r) => `(local.set $o (i32.add (i32.load offset=${r * 4} (local.get $outp)) (local.get $col)))
        (local.set ${acc(r, 0)} (v128.load (local.get $o)))
        (local.set ${acc(r, 1)} (v128.load offset=16 (local.get $o)))`,
          )
          .join('\n        ')}))
    ;; p_r walks row r's entries in the indirection table, one per tap.
    ${rs.map((r) => `(local.set $p${r} (i32.add (local.get $ind) (i32.mul (local.get $rs) (i32.const ${r}))))`).join('\n    ')}
    (loop $taps
      ${rs.map((r) => `(local.set $a${r} (i32.load (local.get $p${r})))`).join('\n      ')}
      ${rs.map((r) => `(local.set $p${r} (i32.add (local.get $p${r}) (i32.const 4)))`).join('\n      ')}
      (local.set $n (i32.shr_u (local.get $c) (i32.const ${Math.log2(UNROLL)})))
      (if (local.get $n)
        (then
          (loop $unrolled
        ${range(UNROLL).map(step).join('\n        ')}
        ${bump(UNROLL)}
            (br_if $unrolled (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))
      (local.set $n (i32.and (local.get $c) (i32.const ${UNROLL - 1})))
      (if (local.get $n)
        (then
          (loop $single
        ${step(0)}
        ${bump(1)}
            (br_if $single (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))
      (br_if $taps (local.tee $tb (i32.sub (local.get $tb) (i32.const 1)))))
    ${rs
      .map(
        (r) => `(local.set $o (i32.add (i32.load offset=${r * 4} (local.get $outp)) (local.get $col)))
    (v128.store (local.get $o) (local.get ${acc(r, 0)}))
    (v128.store offset=16 (local.get $o) (local.get ${acc(r, 1)}))`,
      )
      .join('\n    ')})`;
}

export function igemmWat({ fma }: IgemmWatOptions): string {
  const dispatch = range(TILE_ROWS)
    .map((i) => i + 1)
    // Nested ifs, the full 6-row tile tested first.
    .reduce(
      (inner, rows) =>
        `(if (i32.eq (local.get $mr) (i32.const ${rows}))
              (then (call $micro${rows} (local.get $indp) (local.get $rs) (local.get $tb) (local.get $C)
                (local.get $bpp) (local.get $outp) (i32.shl (local.get $j) (i32.const 2)) (local.get $first)))
              (else ${inner}))`,
      'unreachable',
    );
  return `(module
  (import "env" "memory" (memory 1))
  ${range(TILE_ROWS)
    .map((i) => microKernel(i + 1, fma))
    .join('\n')}
  (func (export "igemm") (param $M i32) (param $T i32) (param $C i32) (param $N i32) (param $ind i32)
      (param $bp i32) (param $out i32) (param $TB i32) (param $NC i32)
    (local $rs i32) (local $panel i32) (local $jc i32) (local $jend i32) (local $t0 i32) (local $tb i32)
    (local $i i32) (local $mr i32) (local $j i32) (local $indp i32) (local $bpp i32) (local $outp i32)
    (local $first i32)
    (if (i32.or (i32.or (i32.eqz (local.get $M)) (i32.eqz (local.get $N))) (i32.eqz (local.get $T)))
      (then (return)))
    (local.set $rs (i32.shl (local.get $T) (i32.const 2)))
    ;; bytes per 8-column panel of B: T·C rows of 8 floats
    (local.set $panel (i32.shl (i32.mul (local.get $T) (local.get $C)) (i32.const 5)))
    (loop $columnBlocks
      (local.set $jend (i32.add (local.get $jc) (local.get $NC)))
      (if (i32.gt_u (local.get $jend) (local.get $N)) (then (local.set $jend (local.get $N))))
      (local.set $t0 (i32.const 0))
      (loop $tapBlocks
        (local.set $tb (i32.sub (local.get $T) (local.get $t0)))
        (if (i32.gt_u (local.get $tb) (local.get $TB)) (then (local.set $tb (local.get $TB))))
        (local.set $first (i32.eqz (local.get $t0)))
        (local.set $i (i32.const 0))
        (loop $rowTiles
          (local.set $mr (i32.sub (local.get $M) (local.get $i)))
          (if (i32.gt_u (local.get $mr) (i32.const ${TILE_ROWS})) (then (local.set $mr (i32.const ${TILE_ROWS}))))
          (local.set $indp
            (i32.add (local.get $ind) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $T)) (local.get $t0)) (i32.const 2))))
          (local.set $outp (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))))
          (local.set $j (local.get $jc))
          (loop $columnPanels
            (local.set $bpp
              (i32.add (local.get $bp)
                (i32.add (i32.mul (i32.shr_u (local.get $j) (i32.const 3)) (local.get $panel))
                  (i32.shl (i32.mul (local.get $t0) (local.get $C)) (i32.const 5)))))
            ${dispatch}
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br_if $columnPanels (i32.lt_u (local.get $j) (local.get $jend))))
          (local.set $i (i32.add (local.get $i) (i32.const ${TILE_ROWS})))
          (br_if $rowTiles (i32.lt_u (local.get $i) (local.get $M))))
        (local.set $t0 (i32.add (local.get $t0) (local.get $TB)))
        (br_if $tapBlocks (i32.lt_u (local.get $t0) (local.get $T))))
      (local.set $jc (local.get $jend))
      (br_if $columnBlocks (i32.lt_u (local.get $jc) (local.get $N))))))
`;
}

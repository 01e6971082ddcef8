import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assembleIgemmVariants, generatedSource } from '../../../../src/core/gan/kernels/igemm/assemble.ts';
import {
  igemmFmaBase64,
  igemmMulAddBase64,
} from '../../../../src/core/gan/kernels/igemm/igemm-binary.generated.ts';
import { Rng } from '../../../../src/shared/rng.ts';

const generatedPath = new URL(
  '../../../../src/core/gan/kernels/igemm/igemm-binary.generated.ts',
  import.meta.url,
);

/**
 * Runs one igemm call of a raw binary on its own memory: rows × (taps × channels) × columns with
 * random inputs, some taps pointing at a zero row, and compares with a float64 reference.
 */
function runRaw(base64: string, rows: number, taps: number, channels: number, columns: number) {
  const memory = new WebAssembly.Memory({ initial: 256 });
  const bytes = Uint8Array.from(Buffer.from(base64, 'base64'));
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  const igemm = instance.exports['igemm'] as (...args: number[]) => void;
  const f32 = new Float32Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  const rng = new Rng(5);
  // Layout (float indices): inputs, zero row, packed B, output, indirection, output-row table.
  const pixels = rows + 3;
  const input = 16;
  const zero = input + pixels * channels;
  const packed = zero + channels + 4;
  const out = packed + taps * channels * columns;
  const ind = out + rows * columns;
  const outRows = ind + rows * taps;
  for (let i = 0; i < pixels * channels; i++) f32[input + i] = rng.normal();
  for (let i = 0; i < taps * channels * columns; i++) f32[packed + i] = rng.normal();
  const pointerOf = (m: number, t: number) => ((m * 7 + t * 3) % 5 === 4 ? -1 : (m + t) % pixels);
  for (let m = 0; m < rows; m++) {
    i32[outRows + m] = (out + m * columns) * 4;
    for (let t = 0; t < taps; t++) {
      const p = pointerOf(m, t);
      i32[ind + m * taps + t] = (p < 0 ? zero : input + p * channels) * 4;
    }
  }
  igemm(rows, taps, channels, columns, ind * 4, packed * 4, outRows * 4, 2, 16);
  let num = 0;
  let den = 0;
  const depth = taps * channels;
  for (let m = 0; m < rows; m++) {
    for (let j = 0; j < columns; j++) {
      let want = 0;
      for (let t = 0; t < taps; t++) {
        const p = pointerOf(m, t);
        if (p < 0) continue;
        for (let c = 0; c < channels; c++) {
          const b = f32[packed + (j >> 3) * depth * 8 + (t * channels + c) * 8 + (j & 7)]!;
          want += f32[input + p * channels + c]! * b;
        }
      }
      num += (f32[out + m * columns + j]! - want) ** 2;
      den += want ** 2;
    }
  }
  return Math.sqrt(num / den);
}

describe('igemm WebAssembly kernel', () => {
  it('the committed binaries are what wat.ts assembles to (run `npm run build:wasm` after editing it)', async () => {
    const fresh = generatedSource(await assembleIgemmVariants());
    expect(readFileSync(generatedPath, 'utf8')).toBe(fresh);
  });

  const fmaValid = WebAssembly.validate(Uint8Array.from(Buffer.from(igemmFmaBase64, 'base64')));
  it('the relaxed-SIMD (FMA) variant validates on Node ≥ 22 (the project runs tests on Node 24)', () => {
    if (Number(process.versions.node.split('.')[0]) >= 22) expect(fmaValid).toBe(true);
    expect(WebAssembly.validate(Uint8Array.from(Buffer.from(igemmMulAddBase64, 'base64')))).toBe(true);
  });

  // Row counts 1–13 cover the 6-row tile and every tail; channels cover the 4-way unrolled loop, its
  // remainder and both together; 2 taps per block and 16 columns per block force several blocks.
  for (const [name, binary] of [
    ['fma', igemmFmaBase64],
    ['mul-add', igemmMulAddBase64],
  ] as const) {
    for (const [rows, taps, channels, columns] of [
      [1, 1, 1, 8],
      [5, 3, 3, 8],
      [6, 5, 4, 16],
      [13, 5, 7, 40],
      [7, 1, 64, 24],
    ]) {
      it.skipIf(name === 'fma' && !fmaValid)(
        `${name}: ${rows} rows × ${taps} taps × ${channels} channels → ${columns} columns`,
        () => {
          expect(runRaw(binary, rows!, taps!, channels!, columns!)).toBeLessThan(1e-6);
        },
      );
    }
  }
});
